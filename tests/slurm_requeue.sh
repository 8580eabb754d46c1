#!/usr/bin/env bash
# slurm.requeue: slurm/retrain.sbatch on a real (local) Slurm cluster, preempted with
# `scontrol requeue` while the features stage runs. The job must restart by itself
# (SLURM_RESTART_COUNT=1), skip the data stage on the restart (its stamp is valid), and end
# with outputs identical, dataset by dataset, to an uninterrupted run with mpiexec. Two
# outcomes of the first start are valid: retain catches the SIGTERM and stops cleanly at the
# next stage boundary (exit 75), or Slurm's SIGKILL ends the features stage mid-way; the
# restart must then skip exactly the stages that finished.
# RETAIN_SLURM_TEST_CUSTOMERS sizes the generated store.
source "$(dirname "$0")/slurm_common.sh"
# KillWait=1: a stage that cannot checkpoint (features) is killed as soon as Slurm allows
# after the requeue's SIGTERM (slurmd waits at least 5 s) rather than after 30 s.
slurm_setup slurm_requeue "${RETAIN_SLURM_TEST_PORT:-17817}" --kill-wait 1

customers=${RETAIN_SLURM_TEST_CUSTOMERS:-300000}
cat >job.ini <<EOF
[job]
name = slurm-requeue
output_dir = out-slurm
seed = 11
[generate]
customers = $customers
days = 730
start = 2023-01-01
buckets = 64
[features]
cutoff = 2024-07-01
horizon = 90
lookback = 365
EOF

# the reference: the same job file, uninterrupted, straight through mpiexec
t0=$(date +%s)
timeout 300 "$RETAIN_MPIEXEC" -n 2 $RETAIN_MPIEXEC_FLAGS "$RETAIN_BIN" run job.ini \
    --set job.output_dir=out-ref >ref.log 2>&1 || fatal "reference run failed: $(tail -n 20 ref.log)"
echo "reference run (mpiexec -n 2, $customers customers): $(($(date +%s) - t0)) s"

id=$(slurm_submit --ntasks=2 -D "$W" -o "$W/slurm.out" "$SBATCH_SCRIPT" job.ini) || fatal "sbatch failed"
[[ $id =~ ^[0-9]+$ ]] || fatal "sbatch printed '$id'"
echo "submitted job $id"

# preempt as soon as the data stage has its stamp, i.e. while the features stage runs
t0=$(date +%s)
for ((t = 0; t < 2400; t++)); do
    [[ -e out-slurm/.retain/data.json ]] && break
    st=$(slurm_field "$id" JobState)
    slurm_state_final "$st" && fatal "job left the queue ($st) before the data stage ended: $(cat slurm.out)"
    sleep 0.1
done
[[ -e out-slurm/.retain/data.json ]] || fatal "data stage did not finish within 240 s: $(cat slurm.out)"
# Slurm lets the job's processes run at least 5 s after the requeue's SIGTERM, and the
# features stage of a store this size can finish within that grace when the store is in
# the page cache. To make sure the stage is still running when the SIGKILL comes, the
# ranks are throttled (stopped 90% of the time) from here on, as on a much bigger store.
ranks=$(scontrol listpids "$id" 2>/dev/null | awk 'NR > 1 {print $1}' |
    while read -r p; do [[ $(ps -o comm= -p "$p" 2>/dev/null) == retain ]] && echo "$p"; done)
[[ -n $ranks ]] || fatal "no retain processes found in job $id"
# shellcheck disable=SC2086
(while kill -0 $ranks 2>/dev/null; do
    kill -STOP $ranks 2>/dev/null; sleep 0.45; kill -CONT $ranks 2>/dev/null; sleep 0.05
done) &
throttle=$!
scontrol requeue "$id" || fatal "scontrol requeue $id failed"
features_done_at_requeue=0
[[ -e out-slurm/.retain/features.json ]] && features_done_at_requeue=1
echo "requeued job $id after $(($(date +%s) - t0)) s (data stage stamped)"

st=$(slurm_wait_done "$id" 400)
kill "$throttle" 2>/dev/null
echo "job $id ended: $st, Restarts=$(slurm_field "$id" Restarts), ExitCode=$(slurm_field "$id" ExitCode)"
[[ $st == COMPLETED ]] || die "job state $st"
[[ $(slurm_field "$id" Restarts) == 1 ]] || die "Restarts=$(slurm_field "$id" Restarts), expected 1"
[[ $(slurm_field "$id" ExitCode) == 0:0 ]] || die "ExitCode=$(slurm_field "$id" ExitCode)"

