"""Independent recomputation of the report's figures (docs/report.md) from the store, the
features file and the scores with pandas, compared with report.json written with k-anon 1.

usage: report_oracle.py DIR REPORT_JSON PERIOD_DAYS
DIR holds s.h5 (store), f.h5 (features), m.h5 (bundle), sc.h5 (scores)."""
import json
import sys

import h5py
import numpy as np
import pandas as pd

w, rj, period_days = sys.argv[1], sys.argv[2], int(sys.argv[3])
J = json.load(open(f"{w}/{rj}" if not rj.startswith("/") else rj))
bad = 0


def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what)
    bad += 0 if ok else 1


def num(v):
    """k-anon 1 still suppresses empty groups: they count 0."""
    return 0 if v == "suppressed" else v


S = h5py.File(f"{w}/s.h5", "r")
F = h5py.File(f"{w}/f.h5", "r")
C = int(F.attrs["cutoff_seconds"])
P = period_days * 86400
t = S["transactions"]
df = pd.DataFrame({"customer": t["customer"][()], "basket": t["basket"][()],
                   "time": t["time"][()], "amount": t["amount"][()]})
e = int(S.attrs["currency_exponent"])
# baskets: time of the earliest row, net amount; purchases: net > 0, time before the cutoff
b = df.groupby(["customer", "basket"], sort=False).agg(time=("time", "min"), net=("amount", "sum")).reset_index()
b = b[b.time < C]
pur = b[b.net > 0].copy()
first = pur.groupby("customer").time.min()
pur["period"] = 2 - (C - pur.time - 1) // P
cust = pd.DataFrame(index=first.index)
cust["first"] = first
for p in range(3):
    q = pur[pur.period == p]
    cust[f"n{p}"] = q.groupby("customer").size().reindex(cust.index, fill_value=0)
    cust[f"r{p}"] = q.groupby("customer").net.sum().reindex(cust.index, fill_value=0)
act = [(cust[f"n{p}"] > 0).values for p in range(3)]
start = [C - (3 - p) * P for p in range(3)]

kp = J["kpis"]
for p, name in ((2, "last"), (1, "previous")):
    k = kp[name]
    exp = {
        "active_customers": int(act[p].sum()),
        "new_customers": int(((cust["first"] >= start[p]) & (cust["first"] < start[p] + P)).sum()),
        "repeat_customers": int((cust[f"n{p}"] >= 2).sum()),
        "retained_customers": int((act[p] & act[p - 1]).sum()),
        "purchases": int(cust[f"n{p}"].sum()),
    }
    for key, v in exp.items():
        check(num(k[key]) == v, f"{name} {key}: report {k[key]}, pandas {v}")
    rev = cust[f"r{p}"].sum() / 10 ** e
    check(abs(k["revenue"] - rev) < 1e-6 * max(1, rev), f"{name} revenue {k['revenue']} vs {rev}")
    check(abs(k["retention_rate"] - exp["retained_customers"] / act[p - 1].sum()) < 1e-12, f"{name} retention rate")
    check(abs(k["churn_rate"] - (1 - exp["retained_customers"] / act[p - 1].sum())) < 1e-12, f"{name} churn rate")
    check(abs(k["repeat_purchase_rate"] - exp["repeat_customers"] / exp["active_customers"]) < 1e-12,
          f"{name} repeat-purchase rate")
    check(abs(k["average_basket"] - rev / exp["purchases"]) < 1e-9 * max(1, rev), f"{name} average basket")
sc = h5py.File(f"{w}/sc.h5", "r")
clv = sc["scores/clv"][()]
if np.isnan(clv).all():
    check(kp["last"]["mean_clv"] is None, "no mean CLV without a CLV model")
else:
    check(abs(kp["last"]["mean_clv"] - clv.mean()) < 1e-9 * max(1, abs(clv.mean())), "mean CLV")


# cohorts: month of the first purchase x months since, only complete months before the cutoff
def month(ts):
    d = pd.to_datetime(ts, unit="s")
    return (d.year - 1970) * 12 + d.month - 1


last = month(np.array([C]))[0] - 1
m0 = max(month(np.array([int(S.attrs["time_min"])]))[0], last - 35)
nm = last - m0 + 1
rows = J["cohorts"]["rows"]
check(len(rows) == nm, f"{nm} cohort months")
pm = pur.assign(m=month(pur.time.values) - m0, c=month(cust["first"].reindex(pur.customer).values) - m0)
pm = pm[(pm.c >= 0) & (pm.c < nm) & (pm.m >= 0) & (pm.m < nm)]
cells = pm.groupby(["c", "m"]).customer.nunique()
tab = np.zeros((nm, nm), dtype=np.int64)
for (c, m), v in cells.items():
    tab[c, m - c] = v
got = np.zeros((nm, nm), dtype=np.int64)
for i, r in enumerate(rows):
    for m, v in enumerate(r["active_customers"]):
        got[i, m] = num(v)
    check(num(r["customers"]) == tab[i, 0], f"cohort {r['cohort']} size {r['customers']} vs {tab[i, 0]}")
