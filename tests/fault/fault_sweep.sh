#!/usr/bin/env bash
# Write faults: runs one retain command with the write_fault.so shim making its Nth write
# call fail (and every later one that needs disk space), for N over every write call the
# command makes, and checks each run:
#   - exit 3 (i/o error), within the time limit (no hang), no crash;
#   - exactly one error message, naming an output file and the errno text;
#   - no temporary file left in the output directory;
#   - the previous run's outputs, present under the final names, are either untouched or
#     replaced by a complete file (an HDF5 file whose datasets equal the previous ones).
# usage: fault_sweep.sh COMMAND NP [ERRNO] [MAX_POINTS]
#   COMMAND: generate ingest ingest-add features train score export report run
#   ERRNO: ENOSPC (default), EDQUOT or EIO
#   MAX_POINTS: 0 (default) injects at every write call; otherwise at most this many
#   points per sweep, evenly spread and always including the first and last calls
set -u
CMD=${1:?command}
NP=${2:?ranks}
ERRNO=${3:-ENOSPC}
MAX_POINTS=${4:-0}
SHIM=${RETAIN_FAULT_SHIM:?path of write_fault.so}
W=${RETAIN_TEST_TMP:-$PWD}/fault_${CMD}_np${NP}_${ERRNO}
rm -rf "$W" && mkdir -p "$W/in" "$W/out" && cd "$W" || exit 1
read -r -a MPIFLAGS <<<"${RETAIN_MPIEXEC_FLAGS:-}"
# the sanitizer runtime must otherwise come first in the library list
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
mpi() { timeout -k 5 "$LIMIT" "$RETAIN_MPIEXEC" -n "$1" "${MPIFLAGS[@]}" "${@:2}"; }
LIMIT=60

case $ERRNO in
  ENOSPC) ERRTEXT="No space left on device" ;;
  EDQUOT) ERRTEXT="Disk quota exceeded" ;;
  EIO) ERRTEXT="Input/output error" ;;
  *) echo "unknown errno $ERRNO"; exit 2 ;;
esac

# ---- inputs, written without faults
GEN=(--customers 200 --days 500 --start 2023-01-01 --buckets 8 --seed 5)
prep() { mpi 2 "$RETAIN_BIN" "$@" -q >/dev/null 2>"$W/prep.err" || { cat "$W/prep.err"; exit 1; }; }
needs_model=0
case $CMD in
  train | score | export | report) needs_model=1 ;;
esac
if [[ $CMD != generate && $CMD != ingest && $CMD != run ]]; then
  prep generate --out in/store.h5 --truth in/truth.h5 "${GEN[@]}"
  prep features --store in/store.h5 --out in/features.h5 --cutoff 2024-01-01 --horizon 90
fi
if ((needs_model)) && [[ $CMD != train ]]; then
  prep train --features in/features.h5 --out in/model.h5 --k 3 --truth in/truth.h5
fi
if [[ $CMD == report ]]; then
  prep score --model in/model.h5 --features in/features.h5 --out in/scores.h5
fi
(umask 077 && printf '%064d\n' 7 >in/key)
if [[ $CMD == ingest-add ]]; then
  prep generate --out in/gen.h5 --csv in/tx.csv --events-csv in/events.csv "${GEN[@]}"
  prep ingest --mapping "$RETAIN_SOURCE_DIR/data-samples/generated-transactions.ini" --key in/key \
    --buckets 8 --out in/base.h5 in/tx.csv
fi
cat >in/job.ini <<'JOB'
[job]
name = faults
output_dir = out
[generate]
customers = 200
days = 500
start = 2023-01-01
seed = 5
buckets = 8
[features]
cutoff = 2024-01-01
horizon = 90
[train]
k = 3
[score]
top = 20
[export]
onnx = true
json = true
[report]
k-anon = 5
JOB

case $CMD in
  generate) ARGS=(generate --out out/store.h5 --truth out/truth.h5 --csv out/transactions.csv "${GEN[@]}") ;;
  ingest) ARGS=(ingest --format online-retail --key in/key --buckets 8 --out out/store.h5
                "$RETAIN_SOURCE_DIR/data-samples/online-retail-sample.csv") ;;
  ingest-add) ARGS=(ingest --add events --mapping "$RETAIN_SOURCE_DIR/data-samples/generated-events.ini"
                    --key in/key --append-to in/base.h5 --out out/store.h5 --rejects out/rejects.csv
                    in/events.csv) ;;
  features) ARGS=(features --store in/store.h5 --out out/features.h5 --cutoff 2024-01-01 --horizon 90) ;;
  train) ARGS=(train --features in/features.h5 --out out/model.h5 --checkpoint out/train.ckpt
               --k 3 --truth in/truth.h5) ;;
  score) ARGS=(score --model in/model.h5 --features in/features.h5 --out out/scores.h5
               --csv out/scores.csv --top 20 --warning-list out/warning-list.csv) ;;
  export) ARGS=(export --model in/model.h5 --onnx out/model.onnx --json out/model.json) ;;
  report) ARGS=(report --store in/store.h5 --features in/features.h5 --model in/model.h5
                --scores in/scores.h5 --out out/report.html --figures out/report --k-anon 5) ;;
  run) ARGS=(run in/job.ini) ;;
  *) echo "unknown command $CMD"; exit 2 ;;
