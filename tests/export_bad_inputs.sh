#!/usr/bin/env bash
# retain export with bad inputs: clear errors with the documented exit codes and never a
# partial or temporary file; an existing output survives a failed export; the output is
# deterministic and the same at 1 and 2 ranks.
set -u
F=${RETAIN_TEST_TMP:-$PWD}/export
W=${RETAIN_TEST_TMP:-$PWD}/export_bad
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 120 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok   $*"; }
# expect CODE PATTERN CMD...: exit code and a message matching PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  local out; out=$(R 1 "$@" 2>&1); local got=$?
  if [[ $got != "$code" ]]; then die "retain $* exited $got, expected $code: $out"; return; fi
  if ! grep -qE -- "$pat" <<<"$out"; then die "retain $*: message should match '$pat': $out"; return; fi
  ok "retain ${*:1:6} -> exit $code"
}
no_files() { # nothing but the listed names may exist in the work directory
  local extra; extra=$(ls -A | grep -vxF -f <(printf '%s\n' "$@") || true)
  [[ -z $extra ]] || die "left behind after a failure: $extra"
}

expect 3 "cannot open 'missing.h5'" export --model missing.h5 --onnx a.onnx --json a.json
no_files
expect 4 "is not a retain model bundle" export --model "$F/f.h5" --onnx a.onnx
head -c 4096 "$F/m.h5" > truncated.h5
expect 4 "truncated.h5.* damaged or truncated" export --model truncated.h5 --onnx a.onnx
no_files truncated.h5
expect 2 "--model is required" export --onnx a.onnx
expect 2 "nothing to do" export --model "$F/m.h5"
expect 2 "same file" export --model "$F/m.h5" --onnx a.x --json a.x
expect 2 "unknown or incomplete option" export --model "$F/m.h5" --onnx a.onnx --pmml a.pmml
expect 2 "unexpected argument" export --model "$F/m.h5" --onnx a.onnx extra
# a bundle with only the lifetime-value models has nothing the graph could compute
expect 5 "none of the models an ONNX graph holds \\(churn, segments\\): nothing to export" export --model "$F/m-clv.h5" --onnx a.onnx --json a.json
no_files truncated.h5
# unwritable destinations: a missing directory, a regular file as the directory
expect 3 "cannot create" export --model "$F/m.h5" --onnx nodir/a.onnx
expect 3 "cannot create" export --model "$F/m.h5" --onnx truncated.h5/a.onnx
# one good and one bad destination: neither is written
expect 3 "JSON model 'nodir/a.json'" export --model "$F/m.h5" --onnx a.onnx --json nodir/a.json
no_files truncated.h5
# a failed export leaves an existing file untouched
echo old > keep.onnx
expect 3 "cannot create" export --model "$F/m.h5" --onnx keep.onnx --json nodir/a.json
[[ $(cat keep.onnx) == old ]] || die "a failed export replaced keep.onnx"
no_files truncated.h5 keep.onnx

# deterministic, and rank 0 alone writes at any rank count
R 1 export --model "$F/m.h5" --onnx again.onnx --json again.json -q || die "re-export"
cmp -s again.onnx "$F/m.onnx" && cmp -s again.json "$F/m.json" || die "re-export differs from the first export"
R 1 export --model "$F/m-churn.h5" --onnx one.onnx --json one.json -q || die "1-rank export"
cmp -s one.onnx "$F/m-churn.onnx" && cmp -s one.json "$F/m-churn.json" || die "1-rank and 2-rank exports differ"
R 3 export --model "$F/m.h5" --onnx three.onnx -q || die "3-rank export"
cmp -s three.onnx "$F/m.onnx" || die "3-rank export differs"
ls -A | grep -q "\.tmp-" && die "temporary file left behind"
# the log line names the graph's outputs as the graph holds them (retain.outputs)
for pair in "m:churn_probability,segment_id" "m-churn:churn_probability" "m-seg:segment_id"; do
  b=${pair%%:*} want=${pair#*:}
  out=$(R 1 export --model "$F/$b.h5" --onnx "log-$b.onnx" 2>&1) || die "export $b.h5: $out"
  grep -qF "outputs $want; model" <<<"$out" && ok "export $b.h5 log names outputs '$want'" \
    || die "export $b.h5: log line should name outputs '$want': $out"
  cmp -s "log-$b.onnx" "$F/$b.onnx" || die "export $b.h5 differs from the fixture's"
done
[[ $fail == 0 ]] && echo "export_bad_inputs: all checks passed"
exit $fail
