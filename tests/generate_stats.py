"""Statistical sanity of a generated store + truth file against the designed model
(docs/generator.md). Tolerances are derived from the sample size where a sampling error
applies (k standard errors), otherwise they are the design margins stated below."""
import datetime
import json
import math
import sys
import warnings

import h5py
import numpy as np

warnings.filterwarnings("ignore")
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


s = h5py.File(sys.argv[1], "r")
t = h5py.File(sys.argv[2], "r")
T = {k: t["truth"][k][()] for k in t["truth"]}
tx = {k: s["transactions"][k][()] for k in s["transactions"]}
names = [x.decode() if isinstance(x, bytes) else str(x) for x in t.attrs["archetype_names"]]
P = json.loads(t.attrs["parameters"])
A = {a["name"]: a for a in P["archetypes"]}
N = len(T["customer"])
start, end = int(t.attrs["time_start"]), int(t.attrs["time_end"])
DAY = 86400

# --- truth and store agree: same customers in the same order, row counts, first purchase
cust = tx["customer"]
starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
check(np.array_equal(cust[starts], T["customer"]), "truth customers are the store's, in store order")
counts = np.diff(np.r_[starts, len(cust)])
check(np.array_equal(counts, T["n_transactions"]), "n_transactions matches the rows per customer")
check(np.array_equal(tx["time"][starts], T["acquisition_time"]), "acquisition_time is the first row's time")
ci = np.repeat(np.arange(N), counts)             # customer position of every row
arch = T["archetype"]

# --- archetype shares: binomial, 4 standard errors
for a, nm in enumerate(names):
    p = A[nm]["share"]
    got = np.mean(arch == a)
    tol = 4 * math.sqrt(p * (1 - p) / N)
    check(abs(got - p) <= tol, f"share of {nm} {got:.3f} within {tol:.3f} of {p}")

amt, tim = tx["amount"], tx["time"]
sale = amt > 0
# --- churned customers: last purchase = dropout time < end, nothing bought after it
churned = T["alive_at_end"] == 0
last_sale = np.full(N, np.iinfo(np.int64).min)
np.maximum.at(last_sale, ci[sale], tim[sale])
check(churned.sum() > 0.2 * N, f"churned customers present ({churned.sum()})")
check(np.all(last_sale[churned] == T["dropout_time"][churned]), "churned: last purchase is the dropout purchase")
check(np.all(T["dropout_time"][churned] < end), "churned: dropout before the end")
alive = ~churned
check(np.all((T["dropout_time"][alive] == -1) | (T["dropout_time"][alive] >= end)),
      "alive: no dropout inside the window")
check(np.all(T["acquisition_time"] < end) and np.all(T["acquisition_time"] >= start), "acquisitions inside the window")
acq_days = (T["acquisition_time"] - start) / DAY
span = P["acquisition_span"] * P["days"]
# staggered acquisition: uniform over the first 90% -> mean span/2, sd of the mean span/sqrt(12N)
check(abs(acq_days.mean() - span / 2) <= 4 * span / math.sqrt(12 * N), "acquisitions staggered uniformly")

# --- baskets: value per basket (sale rows of one invoice)
bkey = tx["basket"]
order = np.lexsort((bkey[sale], ci[sale]))
sc, sb, sa, st = ci[sale][order], bkey[sale][order], amt[sale][order], tim[sale][order]
bstart = np.flatnonzero(np.r_[True, (sc[1:] != sc[:-1]) | (sb[1:] != sb[:-1])])
bval = np.add.reduceat(sa, bstart) / 100.0
bcust = sc[bstart]
btime = st[bstart]
barch = arch[bcust]
check(np.array_equal(np.bincount(bcust, minlength=N), T["n_baskets"]), "n_baskets matches the invoices")

