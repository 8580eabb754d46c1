#!/usr/bin/env bash
# Fixture of the export tests (tests/export.cmake): a pipeline of 15,000 generated
# customers (>= 10^4 feature rows), bundles with every model, churn only and segments only,
# the scores of `retain score`, the exports, and the features and expected outputs as
# plain little-endian binary files for the ONNX Runtime test.
set -eu
W=${RETAIN_TEST_TMP:-$PWD}/export
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
R 2 generate --customers 15000 --days 730 --seed 11 --buckets 32 --out s.h5 --truth t.h5 -q
R 2 features --store s.h5 --cutoff 2024-07-01 --horizon 90 --out f.h5 -q
R 2 train --features f.h5 --out m.h5 --k 5 -q
R 2 train --features f.h5 --out m-churn.h5 --models churn -q
R 2 train --features f.h5 --out m-seg.h5 --models segments --k 4 -q
R 2 train --features f.h5 --out m-clv.h5 --models clv -q
# no transform in the churn model, a log1p on every segment feature: the other graph shapes
R 2 train --features f.h5 --out m-alt.h5 --models churn,segments --churn-transforms none \
  --segment-features frequency:log1p,monetary_mean:log1p,recency_days:log1p --k 3 -q
R 2 score --model m.h5 --features f.h5 --out sc.h5 --csv sc.csv -q
R 1 score --model m-churn.h5 --features f.h5 --out sc-churn.h5 -q
R 1 score --model m-alt.h5 --features f.h5 --out sc-alt.h5 -q
R 1 export --model m.h5 --onnx m.onnx --json m.json -q
R 2 export --model m-churn.h5 --onnx m-churn.onnx --json m-churn.json -q
R 1 export --model m-seg.h5 --onnx m-seg.onnx --json m-seg.json -q
R 1 export --model m-alt.h5 --onnx m-alt.onnx -q
"$RETAIN_PYTHON" - <<'PY'
import h5py, numpy as np
F = h5py.File("f.h5", "r")
X = F["customers/X"][()]
X.astype("<f8").tofile("features.f64")
np.array(X.shape, dtype="<i8").tofile("features.shape")
np.stack([F["customers/" + k][()] for k in ("clv_x", "clv_t_x", "clv_T", "clv_mean_repeat_spend")],
         axis=1).astype("<f8").tofile("clv.f64")
def seg_ids(bundle, seg):
    ids = h5py.File(bundle, "r")["segments/id"][()].astype("<i8")
    return ids[seg]
S = h5py.File("sc.h5", "r")
S["scores/churn_probability"][()].astype("<f8").tofile("expected-p.f64")
seg_ids("m.h5", S["scores/segment"][()]).tofile("expected-segment.i64")
h5py.File("sc-churn.h5", "r")["scores/churn_probability"][()].astype("<f8").tofile("expected-p-churn.f64")
Sa = h5py.File("sc-alt.h5", "r")
Sa["scores/churn_probability"][()].astype("<f8").tofile("expected-p-alt.f64")
seg_ids("m-alt.h5", Sa["scores/segment"][()]).tofile("expected-segment-alt.i64")
# segments-only bundle (retain score needs a churn model): the documented nearest-centroid rule
B = h5py.File("m-seg.h5", "r")
fi = B["segments/feature_index"][()]
sx = lambda v, t: np.where(t == 1, np.sign(v) * np.log1p(np.abs(v)), v)
Z = (sx(X[:, fi], B["segments/transform"][()]) - B["segments/scaler_mean"][()]) / B["segments/scaler_scale"][()]
dist = ((Z[:, None, :] - B["segments/centroids"][()][None]) ** 2).sum(2)
seg_ids("m-seg.h5", np.argmin(dist, 1)).tofile("expected-segment-seg.i64")
# synthetic customers at the edges of the signed log1p: zeros, signed zeros, values so small
# that 1 + x == 1, negatives, huge values; expected outputs from numpy's log1p (an oracle
# independent of the graph's log(u) * a / (u - 1))
rng = np.random.default_rng(5)
edge = np.array([0.0, -0.0, 1e-300, -1e-300, 1e-17, -1e-17, 3e-16, 1e-9, -1e-9, 0.5, -0.5, -3.0, -250.0, 1e6, 1e12, -1e12])
Xs = np.where(rng.random((4000, X.shape[1])) < 0.5, rng.choice(edge, (4000, X.shape[1])),
              X[rng.integers(0, X.shape[0], 4000)] * rng.choice([-1.0, 1.0], (4000, X.shape[1])))
Xs.astype("<f8").tofile("synthetic.f64")
B = h5py.File("m.h5", "r")
Z = (sx(Xs, B["churn/transform"][()]) - B["churn/scaler_mean"][()]) / B["churn/scaler_scale"][()]
z = B["churn"].attrs["intercept_std"] + Z @ B["churn/coef_std"][()]
with np.errstate(over="ignore"):
    (1 / (1 + np.exp(-z))).astype("<f8").tofile("expected-p-synthetic.f64")
fi = B["segments/feature_index"][()]
Zs = (sx(Xs[:, fi], B["segments/transform"][()]) - B["segments/scaler_mean"][()]) / B["segments/scaler_scale"][()]
dist = ((Zs[:, None, :] - B["segments/centroids"][()][None]) ** 2).sum(2)
seg_ids("m.h5", np.argmin(dist, 1)).tofile("expected-segment-synthetic.i64")
print(f"export fixture: {X.shape[0]} customers, {X.shape[1]} features")
PY
echo "export fixture ready in $W"
