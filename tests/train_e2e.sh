#!/usr/bin/env bash
# retain train end to end on generated data: bitwise-identical bundles at 1, 2, 3, 4 ranks;
# churn coefficients against scikit-learn on the same rows; metrics recomputed
# independently; archetype recovery against the truth file and against scikit-learn's
# KMeans on the same features; BG/NBD log-likelihood recomputed; warm start.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/train_e2e
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
R 2 generate --customers 6000 --days 730 --seed 11 --buckets 32 --out s.h5 --truth t.h5 -q || die generate
R 2 features --store s.h5 --cutoff 2024-07-01 --horizon 90 --out f.h5 -q || die features
ARGS=(--features f.h5 --truth t.h5 --k 5 --segment-features behavior --tol 1e-10 --seed 7)
for np in 1 2 3 4; do
  R $np train "${ARGS[@]}" --out b$np.h5 --summary sum$np.json > log$np.txt 2>&1 || { die "train at $np ranks"; cat log$np.txt; }
done
grep -q "AUC of the truth-based oracle" log2.txt || die "oracle AUC not reported"
grep -q "adjusted Rand index" log2.txt || die "ARI not reported"
R 2 train "${ARGS[@]}" --warm-start b1.h5 --out warm.h5 > logw.txt 2>&1 || die "warm start"
grep -q "warm-started" logw.txt || die "warm start not used"
R 1 train --features f.h5 --out x.h5 --k 0 >/dev/null 2>&1; [[ $? == 2 ]] || die "--k 0 must be a usage error"
R 1 train --features f.h5 --out x.h5 --segment-features nosuch >/dev/null 2>&1; [[ $? == 2 ]] || die "unknown segment feature must be a usage error"
R 1 train --features missing.h5 --out x.h5 >/dev/null 2>&1; [[ $? == 3 ]] || die "missing features file must exit 3"
# the quarterly review: show and diff
out=$("$RETAIN_BIN" model show b1.h5 2>&1) || die "model show: $out"
auc=$("$RETAIN_PYTHON" -c "import h5py; print('%.4f' % h5py.File('b1.h5','r')['churn/metrics/test'].attrs['roc_auc'])")
grep -q "^  test .* $auc " <<<"$out" || die "model show lacks the test AUC $auc: $out"
grep -q "ARI vs truth" <<<"$out" || die "model show lacks the segment table"
out=$("$RETAIN_BIN" model diff b1.h5 warm.h5 2>&1) || die "model diff: $out"
grep -q "segments (matched by stable id)" <<<"$out" || die "model diff output: $out"
"$RETAIN_BIN" model show f.h5 >/dev/null 2>&1; [[ $? == 4 ]] || die "model show on a features file must exit 4"
"$RETAIN_BIN" model frobnicate b1.h5 >/dev/null 2>&1; [[ $? == 2 ]] || die "unknown model subcommand must exit 2"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/train_check.py" "$W" || fail=1
[[ $fail == 0 ]] && echo "train_e2e: all checks passed"
exit $fail
