#!/usr/bin/env bash
# retain score end to end: every score recomputed independently from the bundle's
# documented formulas (docs/serving.md, docs/scoring.md); identical outputs at 1, 2, 3
# ranks; the warning list is the top N by expected loss.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/score_e2e
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
R 2 generate --customers 4000 --days 730 --seed 21 --buckets 32 --out s.h5 --truth t.h5 -q || die generate
R 2 features --store s.h5 --cutoff 2024-07-01 --horizon 90 --out f.h5 -q || die features
R 2 train --features f.h5 --out m.h5 --k 4 -q || die train
for np in 1 2 3; do
  R $np score --model m.h5 --features f.h5 --out sc$np.h5 --csv sc$np.csv --top 50 -q || die "score at $np ranks"
  mv warning-list.csv wl$np.csv 2>/dev/null || die "no warning list at $np ranks"
done
cmp -s sc1.csv sc2.csv && cmp -s sc1.csv sc3.csv || die "scores CSV differs between rank counts"
cmp -s wl1.csv wl2.csv && cmp -s wl1.csv wl3.csv || die "warning list differs between rank counts"
R 1 score --model m.h5 --features missing.h5 --out x.h5 >/dev/null 2>&1; [[ $? == 3 ]] || die "missing features must exit 3"
R 1 score --model f.h5 --features f.h5 --out x.h5 >/dev/null 2>&1; [[ $? == 4 ]] || die "a features file as model must exit 4"
R 1 score --features f.h5 --out x.h5 >/dev/null 2>&1; [[ $? == 2 ]] || die "missing --model must exit 2"
"$RETAIN_PYTHON" - "$W" "$RETAIN_SOURCE_DIR/tests" <<'PY' || fail=1
import csv, sys
import h5py, numpy as np
w = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import features_reference as fref
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what); bad += 0 if ok else 1
def walk(path):
    d = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return d
a = walk(f"{w}/sc1.h5")
for n in (2, 3):
    b = walk(f"{w}/sc{n}.h5")
    check(sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a),
          f"scores.h5 at {n} ranks identical to 1 rank")
B = h5py.File(f"{w}/m.h5", "r"); F = h5py.File(f"{w}/f.h5", "r"); S = h5py.File(f"{w}/sc1.h5", "r")
X = F["customers/X"][()]
check(np.array_equal(S["scores/customer"][()], F["customers/customer"][()]), "one score per feature row, same order")
sx = lambda v, t: np.where(t == 1, np.sign(v) * np.log1p(np.abs(v)), v)
Z = (sx(X, B["churn/transform"][()]) - B["churn/scaler_mean"][()]) / B["churn/scaler_scale"][()]
contrib = Z * B["churn/coef_std"][()]
z = B["churn"].attrs["intercept_std"] + contrib.sum(1)
p = 1 / (1 + np.exp(-z))
check(np.max(np.abs(p - S["scores/churn_probability"][()])) < 1e-12, "churn probability recomputed")
cut = B["churn/risk_cut"][()]
# tiers from the stored probabilities: the threshold is itself a customer's probability, so
# a 1-ulp difference in the recomputation could move that customer across the cut
tier = np.searchsorted(cut, S["scores/churn_probability"][()], side="right")
check(np.array_equal(tier, S["scores/risk_tier"][()]), "risk tiers from the documented cut points")
fi = B["segments/feature_index"][()]
Sg = (sx(X[:, fi], B["segments/transform"][()]) - B["segments/scaler_mean"][()]) / B["segments/scaler_scale"][()]
seg = np.argmin(((Sg[:, None, :] - B["segments/centroids"][()][None]) ** 2).sum(2), 1)
check(np.array_equal(seg, S["scores/segment"][()]), "segment = nearest centroid")
r, al, aa, bb = B["clv/bgnbd_params"][()]
x, tx, T = (F[f"customers/clv_{c}"][()] for c in ("x", "t_x", "T"))
pal = np.where(x > 0, 1 / (1 + aa / (bb + x - 1) * ((al + T) / (al + tx)) ** (r + x)), 1.0)
check(np.max(np.abs(pal - S["scores/p_alive"][()])) < 1e-10, "P(alive) from the BG/NBD closed form")
val = S["scores/value"][()]
check(np.array_equal(val, S["scores/clv"][()]), "value is the CLV when the bundle has one")
loss = S["scores/expected_loss"][()]
check(np.max(np.abs(loss - p * np.maximum(val, 0))) < 1e-9 * (1 + np.abs(loss).max()), "expected loss = p x value")
vc = S.attrs["value_tier_cuts"]
N = len(val); sv = np.sort(val)
check(vc[0] == sv[N // 2] and vc[1] == sv[N * 4 // 5], "value tier cut points are the exact global quantiles")
vt = np.where(val >= vc[1], 2, np.where(val >= vc[0], 1, 0))
check(np.array_equal(vt, S["scores/value_tier"][()]), "value tiers")
play = np.array([[0, 0, 1], [2, 3, 4], [3, 4, 5], [6, 4, 5]])  # docs/scoring.md playbook
check(np.array_equal(play[tier, vt], S["scores/action"][()]), "actions follow the playbook table")
rs = S["scores/reasons"][()]
ok = True
for i in range(0, N, 37):
    pos = [j for j in np.argsort(-contrib[i], kind="stable") if contrib[i, j] > 0][:3]
    ok &= list(rs[i][rs[i] >= 0]) == pos
check(ok, "reasons are the largest positive contributions")
rows = list(csv.DictReader(open(f"{w}/sc1.csv")))
check(len(rows) == N and rows[0]["customer"] == format(int(S["scores/customer"][0]), "016x"), "CSV has every customer")
wl = list(csv.DictReader(open(f"{w}/wl1.csv")))
order = sorted(range(N), key=lambda i: (-loss[i], int(S["scores/customer"][i])))[:50]
check([r["customer"] for r in wl] == [format(int(S["scores/customer"][i]), "016x") for i in order],
      "warning list = top 50 by expected loss")
# preferred category: recomputed from the store with pandas, named from the store's dictionary
A = F.attrs
pref = fref.reference(f"{w}/s.h5", int(A["cutoff_seconds"]), int(A["horizon_days"]),
                      int(A["lookback_days"]), False)["preferred_category"]
pc = S["scores/preferred_category"][()]
check(np.array_equal(pc, pref), f"preferred category = pandas recomputation from the store ({(pc >= 0).sum()} of {N} named)")
with h5py.File(f"{w}/s.h5", "r") as st:
    cats = [v.decode() for v in st["dict/category"][()]]
check([v.decode() for v in S["names/category"][()]] == cats and len(cats) > 1, f"/names/category = the store's {len(cats)} categories")
check([r["preferred_category"] for r in rows] == [cats[k] if k >= 0 else "" for k in pc],
      "CSV preferred_category holds the category name")
idx = {format(int(c), "016x"): i for i, c in enumerate(S["scores/customer"][()])}
check(all(r["preferred_category"] == (cats[pc[idx[r["customer"]]]] if pc[idx[r["customer"]]] >= 0 else "") for r in wl),
      "warning list carries the preferred category")
coupon = S["scores/action"][()] == 3
check(coupon.any() and (pc[coupon] >= 0).all(), f"every category_coupon customer has a category ({coupon.sum()} coupons)")
sys.exit(1 if bad else 0)
PY
[[ $fail == 0 ]] && echo "score_e2e: all checks passed"
exit $fail
