#!/usr/bin/env bash
# slurm.signal: the checkpoint path of slurm/retrain.sbatch. The early-warning signal goes
# to the batch shell only (what --signal=B:USR1@120 does; sent here with
# `scancel --batch --signal=USR1`); the script must forward it to the job step, see exit 75,
# requeue the job itself, and the next start must resume (stamps skip the finished stages).
# `retain run` has no checkpointing stage yet, so the step is a small wrapper: the real
# `retain run` (data + features) followed by a stand-in for an iterative training stage that
# stops with exit 75 on SIGUSR1 and, after a restart, reports that it resumed.
source "$(dirname "$0")/slurm_common.sh"
slurm_setup slurm_signal "${RETAIN_SLURM_TEST_PORT:-17837}"

cat >job.ini <<'EOF'
[job]
name = slurm-signal
output_dir = out
seed = 5
[generate]
customers = 2000
days = 400
start = 2023-01-01
buckets = 16
[features]
cutoff = 2023-10-01
horizon = 60
EOF
cat >retain-wrapper <<EOF
#!/bin/bash
"$RETAIN_BIN" "\$@" || exit \$?
case " \$* " in *" --dry-run "*) exit 0 ;; esac
if [[ \${SLURM_RESTART_COUNT:-0} == 0 ]]; then
    trap 'echo "train stand-in: rank \$SLURM_PROCID: stop requested, checkpoint written"; exit 75' USR1
    echo "train stand-in: rank \$SLURM_PROCID iterating"
    for ((i = 0; i < 1200; i++)); do sleep 0.1; done
    echo "train stand-in: rank \$SLURM_PROCID was never signalled"
    exit 0
fi
echo "train stand-in: rank \$SLURM_PROCID resumed from the checkpoint"
EOF
chmod +x retain-wrapper

id=$(RETAIN=$W/retain-wrapper slurm_submit -n 2 -D "$W" -o slurm.out "$SBATCH_SCRIPT" job.ini) || fatal "sbatch"
for ((t = 0; t < 1200; t++)); do
    [[ $(grep -c "train stand-in: rank . iterating" slurm.out 2>/dev/null) == 2 ]] && break
    sleep 0.1
done
[[ $(grep -c "train stand-in: rank . iterating" slurm.out) == 2 ]] || fatal "stand-in never started: $(cat slurm.out)"
scancel --batch --signal=USR1 "$id" || fatal "scancel --batch --signal=USR1 failed"
echo "sent USR1 to the batch shell of job $id"

st=$(slurm_wait_done "$id" 240)
echo "job $id ended: $st, Restarts=$(slurm_field "$id" Restarts), ExitCode=$(slurm_field "$id" ExitCode)"
[[ $st == COMPLETED ]] || die "job state $st"
[[ $(slurm_field "$id" Restarts) == 1 ]] || die "Restarts=$(slurm_field "$id" Restarts), expected 1"

out=$(cat slurm.out)
first=${out%%SLURM_RESTART_COUNT=1*}
second=${out#"$first"}
grep -q "received SIGUSR1: asking retain to stop" <<<"$first" || die "batch shell did not forward USR1"
[[ $(grep -c "stop requested, checkpoint written" <<<"$first") == 2 ]] || die "not every rank got SIGUSR1"
grep -q "retain job $id: stopped at a checkpoint (exit 75)" <<<"$first" || die "exit 75 not reported"
grep -q "requeued job $id" <<<"$first" || die "the script did not requeue the job"
grep -q "never signalled" <<<"$out" && die "a rank ran to the end without the signal"
grep -q "restart: job $id start 2 (SLURM_RESTART_COUNT=1)" <<<"$out" || die "restart not logged"
grep -q "stage data      up to date, skipped" <<<"$second" || die "restart re-ran the data stage"
grep -q "stage features  up to date, skipped" <<<"$second" || die "restart re-ran the features stage"
[[ -n $second && $(grep -c "resumed from the checkpoint" <<<"$second") == 2 ]] || die "ranks did not resume"
grep -q "retain job $id: finished" <<<"$second" || die "no final summary"
((fail)) && echo "--- job output" && cat slurm.out

((fail == 0)) && echo "slurm_signal: all checks passed"
exit $fail