# the output file holds both starts (--open-mode=append)
out=$(cat slurm.out)
first=${out%%SLURM_RESTART_COUNT=1*}
second=${out#"$first"}
grep -q "start: job $id (SLURM_RESTART_COUNT=0)" <<<"$first" || die "first start not logged"
grep -q "restart: job $id start 2 (SLURM_RESTART_COUNT=1)" <<<"$out" || die "restart not logged"
[[ $second != "$out" ]] || die "no SLURM_RESTART_COUNT=1 in the output"
grep -q "stage data      running" <<<"$first" || die "first start did not run the data stage"
grep -q "stage features  running" <<<"$first" || die "first start did not reach the features stage"
if grep -q "stopped on request after stage" <<<"$first"; then
    # retain caught Slurm's SIGTERM and stopped cleanly at the next stage boundary (exit 75)
    # before the SIGKILL: every finished stage has its stamp and the restart skips them
    echo "first start stopped cleanly at a stage boundary after the SIGTERM"
    grep -q "retain job $id: stopped at a checkpoint (exit 75)" <<<"$first" || die "first start: no exit-75 summary"
    grep -q "stage data      up to date, skipped" <<<"$second" || die "restart did not skip the data stage"
    grep -q "stage data      running" <<<"$second" && die "restart re-ran the data stage"
    if grep -q "stopped on request after stage features" <<<"$first"; then
        grep -q "stage features  up to date, skipped" <<<"$second" || die "restart did not skip the finished features stage"
    else
        grep -q "stage features  running" <<<"$second" || die "restart did not run the features stage"
    fi
else
    # the SIGKILL ended the features stage mid-way: no stamp, so the restart re-runs it
    echo "first start was killed during the features stage"
    if ((features_done_at_requeue)) || grep -q "features: wrote" <<<"$first"; then
        die "the features stage finished before the requeue took effect; raise RETAIN_SLURM_TEST_CUSTOMERS"
    fi
    grep -q "stage data      up to date, skipped" <<<"$second" || die "restart did not skip the data stage"
    grep -q "stage data      running" <<<"$second" && die "restart re-ran the data stage"
    grep -q "retain job $id: ended by SIGTERM from Slurm" <<<"$first" || die "first start: no summary naming the SIGTERM"
    if grep -q "stage features  up to date, skipped" <<<"$second"; then
        # the SIGKILL came after the features stage had written its output and stamp (its
        # last log lines can be lost with the process): then the restart must skip it, and
        # the file must be the first start's, untouched by the restart
        # (the restart line itself straddles the first/second split, so search all of it)
        restart_at=$(sed -n 's/^\[retrain \([^]]*\)\] restart:.*/\1/p' <<<"$out" | head -n 1)
        [[ -n $restart_at ]] || die "restart time not logged"
        (( $(stat -c %Y out-slurm/features.h5) <= $(date -d "$restart_at" +%s) )) ||
            die "features.h5 was rewritten although the restart skipped the stage"
        grep -q "stages: data: skipped  features: skipped" <<<"$second" || die "summary stage list missing"
    else
        grep -q "stage features  running" <<<"$second" || die "restart did not re-run the interrupted features stage"
        grep -q "stages: data: skipped  features: ran" <<<"$second" || die "summary stage list missing"
    fi
fi
grep -q "retain job $id: finished" <<<"$second" || die "no final summary"
[[ $(grep -c "retain job $id: finished" <<<"$out") == 1 ]] || die "more than one finished summary"

# every dataset of every output equals the uninterrupted run's
"$RETAIN_PYTHON" - out-ref out-slurm store.h5 truth.h5 features.h5 <<'PY' || die "outputs differ"
import sys, h5py, numpy as np
ref, got, names = sys.argv[1], sys.argv[2], sys.argv[3:]
bad = 0
for name in names:
    def datasets(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        return out
    a, b = datasets(f"{ref}/{name}"), datasets(f"{got}/{name}")
    if sorted(a) != sorted(b):
        print(f"{name}: dataset lists differ: {sorted(set(a) ^ set(b))}")
        bad += 1
        continue
    for k in sorted(a):
        x, y = np.asarray(a[k]), np.asarray(b[k])
        # bitwise for numbers; element values for variable-length strings/objects
        same = x.dtype == y.dtype and x.shape == y.shape and (
            x.tolist() == y.tolist() if x.dtype.hasobject else x.tobytes() == y.tobytes())
        if not same:
            print(f"{name}:{k}: differs (dtype {x.dtype}/{y.dtype}, shape {x.shape}/{y.shape})")
            bad += 1
    print(f"{name}: {len(a)} datasets compared")
sys.exit(1 if bad else 0)
PY

if ((fail == 0)); then
    rm -rf out-ref out-slurm # a few hundred MB
    echo "slurm_requeue: all checks passed"
fi
exit $fail
