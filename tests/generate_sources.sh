#!/usr/bin/env bash
# retain generate's customer 360 exports (--members-csv, --events-csv, --feedback-csv):
# (a) bitwise identical at 1 and 3 ranks; (b) asking for them changes neither the store
# (content digest, every dataset), the truth datasets nor the transactions CSV; (c) layouts,
# cross-file consistency and the planted effects (docs/generator.md, "Customer 360 exports").
set -u
W=$1
rm -rf "$W"; mkdir -p "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
fail=0
die() { echo "FAIL: $*"; fail=1; }
ARGS=(--customers 2000 --days 730 --start 2023-01-01 --seed 5 --buckets 32 -q)
for np in 1 3; do
  timeout 120 "${MPI[@]}" -n $np "$RETAIN_BIN" generate "${ARGS[@]}" --out "$W/s$np.h5" \
    --truth "$W/t$np.h5" --csv "$W/c$np.csv" --members-csv "$W/m$np.csv" \
    --events-csv "$W/e$np.csv" --feedback-csv "$W/f$np.csv" --summary "$W/sum$np.json" \
    || die "generate with the exports at $np ranks"
done
# the same without the new options (2 ranks): the reference for "nothing else changes"
timeout 120 "${MPI[@]}" -n 2 "$RETAIN_BIN" generate "${ARGS[@]}" --out "$W/s0.h5" \
  --truth "$W/t0.h5" --csv "$W/c0.csv" || die "generate without the exports"
# (a) rank-count determinism of every export
for x in c m e f; do
  cmp "$W/${x}1.csv" "$W/${x}3.csv" || die "$x export differs between 1 and 3 ranks"
done
# (b) the transactions CSV and the store do not change
cmp "$W/c0.csv" "$W/c1.csv" || die "the transactions CSV changes with the customer 360 exports"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/generate_compare.py" "$W/s0.h5" "$W/s1.h5" "$W/s3.h5" \
  >/dev/null || die "the store changes with the customer 360 exports"
"$RETAIN_PYTHON" - "$W" <<'PYEOF' || die "store digest / truth file"
import sys, json, h5py, numpy as np
W = sys.argv[1]
d = [h5py.File(f"{W}/s{k}.h5", "r").attrs["content_digest"] for k in (0, 1, 3)]
assert d[0] == d[1] == d[2], d
t0, t1, t3 = (h5py.File(f"{W}/t{k}.h5", "r") for k in (0, 1, 3))
skip = {"created_at", "created_by", "customer360"}
for t in (t1, t3):
    names = []
    t0.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    for n in names:
        assert t0[n].dtype == t[n].dtype and t0[n][()].tobytes() == t[n][()].tobytes(), n
    a0 = {k: t0.attrs[k] for k in t0.attrs if k not in skip}
    a1 = {k: t.attrs[k] for k in t.attrs if k not in skip}
    assert a0.keys() == a1.keys(), (a0.keys(), a1.keys())
    for k in a0:
        assert np.asarray(a0[k]).tobytes() == np.asarray(a1[k]).tobytes(), k
assert "customer360" not in t0.attrs
assert t1.attrs["customer360"] == t3.attrs["customer360"]
print("store digest", d[0], "and truth datasets unchanged")
PYEOF
# (c) content
"$RETAIN_PYTHON" - "$W" <<'PYEOF' || die "customer 360 content"
import sys, json, re, h5py, numpy as np, pandas as pd
W = sys.argv[1]
rd = lambda f: pd.read_csv(f, dtype=str, keep_default_na=False)
tx, mem, ev, fb = rd(f"{W}/c1.csv"), rd(f"{W}/m1.csv"), rd(f"{W}/e1.csv"), rd(f"{W}/f1.csv")
assert list(mem.columns) == ["member_id", "registered_at", "updated_at", "acquisition_channel", "tier",
    "birth_date", "gender", "postcode", "opt_in_email", "opt_in_sms", "points"], list(mem.columns)
assert list(ev.columns) == ["member_id", "visitor_id", "event_time", "event_type", "item", "category",
    "channel", "session_id"], list(ev.columns)
assert list(fb.columns) == ["member_id", "submitted_at", "kind", "score", "topic", "channel",
    "comment"], list(fb.columns)