# mean basket value per archetype, design E[z] = p*gamma/(q-1) (Gamma-Gamma). Measured on
# customers who never drop out within the simulated horizon (no pre-dropout shrinkage), as
# the mean of per-customer means (the spend heterogeneity is between customers): tolerance
# 4 standard errors of that mean plus 3% for the rounding of unit prices to >= 0.50.
design = {nm: A[nm]["spend_p"] * A[nm]["spend_gamma"] / (A[nm]["spend_q"] - 1) for nm in names}
means = {}
undecayed = T["dropout_time"][bcust] == -1
for a, nm in enumerate(names):
    sel_a = barch == a
    m = np.bincount(bcust[sel_a], weights=bval[sel_a], minlength=N)
    n = np.bincount(bcust[sel_a], minlength=N)
    means[nm] = float(np.mean(m[n > 0] / n[n > 0]))
    sel_u = sel_a & undecayed
    m = np.bincount(bcust[sel_u], weights=bval[sel_u], minlength=N)
    n = np.bincount(bcust[sel_u], minlength=N)
    pc = m[n > 0] / n[n > 0]
    se = pc.std() / math.sqrt(len(pc))
    tol = 4 * se + 0.03 * design[nm]
    check(abs(pc.mean() - design[nm]) <= tol and len(pc) > 100,
          f"mean basket of {nm} {pc.mean():.1f} (n={len(pc)}) vs design {design[nm]:.1f} +- {tol:.1f}")
# the decay before dropout lowers the overall mean a little, never the order
check(sorted(names, key=lambda x: means[x]) == sorted(names, key=lambda x: design[x]),
      f"mean basket values ordered as designed: {sorted(names, key=lambda x: -means[x])}")