check(np.array_equal(tab, got), "cohort table equals the pandas table")
check(rows[0]["retention"][0] == 1.0 or tab[0, 0] == 0, "month 0 retention is 100%")

# lifecycle states at the end of the previous and the last period, and the flow
STATES = ["new", "repeat", "loyal", "at risk", "lapsed", "not yet a customer"]


def state(p):
    f = cust["first"].values
    s = np.full(len(f), 5)
    exists = f < start[p] + P
    s[exists & ~act[p] & ~act[p - 1]] = 4
    s[exists & ~act[p] & act[p - 1]] = 3
    s[exists & act[p]] = 1
    s[exists & act[p] & act[p - 1] & (f < start[p - 1])] = 2
    s[(f >= start[p]) & exists] = 0
    return s


sp, sl = state(1), state(2)
flow = {(x["from"], x["to"]): num(x["customers"]) for x in J["lifecycle"]["flow"]}
ok = True
for a in range(6):
    for c in range(5):
        v = int(((sp == a) & (sl == c)).sum())
        if flow[(STATES[a], STATES[c])] != v:
            ok = False
            print(f"  flow {STATES[a]} -> {STATES[c]}: report {flow[(STATES[a], STATES[c])]}, pandas {v}")
check(ok, "lifecycle flow equals the pandas flow")
st = {x["state"]: (num(x["previous_customers"]), num(x["last_customers"])) for x in J["lifecycle"]["states"]}
check(all(st[STATES[s]] == (int((sp == s).sum()), int((sl == s).sum())) for s in range(5)), "lifecycle state counts")
check(sum(v[1] for v in st.values()) == len(cust), "every purchasing customer has a state at the end of the last period")

# data quality
dq = J["data_quality"]
check(dq["rows"] == len(df) and dq["store_customers"] == df.customer.nunique(), "rows and customers")
check(dq["purchases_before_cutoff"] == len(pur) and dq["baskets_before_cutoff"] == len(b), "baskets and purchases")
check(dq["return_rows"] == int((df.amount < 0).sum()), "return rows")
fq = json.loads(F.attrs["data_quality"])
check(len(fq) >= 8 and all(k in dq for k in fq), "the features pass's data-quality counts are in the report")
check(all(dq[k] == v or (k.endswith("customers") and v < J["k_anon"] and dq[k] == "suppressed")
          for k, v in fq.items() if k not in ("single_purchase_customers",)),
      "features data-quality values carried unchanged (customer counts below k suppressed)")

# segments: RFM groups from the features file, k-means groups and warnings from the scores
rfm = F["customers/rfm_segment"][()]
names = [n.decode() for n in F["customers/rfm_segment_names"][()]]
got = {x["segment"]: num(x["customers"]) for x in J["rfm_segments"]}
check(all(got[names[s]] == int((rfm == s).sum()) for s in range(len(names))), "RFM segment sizes")
X = F["customers/X"][()]
for x in J["rfm_segments"]:
    s = names.index(x["segment"])
    if x["customers"] != "suppressed":
        check(abs(x["mean_monetary"] - X[rfm == s, 3].mean()) < 1e-9 * max(1, X[rfm == s, 3].mean()),
              f"RFM {x['segment']} mean monetary")
seg, action = sc["scores/segment"][()], sc["scores/action"][()]
snames = [n.decode() for n in sc["names/segment"][()]]
anames = [n.decode() for n in sc["names/action"][()]]
ok = True
for x in J["warnings"]["by_segment"]:
    s = snames.index(x["segment"])
    for a, v in x["action_customers"].items():
        ok &= num(v) == int(((seg == s) & (action == anames.index(a))).sum())
check(ok, "warning summary by segment and action")
got = {x["segment"]: num(x["customers"]) for x in J["segments"]}
check(all(got[snames[s]] == int((seg == s).sum()) for s in range(len(snames))), "k-means segment sizes")


# the ROC curve uses the bundle's held-out test split (include/retain/split.h)
def mix(z):
    z = (z + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)).astype(np.uint64)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)).astype(np.uint64)
    return z ^ (z >> np.uint64(31))


with np.errstate(over="ignore"):
    key = F["customers/customer"][()]
    u = (mix(mix(key) ^ mix(np.array([0x73706C6974], dtype=np.uint64)))[:] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
test = ~(u < 0.7 + 0.15)
y = F["customers/label"][()]
mq = J["model_quality"]
check(mq["test_customers"] == int((test & (y >= 0)).sum()), f"test split size {mq['test_customers']}")
check(mq["test_churned_customers"] == int((test & (y == 1)).sum()), "test split churners")
roc = mq["roc"]
fpr = np.array([r["false_positive_rate"] for r in roc])
tpr = np.array([r["true_positive_rate"] for r in roc])
check(fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1, "ROC runs from (0,0) to (1,1)")
check(np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0), "ROC is monotone")
auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
check(abs(auc - mq["roc_auc"]) < 0.01, f"area under the ROC points {auc:.4f} ~ bundle test AUC {mq['roc_auc']:.4f}")
sys.exit(1 if bad else 0)
