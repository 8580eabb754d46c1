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
# /clv@purchase_model: a BG/NBD bundle is written without it (older bundles have none); an
# explicit "bgnbd" scores the same, an unknown kind is a format error
"$RETAIN_PYTHON" - <<'PY' || die "purchase_model attribute setup"
import shutil, h5py
with h5py.File("m.h5", "r") as f:
    assert "purchase_model" not in f["clv"].attrs, "a BG/NBD bundle carries no purchase_model"
for name, kind in (("m_bg.h5", "bgnbd"), ("m_bad.h5", "gompertz")):
    shutil.copy("m.h5", name)
    with h5py.File(name, "a") as f:
        f["clv"].attrs["purchase_model"] = kind
PY
R 2 score --model m_bg.h5 --features f.h5 --out sc_bg.h5 -q || die "score with purchase_model = bgnbd"
h5diff -q sc1.h5 sc_bg.h5 /scores || die "purchase_model = bgnbd must score like a bundle without it"
R 1 score --model m_bad.h5 --features f.h5 --out x.h5 >/dev/null 2>&1; [[ $? == 4 ]] || die "an unknown purchase_model must exit 4"
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
# The NBD purchase model (what train writes when BG/NBD's maximum is on the no-dropout
# boundary, docs/clv.md): the same bundle with its purchase model swapped for NBD parameters
# is scored, shown, diffed, exported and reported with the NBD formulas.
"$RETAIN_PYTHON" - <<'PY' || die "NBD bundle setup"
import shutil, h5py, numpy as np
shutil.copy("m.h5", "m_nbd.h5")
with h5py.File("m_nbd.h5", "a") as f:
    c = f["clv"]
    del c["bgnbd_params"], c["bgnbd_stderr"]
    c["nbd_params"] = np.array([0.7, 9.5]); c["nbd_stderr"] = np.array([0.02, 0.4])
    c.attrs["purchase_model"] = "nbd"; c.attrs["nbd_loglik"] = -1234.5; c.attrs["nbd_converged"] = 1
PY
# an edited bundle no longer matches its content id: stamp the edited content as its own
"$RETAIN_BUNDLE_RESTAMP" m_nbd.h5 m_nbd.h5 || die "re-stamping the NBD bundle"
R 2 score --model m_nbd.h5 --features f.h5 --out sc_nbd.h5 -q || die "score with an NBD bundle"
R 1 model show m_nbd.h5 > show_nbd.txt 2>&1 || die "model show of an NBD bundle"
grep -q "NBD r 0.7 " show_nbd.txt || die "model show prints the NBD parameters: $(cat show_nbd.txt)"
R 1 model diff m.h5 m_nbd.h5 > diff_nbd.txt 2>&1 || die "model diff BG/NBD vs NBD"
grep -Eq "purchase model +BG/NBD +NBD" diff_nbd.txt && grep -Eq "^ +alpha +[0-9.]+ +9.5" diff_nbd.txt ||
  die "model diff shows both purchase models: $(cat diff_nbd.txt)"
R 1 export --model m_nbd.h5 --json m_nbd.json || die "JSON export of an NBD bundle"
R 1 report --store s.h5 --features f.h5 --model m_nbd.h5 --scores sc_nbd.h5 --out r_nbd.html -q || die "report with an NBD bundle"
grep -q "NBD purchase model" r_nbd.html || die "the report names the NBD purchase model"
"$RETAIN_PYTHON" - <<'PY' || fail=1
import json, h5py, numpy as np
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what); bad += 0 if ok else 1
B = h5py.File("m_nbd.h5", "r"); F = h5py.File("f.h5", "r"); S = h5py.File("sc_nbd.h5", "r")
c = B["clv"]
r, al = c["nbd_params"][()]
p, q, g = c["gg_params"][()]
H, k, d, mu = (c.attrs[a] for a in ("horizon_months", "periods_per_month", "discount_rate_monthly", "margin"))
x, T, mx = (F[f"customers/clv_{n}"][()] for n in ("x", "T", "mean_repeat_spend"))
em = np.where((x > 0) & (mx > 0), (g + x * mx) * p / (p * x + q - 1), p * g / (q - 1))
want = mu * em * (r + x) / (al + T) * k * sum((1 + d) ** -m for m in range(1, int(H) + 1))
got = S["scores/clv"][()]
check(np.all(S["scores/p_alive"][()] == 1.0), "NBD: P(alive) = 1")
check(np.max(np.abs(got - want) / np.abs(want)) < 1e-12, "NBD: CLV = margin E[M] (r+x)/(alpha+T) k sum (1+d)^-m")
check(np.array_equal(S["scores/value"][()], got), "NBD: the value behind the warnings is the CLV")
J = json.load(open("m_nbd.json"))["clv"]
check(J.get("purchase_model") == "nbd" and J["nbd"] == {"r": 0.7, "alpha": 9.5} and J["bgnbd"] is None
      and J["nbd_stderr"] == {"r": 0.02, "alpha": 0.4}, "JSON export: purchase_model, nbd, nbd_stderr, bgnbd null")
import sys; sys.exit(1 if bad else 0)
PY
[[ $fail == 0 ]] && echo "score_e2e: all checks passed"
exit $fail
