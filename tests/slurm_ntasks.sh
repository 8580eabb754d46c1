#!/usr/bin/env bash
# slurm.ntasks: the MPI size must equal SLURM_NTASKS. slurm/retrain.sbatch with 2 tasks
# starts 2 ranks with the launcher it picks and with mpirun forced; `retain run` started
# without a launcher, or as N single-rank copies by an MPI that does not talk to Slurm
# (srun --mpi=none with the step variables hidden from Open MPI), stops with exit 8; and an
# invalid job file stops retrain.sbatch at its launcher probe (exit 6, nothing run). The
# job-array example (slurm/sweep-array.sbatch) runs one value per task.
source "$(dirname "$0")/slurm_common.sh"
slurm_setup slurm_ntasks "${RETAIN_SLURM_TEST_PORT:-17827}"

cat >job.ini <<'EOF'
[job]
name = slurm-ntasks
output_dir = out-auto
seed = 3
[generate]
customers = 2000
days = 400
start = 2023-01-01
buckets = 16
[features]
cutoff = 2023-10-01
horizon = 60
EOF
sed 's/horizon = 60/horizn = 60/' job.ini >typo.ini

auto=$(slurm_submit -n 2 -D "$W" -o auto.out "$SBATCH_SCRIPT" job.ini) || fatal "sbatch"
forced=$(RETAIN_LAUNCHER=mpirun slurm_submit -n 2 -D "$W" -o mpirun.out "$SBATCH_SCRIPT" job.ini \
    --set job.output_dir=out-mpirun) || fatal "sbatch"
typo=$(slurm_submit -n 2 -D "$W" -o typo.out "$SBATCH_SCRIPT" typo.ini) || fatal "sbatch"
cat >mismatch.sh <<EOF
#!/bin/bash
# no launcher at all: one rank, Slurm allocated two
"$RETAIN_BIN" run job.ini --set job.output_dir=out-plain
echo "plain exit \$?"
# two single-rank copies: Open MPI cannot see the srun step, as with an MPI without PMI
srun --mpi=none env -u SLURM_STEP_ID -u SLURM_STEPID -u PMIX_NAMESPACE \\
    "$RETAIN_BIN" run job.ini --set job.output_dir=out-copies
echo "copies exit \$?"
EOF
mismatch=$(slurm_submit -n 2 -D "$W" -o mismatch.out mismatch.sh) || fatal "sbatch"
# the job-array example: one run per value of a key
sweep=$(RETAIN_SLURM_DIR=$RETAIN_SOURCE_DIR/slurm slurm_submit --array=0-1 -D "$W" -o "sweep-%a.out" \
    "$RETAIN_SOURCE_DIR/slurm/sweep-array.sbatch" job.ini features.horizon 30 45) || fatal "sbatch array"

for id in $auto $forced $typo $mismatch; do
    st=$(slurm_wait_done "$id" 240)
    echo "job $id: $st ExitCode=$(slurm_field "$id" ExitCode)"
    eval "state_$id=\$st"
done

# auto launcher: 2 ranks, size check passed, both stages ran
out=$(cat auto.out)
st=state_$auto
[[ ${!st} == COMPLETED ]] || die "auto job: ${!st}: $out"
launcher=$(sed -n 's/.*launcher: //p' <<<"$out")
echo "retrain.sbatch chose: $launcher"
[[ $launcher == "srun --mpi=pmix --ntasks=2" || $launcher == mpirun\ -n\ 2* ]] || die "launcher line: $out"
grep -q "generate: .* 2 ranks" <<<"$out" || die "auto job did not run 2 ranks: $out"
grep -q "features: wrote" <<<"$out" || die "auto job: features missing: $out"
grep -q "retain job $auto: finished" <<<"$out" || die "auto job: no summary: $out"

# mpirun inside the allocation, forced
out=$(cat mpirun.out)
st=state_$forced
[[ ${!st} == COMPLETED ]] || die "mpirun job: ${!st}: $out"
grep -q "launcher: mpirun -n 2" <<<"$out" || die "mpirun job: launcher: $out"
grep -q "generate: .* 2 ranks" <<<"$out" || die "mpirun job did not run 2 ranks: $out"
grep -q "retain job $forced: finished" <<<"$out" || die "mpirun job: no summary: $out"
cmp -s out-auto/features.h5 out-mpirun/features.h5 ||
    "$RETAIN_PYTHON" -c 'import sys,h5py,numpy as np
a,b=(h5py.File(p,"r") for p in sys.argv[1:])
ks=[]; a.visit(ks.append)
sys.exit(any(isinstance(a[k],h5py.Dataset) and not np.array_equal(a[k][()],b[k][()]) for k in ks))' \
        out-auto/features.h5 out-mpirun/features.h5 || die "srun and mpirun runs differ"

# the array: each task ran its own value into its own directory
for i in 0 1; do
    h=$((30 + 15 * i))
    st=$(slurm_wait_done "${sweep}_$i" 240)
    out=$(cat "sweep-$i.out")
    [[ $st == COMPLETED ]] || die "array task $i: $st: $out"
    grep -q "array task $i of $sweep: features.horizon = $h -> sweep/features.horizon-$h" <<<"$out" ||
        die "array task $i: header: $out"
    grep -q "stage features  running: .*--out sweep/features.horizon-$h/features.h5 .*--horizon $h" <<<"$out" ||
        die "array task $i did not run horizon $h: $out"
    [[ -s sweep/features.horizon-$h/features.h5 ]] || die "array task $i: no features.h5"
done

# the size check
out=$(cat mismatch.out)
grep -q "plain exit 8" <<<"$out" || die "retain without a launcher should exit 8: $out"
grep -q "copies exit 8" <<<"$out" || die "single-rank copies should exit 8: $out"
[[ $(grep -c "MPI reports 1 rank but Slurm allocated SLURM_NTASKS=2" <<<"$out") == 3 ]] ||
    die "expected the size message once for the plain run and once per copy: $out"
[[ -e out-plain/features.h5 || -e out-copies/features.h5 ]] && die "a mismatched run wrote outputs"

# invalid job file: stopped at the probe with the config exit code
out=$(cat typo.out)
st=state_$typo
[[ ${!st} == FAILED && $(slurm_field "$typo" ExitCode) == 6:0 ]] ||
    die "typo job: ${!st} $(slurm_field "$typo" ExitCode): $out"
grep -q "unknown keys (typos?): features.horizn" <<<"$out" || die "typo job: message: $out"
if [[ $launcher == srun* ]]; then
    grep -q "nothing was run" <<<"$out" || die "typo job: probe verdict: $out"
fi

((fail == 0)) && echo "slurm_ntasks: all checks passed"
exit $fail
