"""`retain ingest --add members|events|feedback` on the generator's customer-360 exports,
checked against an independent pandas/h5py computation from the CSVs (docs/ingest.md
"Sources", docs/formats.md "Sources"): pseudonyms (HMAC-SHA256 of the raw ids, the visitor
domain prefixed), buckets, row order and per-bucket offsets, dictionaries, the latest member
state and the tier history, gap sessions, visitor links, feedback scores, privacy
(birth years, postcode prefixes, gender dropped), the store digest; the stores are identical
at 1, 2, 3 and 4 ranks; and the planted effects of the generator's truth file are recovered
from the store (retention by acquisition channel, NPS and complaints of stayers vs droppers,
funnel stage rates). Usage: ingest_sources.py WORKDIR"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd

from ingest_common import BIN, MPIEXEC, MPIFLAGS, M64, Checker, make_key, mix64, pseudonym

SRC = os.environ.get("RETAIN_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(SRC, "data-samples")
B = 1024
NOW_ATTRS = {"created_at", "created_by"}


def run(args, ranks=1, cwd=None, expect=0, check=None):
    cmd = ([MPIEXEC, "-n", str(ranks)] + MPIFLAGS if ranks > 1 else []) + [BIN] + args
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if check is not None:
        check(r.returncode == expect, f"{' '.join(args)} at {ranks} rank(s): exit {r.returncode} "
              f"(want {expect}): {r.stderr[-1500:]}")
    return r


def bucket(k):
    return (mix64(k) * B) >> 64


def epoch(series):
    return (pd.to_datetime(series, format="%Y-%m-%d %H:%M:%S").astype("int64") // 10**9).to_numpy()


def codes(values, dictionary):
    pos = {s: i for i, s in enumerate(dictionary)}
    return np.array([pos[v] if v != "" else -1 for v in values], dtype=np.int64)


def sorted_dict(values):
    return sorted({v for v in values if v != ""}, key=lambda s: s.encode())


def read_group(f, name):
    g = f[name]
    cols = {c: g[c][...] for c in g if isinstance(g[c], h5py.Dataset)}
    dicts = {c: [s.decode() for s in g["dict"][c][...]] for c in g["dict"]} if "dict" in g else {}
    return cols, dicts, g["index/bucket_offsets"][...], dict(g.attrs)


def flatten(obj, path=""):
    out = {path + "@" + k: v for k, v in obj.attrs.items() if k not in NOW_ATTRS}
    if isinstance(obj, h5py.Group):
        for n in obj:
            out.update(flatten(obj[n], path + "/" + n))
    else:
        out[path] = obj[()]
    return out


def same(x, y):
    if isinstance(x, (bytes, str)) or isinstance(y, (bytes, str)):
        return x == y
    a, b = np.asarray(x), np.asarray(y)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def check_offsets(check, name, keys, offsets):
    want = np.zeros(B + 1, dtype=np.uint64)
    np.add.at(want, np.array([bucket(int(k)) for k in keys], dtype=np.int64) + 1, 1)
    check(np.array_equal(np.cumsum(want), offsets), f"/{name}: bucket offsets differ from the oracle")


def main():
    work = sys.argv[1]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    check = Checker()
    key = make_key(os.path.join(work, "key"))
    csv = {k: os.path.join(work, k + ".csv") for k in ("tx", "members", "events", "feedback")}
    truth_path = os.path.join(work, "truth.h5")
    run(["generate", "--quiet", "--out", os.path.join(work, "gen.h5"), "--truth", truth_path,
         "--customers", "1500", "--days", "365", "--seed", "5", "--csv", csv["tx"],
         "--members-csv", csv["members"], "--events-csv", csv["events"],
         "--feedback-csv", csv["feedback"]], check=check)
    run(["ingest", "--quiet", "--mapping", os.path.join(SAMPLES, "generated-transactions.ini"),
         "--key", os.path.join(work, "key"), "--out", os.path.join(work, "tx.h5"), csv["tx"]],
        check=check)

    # the same chain of additions at 1-4 ranks, each in its own directory with the same
    # relative names, so provenance (which records the paths given) is the same too
    finals = {}
    for np_ in (1, 2, 3, 4):
        d = os.path.join(work, f"np{np_}")
        os.makedirs(d)
        shutil.copy(os.path.join(work, "tx.h5"), os.path.join(d, "tx.h5"))
        base = "tx.h5"
        for kind in ("members", "events", "feedback"):
            out = f"with_{kind}.h5"
            run(["ingest", "--quiet", "--add", kind, "--mapping",
                 os.path.join(SAMPLES, f"generated-{kind}.ini"), "--key", os.path.join(work, "key"),
                 "--append-to", base, "--out", out, "--summary", f"{kind}.json", csv[kind]],
                ranks=np_, cwd=d, check=check)
            base = out
        finals[np_] = os.path.join(d, base)
        check(os.path.exists(os.path.join(d, "tx.h5")) and
              open(os.path.join(d, "tx.h5"), "rb").read() == open(os.path.join(work, "tx.h5"), "rb").read(),
              f"{np_} ranks: the base store was modified")
    if check.failures:
        return check.finish("ingest_sources")
    ref = flatten(h5py.File(finals[1], "r"))
    for np_ in (2, 3, 4):
        other = flatten(h5py.File(finals[np_], "r"))
        diff = [k for k in sorted(set(ref) | set(other))
                if k not in ref or k not in other or not same(ref[k], other[k])]
        check(not diff, f"store at {np_} ranks differs from 1 rank: {diff[:8]}")

    f = h5py.File(finals[1], "r")
    # ---------------------------------------------------------------- the store
    check(f.attrs["format_version"] == 3, "format_version is not 3")
    srcs = [s.decode() if isinstance(s, bytes) else s for s in f.attrs["sources"]]
    want_srcs = ["transactions", "members", "member_tiers", "events", "visitor_events",
                 "visitor_links", "feedback"]
    check(srcs == want_srcs, f"sources attribute {srcs}")
    h = hashlib.sha256(b"retain-store/3\0")
    for s in srcs:
        dig = f.attrs["content_digest"] if s == "transactions" else f[s].attrs["content_digest"]
        dig = dig.decode() if isinstance(dig, bytes) else dig
        h.update(s.encode() + b"\0" + dig.encode() + b"\0")
    sd = f.attrs["store_digest"]
    check((sd.decode() if isinstance(sd, bytes) else sd) == h.hexdigest(), "store_digest differs from hashlib's")
    tx = pd.read_csv(csv["tx"], dtype=str, keep_default_na=False)
    tx_keys = {pseudonym(key, c) for c in tx.customer_id.unique()}
    check(set(f["transactions/customer"][...].tolist()) == tx_keys,
          "transaction customers are not the HMAC pseudonyms of the CSV ids")

    # ---------------------------------------------------------------- members
    m = pd.read_csv(csv["members"], dtype=str, keep_default_na=False)
    m["line"] = np.arange(len(m)) + 2
    m["key"] = [pseudonym(key, x) for x in m.member_id]
    m["upd"] = epoch(m.updated_at)
    m = m.sort_values(["key", "upd", "line"], kind="stable")
    latest = m.groupby("key", sort=False).tail(1).copy()
    latest["bucket"] = [bucket(k) for k in latest.key]
    latest = latest.sort_values(["bucket", "key"], kind="stable")
    cols, dicts, off, attrs = read_group(f, "members")
    check(cols["customer"].tolist() == latest.key.tolist(), "members: keys or order differ")
    check_offsets(check, "members", latest.key, off)
    check(np.array_equal(cols["time"], epoch(latest.registered_at)), "members: registration times differ")
    check(np.array_equal(cols["updated_at"], latest.upd.to_numpy()), "members: updated_at differ")
    for col, src in (("acquisition_channel", "acquisition_channel"), ("tier", "tier")):
        check(dicts[col] == sorted_dict(latest[src]), f"members: /members/dict/{col} differs")
        check(np.array_equal(cols[col], codes(latest[src], dicts[col])), f"members: {col} codes differ")
    region = [p.upper().replace(" ", "")[:3] for p in latest.postcode]
    check(dicts["region"] == sorted_dict(region), "members: region dictionary is not the 3-character prefixes")
    check(np.array_equal(cols["region"], codes([p.upper().replace(" ", "")[:3] for p in latest.postcode],
                                               dicts["region"])), "members: region codes differ")
    by = np.array([int(b[:4]) if b else -1 for b in latest.birth_date])
    check(np.array_equal(cols["birth_year"], by), "members: birth_year is not the year of birth_date")
    check(cols["birth_year"].dtype == np.int16, "members: birth_year is not int16")
    check("gender" not in cols, "members: gender stored although the mapping does not keep it")
    for flag in ("opt_in_email", "opt_in_sms"):
        check(np.array_equal(cols[flag], np.array([int(v) if v else -1 for v in latest[flag]])),
              f"members: {flag} differs")
    check(np.array_equal(cols["points"], np.array([int(v) if v else -1 for v in latest.points])),
          "members: points differ")
    prov = json.loads(attrs["provenance"])
    check(prov["privacy"]["sensitive_dropped"] == ["gender"], f"members provenance: {prov['privacy']}")
    check("gender" in prov["privacy"]["columns_not_stored"], "members provenance: gender not listed as not stored")
    check(prov["key_fingerprint"] == json.loads(f.attrs["provenance"])["key_fingerprint"],
          "members: key fingerprint differs from the transactions'")
    # tier history: a row whenever the tier changes, at its updated_at
    tiers = []
    for k, grp in m.groupby("key", sort=False):
        prev = None
        for t, tier in zip(grp.upd, grp.tier):
            if tier and tier != prev:
                tiers.append((bucket(k), k, t, tier))
                prev = tier
    tiers.sort(key=lambda r: (r[0], r[1], r[2]))
    tcols, tdicts, toff, _ = read_group(f, "member_tiers")
    check(tcols["customer"].tolist() == [r[1] for r in tiers], "member_tiers: keys or order differ")
    check(tcols["time"].tolist() == [r[2] for r in tiers], "member_tiers: times differ")
    check([tdicts["tier"][c] for c in tcols["tier"]] == [r[3] for r in tiers], "member_tiers: tiers differ")
    check(tdicts["tier"] == sorted_dict(r[3] for r in tiers), "member_tiers: tier dictionary differs")
    check_offsets(check, "member_tiers", tcols["customer"], toff)

    # ---------------------------------------------------------------- events
    e = pd.read_csv(csv["events"], dtype=str, keep_default_na=False)
    e["time"] = epoch(e.event_time)
    vocab = ["visit", "page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
             "checkout_start", "purchase", "coupon_issued", "coupon_redeemed", "app_open", "push_open"]
    for grp_name, rows, keycol in (("events", e[e.member_id != ""], "member_id"),
                                   ("visitor_events", e[e.member_id == ""], "visitor_id")):
        rows = rows.copy()
        rows["key"] = [pseudonym(key, ("visitor:" if keycol == "visitor_id" else "") + x) for x in rows[keycol]]
        cols, dicts, off, attrs = read_group(f, grp_name)
        check(dicts["event_type"] == sorted(set(vocab) | set(e.event_type), key=str.encode),
              f"{grp_name}: event_type dictionary {dicts['event_type']}")
        for c in ("item", "category", "channel"):  # the values this group's rows use
            check(dicts[c] == sorted_dict(rows[c]), f"{grp_name}: {c} dictionary differs")
        want = pd.DataFrame({"bucket": [bucket(k) for k in rows.key], "key": rows.key.to_numpy(dtype=np.uint64),
                             "time": rows.time, "type": codes(rows.event_type, dicts["event_type"]),
                             "item": codes(rows["item"], dicts["item"]),
                             "category": codes(rows.category, dicts["category"]),
                             "channel": codes(rows.channel, dicts["channel"]),
                             "sid": rows.session_id.to_numpy()})
        kname = "customer" if grp_name == "events" else "visitor"
        got = pd.DataFrame({"bucket": [bucket(int(k)) for k in cols[kname]], "key": cols[kname],
                            "time": cols["time"], "type": cols["event_type"], "item": cols["item"],
                            "category": cols["category"], "channel": cols["channel"],
                            "session": cols["session"]})
        check(len(got) == len(want), f"{grp_name}: {len(got)} rows, oracle {len(want)}")
        order = ["bucket", "key", "time"]
        check(bool((got[order].apply(tuple, axis=1).is_monotonic_increasing)),
              f"{grp_name}: rows not ordered by (bucket, key, time)")
        check_offsets(check, grp_name, cols[kname], off)
        full = ["bucket", "key", "time", "type", "item", "category", "channel"]
        g2 = got.sort_values(full, kind="stable").reset_index(drop=True)
        w2 = want.sort_values(full, kind="stable").reset_index(drop=True)
        check(g2[full].equals(w2[full].astype(g2[full].dtypes.to_dict())) or
              np.array_equal(g2[full].to_numpy(np.int64), w2[full].to_numpy(np.int64)),
              f"{grp_name}: stored rows differ from the oracle's")
        # sessions: export ids map one-to-one to 63-bit hashes; rows without an id are cut by
        # the 30-minute gap into sessions named mix64(key ^ mix64(start)) with the top bit set
        unique = ~w2.duplicated(full, keep=False)
        sess = g2.session.to_numpy(np.uint64)
        has_id = (w2.sid != "").to_numpy()
        check(bool(np.all(sess[has_id] >> np.uint64(63) == 0)), f"{grp_name}: export sessions with the top bit set")
        pairs = pd.DataFrame({"sid": w2.sid[has_id & unique], "h": sess[has_id & unique]}).drop_duplicates()
        check(pairs.sid.is_unique and pairs.h.is_unique, f"{grp_name}: export session ids and hashes not one-to-one")
        noid = w2[~has_id].copy()
        noid["got"] = sess[~has_id]
        expect = []
        last_key, last_t, cur = None, None, None
        for k, t in zip(noid.key.to_numpy(np.uint64), noid.time):
            k = int(k)
            if k != last_key or t - last_t > 1800:
                cur = mix64(k ^ mix64(int(t) & M64)) | (1 << 63)
            expect.append(cur)
            last_key, last_t = k, t
        check(noid.got.tolist() == expect, f"{grp_name}: gap sessions differ from the oracle's")
        if grp_name == "events":
            ev_attrs = attrs
    prov = json.loads(ev_attrs["provenance"])
    check(prov["vocabulary_strict"] is True and prov["session_gap_seconds"] == 1800,
          f"events provenance: {prov.get('vocabulary_strict')} {prov.get('session_gap_seconds')}")
    both = e[(e.member_id != "") & (e.visitor_id != "")]
    links = {}
    for v, c, t in zip(both.visitor_id, both.member_id, both.time):
        kv, kc = pseudonym(key, "visitor:" + v), pseudonym(key, c)
        links[(kv, kc)] = min(t, links.get((kv, kc), t))
    want_links = sorted(((bucket(kv), kv, t, kc) for (kv, kc), t in links.items()))
    lcols, _, loff, _ = read_group(f, "visitor_links")
    got_links = list(zip([bucket(int(k)) for k in lcols["visitor"]], lcols["visitor"].tolist(),
                         lcols["time"].tolist(), lcols["customer"].tolist()))
    check(got_links == want_links, f"visitor_links: {len(got_links)} rows, oracle {len(want_links)}")
    check_offsets(check, "visitor_links", lcols["visitor"], loff)

    # ---------------------------------------------------------------- feedback
    fb = pd.read_csv(csv["feedback"], dtype=str, keep_default_na=False)
    fb["key"] = [pseudonym(key, x) for x in fb.member_id]
    cols, dicts, off, attrs = read_group(f, "feedback")
    check(dicts["kind"] == ["complaint", "csat", "nps", "rating", "ticket"], f"feedback kinds {dicts['kind']}")
    check(dicts["topic"] == sorted_dict(fb.topic) and dicts["channel"] == sorted_dict(fb.channel),
          "feedback: topic or channel dictionary differs")
    want = pd.DataFrame({"bucket": [bucket(k) for k in fb.key], "key": fb.key.to_numpy(np.uint64),
                         "time": epoch(fb.submitted_at), "kind": codes(fb.kind, dicts["kind"]),
                         "score": [int(s) if s else -1 for s in fb.score],
                         "topic": codes(fb.topic, dicts["topic"]), "channel": codes(fb.channel, dicts["channel"])})
    got = pd.DataFrame({"bucket": [bucket(int(k)) for k in cols["customer"]], "key": cols["customer"],
                        "time": cols["time"], "kind": cols["kind"], "score": cols["score"],
                        "topic": cols["topic"], "channel": cols["channel"]})
    allc = list(want.columns)
    check(np.array_equal(got.sort_values(allc).to_numpy(np.int64), want.sort_values(allc).to_numpy(np.int64)),
          "feedback: stored rows differ from the oracle's")
    check(bool(got[["bucket", "key", "time"]].apply(tuple, axis=1).is_monotonic_increasing),
          "feedback: rows not ordered by (bucket, key, time)")
    check_offsets(check, "feedback", cols["customer"], off)
    check("comment" not in cols, "feedback: free text stored")
    check(json.loads(attrs["provenance"])["privacy"]["columns_not_stored"] == ["comment"],
          "feedback provenance does not list the comment column as not stored")

    # ---------------------------------------------------------------- inspect
    r = run(["inspect", "--json", finals[1]], ranks=3, check=check)
    if r.returncode == 0:
        rep = json.loads(r.stdout)
        check(rep["valid"] and [s["name"] for s in rep["sources"]] == want_srcs[1:],
              f"inspect: {rep.get('problem')}")
        for s in rep["sources"]:
            check(s["digests_verified"], f"inspect: {s['name']} digests not verified")
            if "orphan_keys" in s:
                check(s["orphan_keys"] == 0, f"inspect: {s['name']} has {s['orphan_keys']} orphan keys")

    # ---------------------------------------------------------------- planted truth
    T = h5py.File(truth_path, "r")
    c360 = json.loads(T.attrs["customer360"])
    tr = pd.DataFrame({"key": [pseudonym(key, "C%08d" % i) for i in T["truth/index"][...]],
                       "alive": T["truth/alive_at_end"][...], "drop": T["truth/dropout_time"][...]})
    mem = pd.DataFrame({"customer": f["members/customer"][...], "ch": np.array(
        [s.decode() for s in f["members/dict/acquisition_channel"][...]])[f["members/acquisition_channel"][...]]})
    g = mem.merge(tr, left_on="customer", right_on="key").groupby("ch").agg(n=("alive", "size"), alive=("alive", "sum"))
    for c in c360["acquisition_channel"]["channels"]:
        ch = c["channel"]
        check(ch in g.index and g.loc[ch, "n"] == c["members"] and g.loc[ch, "alive"] == c["alive_at_end"],
              f"retention by channel {ch}: store {g.loc[ch].tolist() if ch in g.index else None}, "
              f"truth {(c['members'], c['alive_at_end'])}")
    ret = (g.alive / g.n).to_dict()
    check(ret["referral"] > ret["campaign"] + 0.1, f"planted channel effect not recovered: {ret}")
    fbm = got.merge(tr, left_on="key", right_on="key")
    fbm["k"] = np.array(dicts["kind"])[fbm.kind]
    stay = fbm[fbm.alive == 1]
    drop = fbm[(fbm.alive == 0) & (fbm.time >= fbm["drop"] - 90 * 86400) & (fbm.time <= fbm["drop"] + 14 * 86400)]
    ts, td = c360["feedback"]["stayers"], c360["feedback"]["droppers_window"]
    check(abs(stay[stay.k == "nps"].score.mean() - ts["mean_nps"]) < 1e-9 and
          abs(drop[drop.k == "nps"].score.mean() - td["mean_nps"]) < 1e-9,
          f"mean NPS stayers/droppers {stay[stay.k == 'nps'].score.mean()}/{drop[drop.k == 'nps'].score.mean()}, "
          f"truth {ts['mean_nps']}/{td['mean_nps']}")
    check((stay.k == "complaint").sum() == ts["complaints"] and (drop.k == "complaint").sum() == td["complaints"],
          "complaint counts of stayers/droppers differ from the truth")
    check(td["mean_nps"] < ts["mean_nps"] - 1, "planted NPS effect absent from the truth itself")
    # funnel: sessions of known customers and visitors, by the channel of their first event;
    # stage rates conditional on the previous stage are recovered within 0.02, session
    # counts within 15 % (the gap rule cuts sessions of events without an id differently
    # from the generator's own sessions)
    frames = []
    for gname, kname in (("events", "customer"), ("visitor_events", "visitor")):
        G = f[gname]
        frames.append(pd.DataFrame({"key": G[kname][...], "session": G["session"][...],
                                    "type": np.array([s.decode() for s in G["dict/event_type"][...]])[G["event_type"][...]],
                                    "ch": np.array([s.decode() for s in G["dict/channel"][...]])[G["channel"][...]]}))
    ev = pd.concat(frames)
    sess = ev.groupby(["key", "session"]).agg(ch=("ch", "first"), types=("type", lambda x: frozenset(x)))
    for ch in ("online", "app"):
        s = sess[sess.ch == ch]
        has = {t: sum(t in x for x in s.types) for t in ("product_view", "add_to_cart", "checkout_start", "purchase")}
        tf = c360["events"]["funnel"][ch]
        check(abs(len(s) - tf["sessions"]) <= 0.15 * tf["sessions"], f"funnel {ch}: {len(s)} sessions, truth {tf['sessions']}")
        for stage, prev in (("add_to_cart", "product_view"), ("checkout_start", "add_to_cart"), ("purchase", "checkout_start")):
            rate = has[stage] / has[prev]
            check(abs(rate - tf["rate_" + stage]) < 0.02, f"funnel {ch} {stage}: {rate:.4f}, truth {tf['rate_' + stage]:.4f}")
        print(f"funnel {ch}: sessions {len(s)} (truth {tf['sessions']}), "
              + ", ".join(f"{k} {v} (truth {tf[k]})" for k, v in has.items()))
    print("retention by channel:", {k: round(v, 3) for k, v in ret.items()})
    return check.finish("ingest_sources")


if __name__ == "__main__":
    sys.exit(main())