esac
ARGS+=(--summary out/summary.json)

# ---- the previous run: its outputs stay under the final names during the sweep
# (`retain run` would skip every stage over them, so it starts from nothing each time)
if [[ $CMD != run ]]; then
  mpi "$NP" "$RETAIN_BIN" "${ARGS[@]}" -q >prev.log 2>&1 || { cat prev.log; exit 1; }
  cp -a out prev
fi
reset_out() {
  rm -rf out
  if [[ $CMD == run ]]; then mkdir out; else cp -a prev out; fi
}

# run_faulty LOGNAME [ENV=VALUE ...]: runs the command under the shim; sets rc
run_faulty() {
  local log=$1
  shift
  reset_out
  env RETAIN_FAULT_AT=0 RETAIN_FAULT_RANK= RETAIN_FAULT_COUNT= "$@" RETAIN_FAULT_DIR="$W/out" RETAIN_FAULT_ERRNO="$ERRNO" \
    "$RETAIN_MPIEXEC" -n "$NP" "${MPIFLAGS[@]}" -x LD_PRELOAD="$SHIM" -x RETAIN_FAULT_DIR \
    -x RETAIN_FAULT_AT -x RETAIN_FAULT_RANK -x RETAIN_FAULT_ERRNO -x RETAIN_FAULT_COUNT \
    -x ASAN_OPTIONS timeout -k 5 "$LIMIT" "$RETAIN_BIN" "${ARGS[@]}" -q >"$log" 2>&1
  rc=$?
}

# ---- counting run: how many write calls each rank makes
rm -f counts
run_faulty count.log RETAIN_FAULT_AT=0 RETAIN_FAULT_RANK= RETAIN_FAULT_COUNT="$W/counts"
[[ $rc == 0 ]] || { fail "counting run exited $rc: $(tail -c 1500 count.log)"; exit 1; }
declare -A calls
while read -r r c; do calls[$r]=$((${calls[$r]:-0} + c)); done <counts
total=0
for r in "${!calls[@]}"; do ((calls[$r] > total)) && total=${calls[$r]}; done
((total > 0)) || { fail "the command made no write call below the output directory"; exit 1; }

check_case() {
  local what=$1 log=$2
  if [[ $rc != 3 ]]; then
    if [[ $rc == 124 || $rc == 137 ]]; then fail "$what: no exit within ${LIMIT}s (hang)"
    else fail "$what: exit $rc, expected 3: $(tail -c 1500 "$log")"; fi
    return
  fi
  grep -q -E "AddressSanitizer|runtime error:|Segmentation fault|signal 11" "$log" &&
    fail "$what: crash or undefined behaviour: $(head -c 1500 "$log")"
  local errs
  errs=$(grep -E "^retain [a-z]+: error: " "$log")
  if [[ $(grep -c . <<<"$errs") != 1 ]]; then
    fail "$what: expected one error message: $(tail -c 1500 "$log")"
  elif ! grep -q -- "$ERRTEXT" <<<"$errs" || ! grep -q -E "'[^']*out/[^']*'" <<<"$errs"; then
    fail "$what: the message must name the output file and say '$ERRTEXT': $errs"
  fi
  local left
  left=$(find out -name '.*.tmp-*' -o -name '*.part[0-9]*' | head -5)
  [[ -z $left ]] || fail "$what: temporary files left: $left"
  if [[ $CMD != run ]]; then
    "$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/fault/outputs_intact.py" prev out ||
      fail "$what: a previous output was damaged"
  fi
}

if [[ ${RETAIN_FAULT_COUNT_ONLY:-0} == 1 ]]; then
  echo "write calls per rank: $(sort -n counts | tr '\n' ' ')"
  exit 0
fi
points=0
# the injection points of a sweep over n_max calls
points_of() {
  local n_max=$1
  if ((MAX_POINTS == 0 || n_max <= MAX_POINTS)); then
    seq 1 "$n_max"
  else
    for ((i = 0; i < MAX_POINTS; i++)); do echo $((1 + i * (n_max - 1) / (MAX_POINTS - 1))); done
  fi
}
sweep() {
  local label=$1 n_max=$2
  shift 2
  for n in $(points_of "$n_max"); do
    run_faulty "case.log" RETAIN_FAULT_AT=$n "$@"
    check_case "$label N=$n" case.log
    points=$((points + 1))
  done
}
sweep "all ranks" "$total" RETAIN_FAULT_RANK=
# a fault on one rank other than 0, which writes less and usually fails alone
if ((NP > 1)) && ((${calls[1]:-0} > 0)); then
  sweep "rank 1 only" "${calls[1]}" RETAIN_FAULT_RANK=1
fi
echo "fault sweep: $CMD on $NP ranks, $ERRNO: write calls per rank:" \
  "$(for r in $(printf '%s\n' "${!calls[@]}" | sort -n); do printf '%s:%s ' "$r" "${calls[$r]}"; done)" \
  "-> $points injection points, $fails failures"
exit $((fails > 0))