# --- weekly seasonality: weekend share of baskets (Monday = 0)
dow = ((btime // DAY) + 3) % 7
wk = {nm: float(np.mean(np.isin(dow[barch == a], [5, 6]))) for a, nm in enumerate(names)}
fam = "family_weekend"
w = A[fam]["weekday_weights"]
# design share (w_sat + w_sun) / sum(w); the yearly modulation and the time of day shift it
# slightly (design margin 0.06; the sampling error over ~20k baskets is < 0.005)
dsh = (w[5] + w[6]) / sum(w)
check(abs(wk[fam] - dsh) <= 0.06 and wk[fam] > 0.5,
      f"family weekend share {wk[fam]:.3f} (design {dsh:.3f})")
for nm in names:
    if nm != fam:
        check(wk[fam] > wk[nm] + 0.1, f"family weekend share above {nm} ({wk[nm]:.3f}) by > 0.1")

# --- yearly seasonality: December busier than September-October per day
months = np.array([datetime.datetime.fromtimestamp(int(x), datetime.timezone.utc).month for x in btime])
dec = np.sum(months == 12) / 62.0
autumn = np.sum((months == 9) | (months == 10)) / 122.0
check(dec > 1.3 * autumn, f"December peak: {dec:.1f} vs {autumn:.1f} baskets per day in Sep-Oct")

# --- channels
ch = tx["channel"]
for a, nm in enumerate(names):
    online = float(np.mean(ch[sale & (arch[ci] == a)] != 0))
    if nm == "online_first":
        check(online > 0.7, f"online_first buys online/app ({online:.2f})")
    else:
        check(online < 0.45, f"{nm} mostly in store ({online:.2f} online/app)")

# --- returns: present, linked to an earlier sale line, and more frequent online
neg = amt < 0
rate = float(np.mean(neg))
check(0.01 <= rate <= 0.08, f"return rows {rate:.3f} of all rows")
sale_set = {(int(c), int(b), int(i), int(a)): int(tt) for c, b, i, a, tt in
            zip(ci[sale], bkey[sale], tx["item"][sale], amt[sale], tim[sale])}
linked = sum(1 for c, b, i, a, tt in zip(ci[neg], bkey[neg], tx["item"][neg], amt[neg], tim[neg])
             if sale_set.get((int(c), int(b) & ~(1 << 63), int(i), -int(a)), tt) < tt)
check(linked == neg.sum(), f"every return reverses an earlier sale line ({linked}/{neg.sum()})")
check(np.all(tx["quantity"][neg] < 0) and np.all(bkey[neg] >> np.uint64(63) == 1), "returns: negative quantity, flagged invoice")
ret_on = np.mean(neg[(ch != 0)]) / np.mean(neg[(ch == 0)])
check(ret_on > 1.2, f"online lines are returned more often ({ret_on:.2f}x)")

# --- BG/NBD process: observed repeat rate follows the latent lambda (rank correlation)
from scipy.stats import spearmanr  # noqa: E402
lifetime = np.where(churned, T["dropout_time"], end) - T["acquisition_time"]
ok = lifetime > 180 * DAY
obs_rate = (T["n_baskets"][ok] - 1) / (lifetime[ok] / DAY)
rho = spearmanr(obs_rate, T["lambda"][ok]).correlation
check(rho > 0.6, f"repeat rate follows lambda (Spearman {rho:.2f})")

# --- churn is learnable from recency/frequency/trend; archetypes from behaviour
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import adjusted_rand_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import cross_val_predict  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

cut = end - 180 * DAY
m = btime < cut
c, bt, bv = bcust[m], btime[m], bval[m]
nb = np.bincount(c, minlength=N)
lastt = np.full(N, -np.inf); np.maximum.at(lastt, c, bt)
firstt = np.full(N, np.inf); np.minimum.at(firstt, c, bt)
r90 = np.bincount(c[bt >= cut - 90 * DAY], minlength=N)
r180 = np.bincount(c[(bt >= cut - 180 * DAY) & (bt < cut - 90 * DAY)], minlength=N)
mon = np.bincount(c, weights=bv, minlength=N)
fut = np.bincount(bcust[~m], minlength=N)
sel = (nb > 0) & (firstt < cut - 90 * DAY)
y = (fut[sel] == 0).astype(int)
X = np.column_stack([(cut - lastt[sel]) / DAY, np.log1p(nb[sel]), (cut - firstt[sel]) / DAY,
                     r90[sel], r180[sel], np.log1p(mon[sel] / nb[sel])])
X = StandardScaler().fit_transform(X)
pr = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=5, method="predict_proba")[:, 1]
auc = roc_auc_score(y, pr)
check(sel.sum() > 0.3 * N, f"{sel.sum()} customers active before the cutoff")
check(0.2 < y.mean() < 0.8, f"churn rate at the cutoff {y.mean():.2f}")
check(0.75 <= auc <= 0.97, f"churn AUC from RFM + trend features {auc:.3f} in [0.75, 0.97]")

nbA = np.bincount(bcust, minlength=N)
monA = np.bincount(bcust, weights=bval, minlength=N)
lastA = np.full(N, -np.inf); np.maximum.at(lastA, bcust, btime)
chm = np.zeros((N, 3)); np.add.at(chm, (ci[sale], ch[sale]), 1); chm /= chm.sum(1, keepdims=True)
cm = np.zeros((N, 12)); np.add.at(cm, (ci[sale], tx["category"][sale]), 1); cm /= cm.sum(1, keepdims=True)
wke = np.bincount(bcust, weights=np.isin(dow, [5, 6]), minlength=N) / nbA
ten = (end - T["acquisition_time"]) / DAY
F = np.column_stack([np.log(monA / nbA), np.log(nbA / ten * 365), (end - lastA) / DAY / ten,
                     np.log(ten), chm, cm, wke])
lab = KMeans(5, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(F))
ari = adjusted_rand_score(arch, lab)
check(ari >= 0.4, f"k-means recovers the archetypes: adjusted Rand index {ari:.2f} >= 0.4")

print(f"{len(fails)} failed checks" if fails else "all statistical checks passed")
sys.exit(1 if fails else 0)
