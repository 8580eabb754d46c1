#!/usr/bin/env bash
# The k-means assignment kernels (scalar, AVX2, AVX-512) must give the same centroids,
# labels and inertia bit for bit (docs/segmentation.md): fits on
# several shapes under each instruction set (RETAIN_KMEANS_ISA caps it) are compared.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/kmeans_isa
rm -rf "$W"; mkdir -p "$W"; cd "$W"
TOOL=$1
fail=0
# "dup": two equal initial centroids, so every row's first assignment is an exact tie
for shape in "5003 9 6" "4096 7 8" "2001 9 12" "3001 24 6" "777 16 3" "1003 9 6 dup"; do
  read -r n d k dup <<<"$shape"
  base=$W/n$n-d$d-k$k$dup
  mkdir -p "$base"
  "$RETAIN_PYTHON" - "$base" "$n" "$d" "$k" "$dup" <<'PY'
import sys, numpy as np
out, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dup = sys.argv[5] == "dup"
rng = np.random.default_rng(n * 31 + d * 7 + k)
C = rng.normal(0, 3, (k, d))
X = C[rng.integers(0, k, n)] + rng.normal(0, 1, (n, d))
X[5] = X[6]  # exact duplicates and ties
with open(f"{out}/X.bin", "wb") as f:
    np.array([n, d], dtype=np.int64).tofile(f)
    X.astype(np.float64).tofile(f)
I = X[rng.choice(n, k, replace=False)]
if dup:
    I[k - 1] = I[1]
I.tofile(f"{out}/init.bin")
PY
  for isa in 0 1 2; do
    mkdir -p "$base/isa$isa"
    cp "$base/X.bin" "$base/init.bin" "$base/isa$isa/"
    RETAIN_KMEANS_ISA=$isa "$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS -x RETAIN_KMEANS_ISA -n 1 \
      "$TOOL" fit "$base/isa$isa" "$k" 30 0 fused init >/dev/null || { echo "FAIL: fit $shape isa $isa"; fail=1; }
  done
  for isa in 1 2; do
    for f in centroids.bin labels.bin info.txt; do  # info.txt: inertia (17 digits), iterations
      cmp -s "$base/isa0/$f" "$base/isa$isa/$f" ||
        { echo "FAIL: n=$n d=$d k=$k: $f differs between the scalar kernel and ISA level $isa"; fail=1; }
    done
  done
  [[ -s $base/isa0/centroids.bin ]] || { echo "FAIL: no output for $shape"; fail=1; }
done
[[ $fail == 0 ]] && echo "kmeans_isa: every kernel gives the same bits"
exit $fail
