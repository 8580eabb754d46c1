# Shared by the report tests: a small synthetic pipeline (store -> features -> model ->
# scores) in the current directory, in a few seconds.
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
report_pipeline() {
  R 2 generate --customers 3000 --days 730 --start 2023-01-01 --seed 7 --buckets 32 --out s.h5 --truth t.h5 -q || die generate
  R 2 features --store s.h5 --cutoff 2024-07-01 --horizon 90 --out f.h5 -q || die features
  R 2 train --features f.h5 --out m.h5 --k 5 -q || die train
  R 2 score --model m.h5 --features f.h5 --out sc.h5 -q || die score
}