t = h5py.File(f"{W}/t1.h5", "r")
N, end = int(t.attrs["n_customers"]), int(t.attrs["time_end"])
c360 = json.loads(t.attrs["customer360"])
summ = json.load(open(f"{W}/sum1.json"))["generate"]
assert c360["rows"] == {"members": len(mem), "events": len(ev), "feedback": len(fb)}, c360["rows"]
assert summ["customer360"]["rows"] == c360["rows"] and summ["events_rows"] == len(ev)
truth = pd.DataFrame({"id": ["C%08d" % i for i in t["truth/index"][()]],
                      "alive": t["truth/alive_at_end"][()], "drop": t["truth/dropout_time"][()],
                      "acq": t["truth/acquisition_time"][()]}).set_index("id")
sec = lambda s: pd.to_datetime(s).astype("int64") // 10**9
# members: vocabularies, ids, registration, tier history
assert set(mem.acquisition_channel) <= {"store_desk", "app", "web", "referral", "partner", "campaign"}
assert set(mem.tier) <= {"basic", "silver", "gold", "platinum"}
assert set(mem.gender) <= {"female", "male", "other", ""}
assert mem.postcode.str.fullmatch(r"[A-Z]{2}\d{1,2} \d[A-Z]{2}").all()
assert set(mem.opt_in_email) <= {"0", "1"} and set(mem.opt_in_sms) <= {"0", "1"}
assert (mem.points.astype(int) >= 0).all()
bd = mem.birth_date[mem.birth_date != ""]
assert bd.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all() and 0.02 < (mem.birth_date == "").mean() < 0.09
age = (sec(mem.registered_at[bd.index]) - sec(bd)) / (365.2425 * 86400)
assert age.min() >= 17.99 and age.max() <= 86.01, (age.min(), age.max())
txids = set(tx.customer_id)
mid = mem.member_id.str[1:].astype(int)
nobuy = ~mem.member_id.isin(txids)
assert (mid[nobuy] >= N).all() and (mid[~nobuy] < N).all(), "member ids"
assert nobuy.sum() > 0, "no members without purchases"
first = mem.groupby("member_id", sort=False).first()
buyers = first[first.index.isin(txids)]
reg = sec(buyers.registered_at)
lead = truth.loc[buyers.index, "acq"] - reg
assert (lead >= 0).all() and (lead <= 30 * 86400).all(), (lead.min(), lead.max())
assert (first.tier == "basic").all() and (first.registered_at == first.updated_at).all()
order = {"basic": 0, "silver": 1, "gold": 2, "platinum": 3}
mem["u"], mem["o"] = sec(mem.updated_at), mem.tier.map(order)
g = mem.groupby("member_id", sort=False)
assert g.u.apply(lambda s: s.is_monotonic_increasing).all(), "tier rows out of updated_at order"
assert g.o.apply(lambda s: s.diff().dropna().gt(0).all()).all(), "tiers do not rise"
assert (g.registered_at.nunique() == 1).all()
share = len(buyers) / N
assert 0.80 < share < 0.90, share
# events
ET = {"visit", "page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
      "checkout_start", "purchase", "coupon_issued", "coupon_redeemed", "app_open", "push_open"}
assert set(ev.event_type) == ET, set(ev.event_type) ^ ET
assert set(ev.channel) <= {"in-store", "online", "app"}
assert ((ev.member_id != "") | (ev.visitor_id != "")).all()
assert ev.visitor_id[ev.visitor_id != ""].str.fullmatch(r"V[0-9a-f]{12}").all()
assert ev.session_id[ev.session_id != ""].str.fullmatch(r"S[0-9a-f]{16}").all()
assert set(ev.category) - {""} <= set(tx.category)
assert ev.item[ev.item != ""].str.fullmatch(r"[A-Z]{3}-\d{3}").all()
assert set(ev.member_id) - {""} <= set(mem.member_id), "event of an unknown member"
per_row = len(ev) / len(tx)
assert 10 <= per_row <= 20, per_row
ev["t"] = sec(ev.event_time)
assert (ev.t < end).all()
# visitors: some linked (seen with and without a member id), some never linked
lk = ev[ev.visitor_id != ""].groupby("visitor_id").member_id.agg(lambda s: (s == "").any() * 1 + (s != "").any() * 2)
assert (lk == 3).sum() > 0 and (lk == 1).sum() > 0, lk.value_counts()
assert ev[ev.visitor_id != ""].groupby("visitor_id").member_id.agg(lambda s: len(set(s) - {""})).max() <= 1
# every online/app basket of a member has its purchase event at the basket time, with a
# checkout_start before it in the same session (session id, or the same member within an hour)
sales = tx[tx.invoice.str.startswith("S") & (tx.channel != "in-store")].drop_duplicates("invoice")
sales = sales[sales.customer_id.isin(set(mem.member_id))]
pur = ev[ev.event_type == "purchase"]
m = sales.merge(pur, left_on=["customer_id", "timestamp", "channel"],
                right_on=["member_id", "event_time", "channel"], how="left", indicator=True)
