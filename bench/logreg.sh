#!/bin/sh
# Logistic regression benchmark (issue 5), synthetic float64 rows, 24 columns:
#   - memory-read bandwidth of this machine measured in the same run (bench/membw.c) at 1
#     and 2 ranks, and a plain read pass over the solver's own copy of the rows;
#   - time per data pass (objective + gradient) at 1 and 2 ranks for 5e6 and 2e7 rows,
#     against the bound (X bytes / bandwidth; target <= 1.3x);
#   - the whole fit (standardization, copy, L-BFGS to tol) against scikit-learn
#     LogisticRegression(lbfgs) on the same 5e6 rows (target >= 4x faster on 2 ranks); the
#     objectives reached are printed side by side (ours must not be worse).
# usage: bench/logreg.sh [BUILD_DIR] [WORK_DIR]   (SIZES, D, LAMBDA, TOL, REPS may be overridden)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
work=${2:-${TMPDIR:-/tmp}/retain-bench-logreg}
SIZES=${SIZES:-"5000000 20000000"}
D=${D:-24}
LAMBDA=${LAMBDA:-1e-4}
TOL=${TOL:-1e-6}
REPS=${REPS:-10}
PY=${RETAIN_PYTHON:-/usr/bin/python3}
MPIEXEC=${RETAIN_MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
bench=$build/logreg_bench
membw=$build/membw
for exe in "$bench" "$membw"; do
  [ -x "$exe" ] || { echo "build $(basename "$exe") first (cmake --build $build --target $(basename "$exe"))" >&2; exit 2; }
done

echo "# load before the run: $(uptime)"
out=$work/retain.jsonl
: > "$out"
for np_ in 1 2; do
  "$MPIEXEC" -n $np_ --bind-to core "$membw" 1024 | sed 's/^{/{"what":"membw",/' | tee -a "$out"
done
for n in $SIZES; do
  for np_ in 1 2; do
    OPENBLAS_NUM_THREADS=1 "$MPIEXEC" -n $np_ --bind-to core "$bench" passes "$n" "$D" "$REPS" | tee -a "$out"
    OPENBLAS_NUM_THREADS=1 "$MPIEXEC" -n $np_ --bind-to core "$bench" fit "$n" "$D" "$LAMBDA" "$TOL" | tee -a "$out"
  done
done

# scikit-learn on the same 5e6 rows (written by the same generator)
n0=$(echo "$SIZES" | awk '{print $1}')
"$MPIEXEC" -n 1 "$bench" write "$n0" "$D" "$work"
"$PY" - "$work" "$n0" "$D" "$LAMBDA" <<'EOF' | tee "$work/sklearn.jsonl"
import json, sys, time, warnings
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
work, n, d, lam = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
X = np.fromfile(f"{work}/X.bin", dtype=np.float64).reshape(n, d)
y = np.fromfile(f"{work}/y.bin", dtype=np.int8)
best = None
for rep in range(2):
    t0 = time.perf_counter()
    Xs = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr = LogisticRegression(C=1.0 / (lam * n), solver="lbfgs", tol=1e-8,
                                max_iter=1000).fit(Xs, y)
    t = time.perf_counter() - t0
    best = t if best is None else min(best, t)
z = lr.intercept_[0] + Xs @ lr.coef_[0]
obj = np.mean(np.logaddexp(0, z) - y * z) + 0.5 * lam * lr.coef_[0] @ lr.coef_[0]
print(json.dumps({"what": "sklearn", "rows": n, "fit_s": round(best, 3),
                  "n_iter": int(lr.n_iter_[0]), "objective": obj}))
EOF
rm -f "$work/X.bin" "$work/y.bin"

"$PY" - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(f"{work}/retain.jsonl")]
sk = json.loads(open(f"{work}/sklearn.jsonl").read())
bw = {r["ranks"]: r["gb_per_s"] for r in rows if r["what"] == "membw"}
print("\nbandwidth (membw): " + ", ".join(f"{k} rank(s) {v:.1f} GB/s" for k, v in sorted(bw.items())))
print("\nrows       ranks  pass_ms  bound_ms  ratio  read_own_ms  fit_s  iters  passes  objective")
fits = {(r["rows"], r["ranks"]): r for r in rows if r["what"] == "fit"}
for r in rows:
    if r["what"] != "pass":
        continue
    bound = r["x_bytes"] / (bw[r["ranks"]] * 1e9)
    f = fits[(r["rows"], r["ranks"])]
    print(f'{r["rows"]:<10d} {r["ranks"]:5d} {1e3 * r["pass_min_s"]:8.1f} {1e3 * bound:9.1f} '
          f'{r["pass_min_s"] / bound:6.2f} {1e3 * r["read_min_s"]:12.1f} {f["seconds"]:6.2f} '
          f'{f["iterations"]:6d} {f["evaluations"]:7d}  {f["objective"]:.12f}')
print(f'\nscikit-learn lbfgs, {sk["rows"]} rows: {sk["fit_s"]:.2f} s, {sk["n_iter"]} iterations, '
      f'objective {sk["objective"]:.12f}')
for np_ in (1, 2):
    f = fits.get((sk["rows"], np_))
    if f:
        better = f["objective"] <= sk["objective"] * (1 + 1e-12)
        print(f'retain {np_} rank(s): {f["seconds"]:.2f} s -> {sk["fit_s"] / f["seconds"]:.1f}x '
              f'faster than scikit-learn; objective {"not worse" if better else "WORSE"} '
              f'({f["objective"] - sk["objective"]:+.3e})')
EOF
