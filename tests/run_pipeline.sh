#!/usr/bin/env bash
# retain run: stages, stamps (skip when up to date), overrides, --from, resume after a
# failure, unknown keys, and the Slurm task-count check.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/run_pipeline
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
fail=0
die() { echo "FAIL: $*"; fail=1; }
cat > job.ini <<'JOB'
[job]
name = test
output_dir = out
[generate]
customers = 800
days = 500
start = 2023-01-01
seed = 5
buckets = 16
[features]
cutoff = 2024-01-01
horizon = 90
JOB
R() { timeout 120 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }

out=$(R 2 run job.ini 2>&1) || die "first run: $out"
for f in out/store.h5 out/truth.h5 out/features.h5 out/.retain/data.json out/.retain/features.json; do
  [[ -e $f ]] || die "missing $f"
done
grep -q "stage features  running" <<<"$out" || die "features did not run: $out"
out=$(R 2 run job.ini 2>&1) || die "second run: $out"
[[ $(grep -c "up to date, skipped" <<<"$out") == 2 ]] || die "second run should skip both stages: $out"
out=$(R 3 run job.ini --set features.horizon=60 2>&1) || die "override run: $out"
grep -q "stage data      up to date" <<<"$out" || die "data should be skipped: $out"
grep -q "stage features  running.*--horizon 60" <<<"$out" || die "override not applied: $out"
out=$(R 1 run job.ini --set features.horizon=60 --from data 2>&1) || die "--from run: $out"
[[ $(grep -c " running" <<<"$out") == 2 ]] || die "--from data should re-run both: $out"
touch out/store.h5   # a replaced input invalidates the later stages
out=$(R 2 run job.ini --set features.horizon=60 2>&1) || die "touched run: $out"
grep -q "stage data      running" <<<"$out" || die "data should re-run when its output changed: $out"

# failure in a stage: non-zero exit, no partial output, and the re-run resumes there
rm -rf out2
out=$(RETAIN_INJECT_FAILURE=features:1 R 2 run job.ini --set job.output_dir=out2 2>&1); code=$?
[[ $code != 0 && $code != 124 ]] || die "injected failure exited $code"
[[ $(grep -c "error:" <<<"$out") == 1 ]] || die "one error line expected: $out"
grep -q "stage features: rank 1: injected failure" <<<"$out" || die "error names the stage and rank: $out"
[[ -e out2/store.h5 && ! -e out2/features.h5 && ! -e out2/.retain/features.json ]] || die "state after failure"
ls -a out2 | grep -q "\.tmp-" && die "temporary file left behind"
out=$(R 2 run job.ini --set job.output_dir=out2 2>&1) || die "resume: $out"
grep -q "stage data      up to date" <<<"$out" || die "resume should skip the finished stage: $out"
grep -q "stage features  running" <<<"$out" || die "resume should re-run the failed stage: $out"
R 1 run job.ini --set job.output_dir=out3 >/dev/null 2>&1 || die "reference run"
"$RETAIN_PYTHON" - <<'PYEOF' || die "resumed output differs from an uninterrupted run"
import h5py, numpy as np, sys
def walk(path):
    d = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return d
a, b = walk("out2/features.h5"), walk("out3/features.h5")
assert sorted(a) == sorted(b) and len(a) > 5
bad = [k for k in a if not np.array_equal(a[k], b[k])]
sys.exit(1 if bad else 0)
PYEOF

# a stop request at a stage boundary: exit 75, the next run resumes with the next stage
rm -rf out4
out=$(RETAIN_INJECT_STOP=run:0 R 2 run job.ini --set job.output_dir=out4 2>&1); code=$?
[[ $code == 75 ]] || die "stop request exited $code: $out"
grep -q "stopped on request after stage data" <<<"$out" || die "stop message: $out"
[[ -e out4/store.h5 && ! -e out4/features.h5 ]] || die "state after the stop"
out=$(R 2 run job.ini --set job.output_dir=out4 2>&1) || die "resume after stop: $out"
grep -q "stage data      up to date" <<<"$out" && grep -q "stage features  running" <<<"$out" || die "resume after stop: $out"