assert (m._merge == "both").all(), m[m._merge != "both"].head()
chk = ev[ev.event_type == "checkout_start"]
sid = m[m.session_id != ""].merge(chk[["session_id", "t"]], on="session_id", suffixes=("", "_c"))
sid = sid[sid.t_c < sid.t].groupby(["invoice"]).size()
assert len(sid) == (m.session_id != "").sum(), "purchase without checkout_start in its session"
nos = m[m.session_id == ""].merge(chk[chk.member_id != ""][["member_id", "t"]], on="member_id",
                                  suffixes=("", "_c"))
nos = nos[(nos.t_c < nos.t) & (nos.t_c >= nos.t - 3600)].groupby("invoice").size()
assert len(nos) == (m.session_id == "").sum(), "purchase without a checkout_start before it"
allp = pur[pur.session_id != ""].merge(chk[["session_id", "t"]], on="session_id", suffixes=("", "_c"))
assert allp[allp.t_c < allp.t].session_id.nunique() == (pur.session_id != "").sum()
sess_share = c360["events"]["sessions_with_id"] / c360["events"]["sessions"]
assert 0.65 < sess_share < 0.75, sess_share
# feedback: vocabularies, scores, free text
assert set(fb.kind) == {"nps", "csat", "rating", "complaint", "ticket"}
assert set(fb.topic) <= {"delivery", "price", "staff", "product_quality", "checkout", "parking", "app", "other"}
assert set(fb.channel) <= {"in-store", "online", "app"}
sc = lambda k: fb.score[fb.kind == k]
assert sc("nps").astype(int).between(0, 10).all()
assert sc("csat").astype(int).between(1, 5).all() and sc("rating").astype(int).between(1, 5).all()
assert (sc("complaint") == "").all() and (sc("ticket") == "").all()
assert set(fb.member_id) <= set(buyers.index)
raw = open(f"{W}/f1.csv").read()
assert '""' in raw and fb.comment.str.contains(",").any() and fb.comment.str.contains('"').any()
assert fb.comment.str.contains(r"07700 900\d{3}").any() and (fb.comment == "").any()
# planted effect 1: complaint or detractor NPS in the last 90 days (before the dropout
# purchase, or before the end) is more frequent among customers who drop out
fb["t"] = sec(fb.submitted_at)
fb = fb.join(truth, on="member_id")
ref = np.where(fb.alive == 1, end, fb["drop"])
bad = (fb.kind == "complaint") | ((fb.kind == "nps") & (fb.score.replace("", "99").astype(int) <= 6))
flag = fb[bad & (fb.t > ref - 90 * 86400) & (fb.t <= ref)].member_id.unique()
bt = truth.loc[buyers.index]
fs = bt.assign(f=bt.index.isin(flag)).groupby("alive").f.mean()
print("complaint/detractor share in the last 90 days (0 = dropped, 1 = alive):", fs.to_dict())
assert fs[0] > fs[1] + 0.2, fs
nps = fb[fb.kind == "nps"].assign(s=lambda d: d.score.astype(int)).groupby("alive").s.mean()
assert nps[0] < nps[1], nps
j = c360["feedback"]
assert j["droppers_window"]["mean_nps"] < j["stayers"]["mean_nps"] - 1.5
assert j["droppers_window"]["complaints_per_90_days"] > 4 * j["stayers"]["complaints_per_90_days"]
# planted effect 2: retention by acquisition channel as planted
ret = bt.join(buyers.acquisition_channel).groupby("acquisition_channel").alive.mean()
print("retention by acquisition channel:", ret.round(3).to_dict())
assert min(ret.referral, ret.store_desk) > max(ret.app, ret.web) - 0.02
assert min(ret.app, ret.web) > max(ret.partner, ret.campaign)
assert ret.referral > bt.alive.mean() > ret.campaign
tab = {x["channel"]: x["retention"] for x in c360["acquisition_channel"]["channels"]}
assert all(abs(tab[k] - ret[k]) < 1e-9 for k in ret.index), (tab, ret)
print("members %d (%d rows), events %d (%.1f per transaction row), feedback %d" %
      (len(first), len(mem), len(ev), per_row, len(fb)))
PYEOF
exit $fail
