#!/usr/bin/env bash
# slurm.signal: preemption of real training under Slurm. slurm/retrain.sbatch runs a job
# file whose training takes several seconds on 2 tasks; once the log shows training
# iterations, the early-warning signal goes to the batch shell only (what
# --signal=B:USR1@120 does; sent here with `scancel --batch --signal=USR1`). The script must
# forward it to the job step; every rank stops at the next iteration boundary, the
# checkpoint OUTPUT_DIR/.retain/train.ckpt is written, retain exits 75, the script requeues
# the job, and the restart resumes training from the checkpoint (the stamps skip data and
# features). The final model must equal the model of an uninterrupted run.
source "$(dirname "$0")/slurm_common.sh"
slurm_setup slurm_signal "${RETAIN_SLURM_TEST_PORT:-17837}"

cat >job.ini <<'EOF_JOB'
[job]
name = slurm-signal
output_dir = out
seed = 5
[generate]
customers = 20000
days = 500
start = 2023-01-01
buckets = 16
[features]
cutoff = 2023-10-01
horizon = 60
[train]
; a k scan with many restarts: seconds of Lloyd iterations on 2 tasks even in a fast
; build, so the signal always lands during training
k = 2:5
n-init = 12
tol = 1e-12
EOF_JOB

id=$(slurm_submit -n 2 -D "$W" -o slurm.out "$SBATCH_SCRIPT" job.ini) || fatal "sbatch"
for ((t = 0; t < 2400; t++)); do
    grep -q "train: segments fit" slurm.out 2>/dev/null && break
    slurm_state_final "$(slurm_field "$id" JobState)" && break
    sleep 0.1
done
grep -q "train: segments fit" slurm.out || fatal "training iterations never showed in the log: $(cat slurm.out)"
grep -q "train: churn iteration 1/" slurm.out || die "no churn progress line"
scancel --batch --signal=USR1 "$id" || fatal "scancel --batch --signal=USR1 failed"
echo "sent USR1 to the batch shell of job $id during training"

st=$(slurm_wait_done "$id" 480)
echo "job $id ended: $st, Restarts=$(slurm_field "$id" Restarts), ExitCode=$(slurm_field "$id" ExitCode)"
[[ $st == COMPLETED ]] || die "job state $st"
[[ $(slurm_field "$id" Restarts) == 1 ]] || die "Restarts=$(slurm_field "$id" Restarts), expected 1"

out=$(cat slurm.out)
first=${out%%SLURM_RESTART_COUNT=1*}
second=${out#"$first"}
grep -q "received SIGUSR1: asking retain to stop" <<<"$first" || die "batch shell did not forward USR1"
grep -q "training stopped on request at [a-z-]* [0-9]*; checkpoint 'out/.retain/train.ckpt' written" <<<"$first" ||
    die "training did not stop at an iteration boundary with a checkpoint"
grep -q "retain job $id: stopped at a checkpoint (exit 75)" <<<"$first" || die "exit 75 not reported"
grep -q "requeued job $id" <<<"$first" || die "the script did not requeue the job"
grep -q "restart: job $id start 2 (SLURM_RESTART_COUNT=1)" <<<"$out" || die "restart not logged"
grep -q "stage data      up to date, skipped" <<<"$second" || die "restart re-ran the data stage"
grep -q "stage features  up to date, skipped" <<<"$second" || die "restart re-ran the features stage"
grep -q "train: resuming from checkpoint 'out/.retain/train.ckpt'" <<<"$second" || die "training did not resume from the checkpoint"
grep -q "retain job $id: finished" <<<"$second" || die "no final summary"
[[ -e out/.retain/train.ckpt ]] && die "checkpoint left after the finished run"
grep "resuming from checkpoint" <<<"$second"

# the same job without interruption (outside Slurm; results do not depend on the rank count)
timeout 600 "$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS -n 2 "$RETAIN_BIN" run job.ini \
    --set job.output_dir=uninterrupted -q || die "uninterrupted run"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/checkpoint_compare.py" uninterrupted/model.h5 out/model.h5 ||
    die "the preempted and resumed model differs from the uninterrupted one"
((fail)) && echo "--- job output" && cat slurm.out

((fail == 0)) && echo "slurm_signal: all checks passed"
exit $fail