# typo in a key, bad stage name, missing job file
out=$(R 2 run job.ini --set features.horizn=60 2>&1); code=$?
[[ $code == 6 ]] || die "typo exit $code"
grep -q "unknown keys (typos?): features.horizn" <<<"$out" || die "typo message: $out"
grep -q "rank 0" <<<"$out" && die "a collective error should not name a rank: $out"
R 1 run job.ini --from nowhere >/dev/null 2>&1; [[ $? == 2 ]] || die "bad stage should exit 2"
R 1 run missing.ini >/dev/null 2>&1; [[ $? == 3 ]] || die "missing job file should exit 3"

# Slurm says 3 tasks, MPI has 2 ranks: refuse with exit 8
out=$(timeout 60 "${MPI[@]}" -n 2 -x SLURM_JOB_ID=1 -x SLURM_NTASKS=3 "$RETAIN_BIN" run job.ini 2>&1); code=$?
[[ $code == 8 ]] || die "SLURM_NTASKS mismatch exit $code: $out"
grep -q "SLURM_NTASKS=3" <<<"$out" || die "mismatch message: $out"
# an ingest job: CSV exports through the data stage, key and mapping fingerprinted as inputs
(umask 077 && head -c 32 /dev/urandom > ingest.key)
cat > ingest.ini <<JOB
[job]
output_dir = out-ingest
[ingest]
files = $RETAIN_SOURCE_DIR/data-samples/online-retail-sample.csv
mapping = $RETAIN_SOURCE_DIR/data-samples/online-retail.ini
key = ingest.key
buckets = 16
max-reject-rate = 0.5
[features]
cutoff = 2010-12-02
horizon = 1
lookback = 30
population = all
JOB
out=$(R 2 run ingest.ini 2>&1) || die "ingest job: $out"
grep -q "stage data      running: retain ingest --out out-ingest/store.h5 --mapping .*online-retail.ini --key ingest.key --buckets 16 --max-reject-rate 0.5 --rejects out-ingest/rejects.csv .*online-retail-sample.csv" <<<"$out" || die "ingest stage command: $out"
grep -q "stage features  running: .*--population all" <<<"$out" || die "features stage command: $out"
[[ -s out-ingest/store.h5 && -s out-ingest/rejects.csv && -s out-ingest/features.h5 ]] || die "ingest job outputs"
grep -q '"ingest.key"' out-ingest/.retain/data.json || die "the key file is not an input of the data stage"
touch ingest.key
out=$(R 2 run ingest.ini 2>&1) || die "ingest job re-run: $out"
grep -q "stage data      running" <<<"$out" || die "a changed key file must re-run the data stage: $out"

# the README's demo job, every stage: data -> features -> train -> score -> export -> report
out=$(R 2 run "$RETAIN_SOURCE_DIR/jobs/demo.job" --set job.output_dir=demo 2>&1) || die "demo job: $out"
for f in store.h5 truth.h5 features.h5 model.h5 scores.h5 scores.csv warning-list.csv model.onnx model.json report.html report/report.json report/cohorts.csv; do
  [[ -s demo/$f ]] || die "demo job did not write $f"
done
[[ $(wc -l < demo/warning-list.csv) == 101 ]] || die "demo warning list should hold 100 customers"
grep -q "AUC of the truth-based oracle" <<<"$out" || die "demo: no oracle AUC in the log"
grep -q "stage export    running: retain export --model demo/model.h5 --onnx demo/model.onnx --json demo/model.json" <<<"$out" ||
  die "demo: export stage command: $out"
# [export] keys: JSON only re-runs just the export stage; an invalid value is a job-file error
rm demo/model.onnx demo/model.json
out=$(R 1 run "$RETAIN_SOURCE_DIR/jobs/demo.job" --set job.output_dir=demo --set export.onnx=false 2>&1) || die "json-only export: $out"
grep -q "stage train     up to date" <<<"$out" && grep -q "stage export    running: retain export --model demo/model.h5 --json demo/model.json$" <<<"$out" ||
  die "json-only export should re-run only the export stage: $out"
[[ -s demo/model.json && ! -e demo/model.onnx ]] || die "json-only export outputs"
out=$(R 1 run "$RETAIN_SOURCE_DIR/jobs/demo.job" --set job.output_dir=demo --set export.json=maybe 2>&1); code=$?
[[ $code == 6 ]] && grep -q "\[export\] json must be true or false, not 'maybe'" <<<"$out" || die "bad export key: $code $out"

[[ $fail == 0 ]] && echo "run_pipeline: all checks passed"
exit $fail
