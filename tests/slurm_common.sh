# Sourced by the tests/slurm_*.sh tests: starts a private one-node Slurm cluster with
# scripts/slurm-local.sh in the test's work directory and always stops it again.
#   slurm_setup NAME PORT [slurm-local.sh start options]  work dir $W (cwd), cluster up, SLURM_CONF exported
#   slurm_submit ARGS...       sbatch --parsable ARGS (job id on stdout)
#   slurm_field JOBID KEY      a field of `scontrol show job` (JobState, Restarts, ExitCode)
#   slurm_state_final STATE    true for a state the job does not leave (COMPLETED, FAILED, ...)
#   slurm_wait_done JOBID SECS waits until the job has ended; prints its final state
# Without Slurm and munge, or when not root, the tests fail saying so (configure with
# -DRETAIN_TEST_SLURM=OFF to leave them out).
set -u
fail=0
die() { echo "FAIL: $*"; fail=1; }
fatal() { echo "FAIL: $*"; exit 1; }
export PATH=$PATH:/usr/sbin:/sbin
SLURM_LOCAL=$RETAIN_SOURCE_DIR/scripts/slurm-local.sh
SBATCH_SCRIPT=$RETAIN_SOURCE_DIR/slurm/retrain.sbatch
# mpirun (fallback launcher) gets the same flags as the other tests' mpiexec
export RETAIN_MPIRUN_FLAGS=${RETAIN_MPIEXEC_FLAGS:-}
export RETAIN=$RETAIN_BIN

_slurm_cleanup() {
    local rc=$?
    if [[ -n ${W:-} && -f $W/cluster/slurm.conf ]]; then
        if ((rc != 0)); then
            echo "--- slurmctld/slurmd log tails (test failed)"
            tail -n 15 "$W/cluster/log/slurmctld.log" "$W/cluster/log/slurmd.log" 2>/dev/null
        fi
        # cancels any job still queued or running, then stops the daemons
        "$SLURM_LOCAL" stop "$W/cluster" 2>&1 | sed 's/^/  /'
    fi
    exit "$rc"
}

slurm_setup() {
    local name=$1 port=$2
    shift 2
    W=${RETAIN_TEST_TMP:-$PWD}/$name
    rm -rf "$W"
    mkdir -p "$W"
    cd "$W" || exit 1
    trap _slurm_cleanup EXIT
    trap 'exit 1' INT TERM
    "$SLURM_LOCAL" start "$W/cluster" --cpus 2 --port "$port" "$@"
    case $? in
    0) ;;
    3)
        echo "FAIL: Slurm (slurm-wlm) and munge are not installed or not usable here: run"
        echo "      scripts/install-deps.sh and the tests as root, or configure with -DRETAIN_TEST_SLURM=OFF"
        W=
        exit 1
        ;;
    *) fatal "scripts/slurm-local.sh could not start the cluster" ;;
    esac
    eval "$("$SLURM_LOCAL" env "$W/cluster")"
}

slurm_submit() { sbatch --parsable "$@" | cut -d';' -f1; }

slurm_field() {
    scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

# True for the states a job does not leave. Everything else (PENDING, CONFIGURING, RUNNING,
# COMPLETING, REQUEUED, or an empty answer while slurmctld is busy) is still on its way.
slurm_state_final() {
    case $1 in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) return 0 ;;
    esac
    return 1
}

slurm_wait_done() {
    local id=$1 limit=$2 st t
    for ((t = 0; t < limit * 4; t++)); do
        st=$(slurm_field "$id" JobState)
        if slurm_state_final "$st"; then
            echo "$st"
            return 0
        fi
        sleep 0.25
    done
    echo "TIMEOUT_WAITING(${st:-gone})"
    return 1
}
