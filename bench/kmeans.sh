#!/bin/sh
# k-means benchmark (issue 6): 5e6 x 24 float64, k = 8.
#   - time per Lloyd iteration at 1 and 2 ranks against the memory-read bound, measured in
#     the same run by a read pass over the same rows (target <= 1.5x the bound);
#   - the whole fit against scikit-learn KMeans(algorithm='lloyd') from the same initial
#     centroids with the same number of iterations (target >= 4x faster on 2 ranks).
# usage: bench/kmeans.sh [BUILD_DIR] [WORK_DIR]    (N, D, K, ITERS may be overridden)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
work=${2:-${TMPDIR:-/tmp}/retain-bench-kmeans}
N=${N:-5000000}
D=${D:-24}
K=${K:-8}
ITERS=${ITERS:-20}
PY=${RETAIN_PYTHON:-/usr/bin/python3}
MPIEXEC=${RETAIN_MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
bench=$build/kmeans_bench
[ -x "$bench" ] || { echo "build kmeans_bench first (cmake --build $build --target kmeans_bench)" >&2; exit 2; }

echo "# load before the run: $(uptime)"
# overlapping Gaussian archetypes, so that Lloyd does not converge within ITERS
"$PY" - "$work" "$N" "$D" "$K" <<'EOF'
import sys, numpy as np
work, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(2024)
centres = rng.normal(0, 1.0, (k, d))
X = np.empty((n, d))
step = 1 << 20
for s in range(0, n, step):
    e = min(n, s + step)
    X[s:e] = centres[rng.integers(0, k, e - s)] + rng.normal(0, 1.0, (e - s, d))
with open(f"{work}/X.bin", "wb") as f:
    np.array([n, d], dtype=np.int64).tofile(f)
    X.tofile(f)
X[rng.choice(n, k, replace=False)].tofile(f"{work}/init.bin")
EOF

for np_ in 1 2; do
  # one BLAS thread per rank: ranks are the parallelism (scikit-learn keeps its own threads)
  OPENBLAS_NUM_THREADS=1 "$MPIEXEC" -n $np_ --allow-run-as-root --bind-to core "$bench" "$work/X.bin" "$work/init.bin" "$K" "$ITERS"
done | tee "$work/retain.jsonl"

# scikit-learn on the same data, same initial centroids, same number of iterations, with
# its default OpenMP threads (one per core)
"$PY" - "$work" "$K" "$ITERS" <<'EOF' | tee "$work/sklearn.jsonl"
import json, sys, time, numpy as np
from sklearn.cluster import KMeans
work, k, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f"{work}/X.bin", "rb") as f:
    n, d = np.fromfile(f, dtype=np.int64, count=2)
    X = np.fromfile(f, dtype=np.float64).reshape(n, d)
init = np.fromfile(f"{work}/init.bin").reshape(k, d)
best = None
for rep in range(2):
    t0 = time.perf_counter()
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0,
                algorithm="lloyd").fit(X)
    t = time.perf_counter() - t0
    best = t if best is None else min(best, t)
print(json.dumps({"what": "sklearn", "n_iter": int(km.n_iter_), "fit_s": round(best, 4),
                  "iter_ms": round(1e3 * best / km.n_iter_, 2), "inertia": km.inertia_}))
EOF

"$PY" - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(f"{work}/retain.jsonl")]
sk = json.loads(open(f"{work}/sklearn.jsonl").read())
bw = {r["ranks"]: r for r in rows if r["what"] == "bandwidth"}
print("\nranks kernel  iter_ms  bound_ms  ratio  fit_s  sklearn_fit_s  speedup  iters(retain/sklearn)")
for r in rows:
    if r["what"] != "fit":
        continue
    b = bw[r["ranks"]]
    print(f'{r["ranks"]:5d} {r["kernel"]:6s} {r["iter_ms"]:8.1f} {b["bound_ms"]:9.1f} '
          f'{r["iter_over_bound"]:6.2f} {r["fit_s"]:6.2f} {sk["fit_s"]:14.2f} '
          f'{sk["fit_s"] / r["fit_s"]:8.2f}  {r["n_iter"]}/{sk["n_iter"]}')
    rel = abs(r["inertia"] - sk["inertia"]) / sk["inertia"]
    if rel > 1e-9:
        print(f'  warning: inertia differs from scikit-learn by {rel:.2e} relative')
EOF
