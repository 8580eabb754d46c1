#!/usr/bin/env bash
# retain train --checkpoint: a training stopped at an iteration boundary (RETAIN_INJECT_STOP,
# the same path as SIGUSR1/SIGTERM) exits 75 with a checkpoint, and the resumed run writes
# a bundle bitwise identical to an uninterrupted one: churn model alone, segments alone
# (k scan, restarts) and the whole training, stopped and resumed at different rank counts
# (1 to 4), several stops in a row; damaged, foreign and mismatched checkpoints; retain run
# passes its checkpoint under OUTPUT_DIR/.retain/.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/checkpoint_train
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
same() { "$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/checkpoint_compare.py" "$1" "$2" || die "$3: $1 differs from $2"; }

R 2 generate --customers 2500 --days 730 --seed 3 --buckets 16 --out s.h5 -q || die generate
R 2 features --store s.h5 --cutoff 2024-07-01 --horizon 90 --out f.h5 -q || die features
BASE=(--features f.h5 --tol 1e-10 --k 3:4 --n-init 2 --seed 9)
CHURN=("${BASE[@]}" --models churn)
SEGS=("${BASE[@]}" --models segments)
ALL=("${BASE[@]}")

R 2 train "${CHURN[@]}" --out ref-churn.h5 -q || die "reference churn"
R 3 train "${SEGS[@]}" --out ref-segs.h5 -q || die "reference segments"
R 1 train "${ALL[@]}" --out ref-all.h5 > ref-all.log 2>&1 || die "reference all"
grep -q "train: churn iteration 1/500  objective" ref-all.log || die "no churn progress line"
grep -q "train: segments fit 1/3 (k=3) run 1/2  Lloyd iteration 1 .*ETA" ref-all.log || die "no segments progress line"

# stop STOPS... : each "PHASE:ITER@NP" runs train on NP ranks until the injected stop (exit
# 75), the last "@NP" finishes; the bundle must equal the reference.
stop_resume() {
    local name=$1 ref=$2 opts=$3
    shift 3
    local ck=$name.ckpt spec rc
    rm -f "$ck"
    eval "local -a args=($opts)"
    for spec in "$@"; do
        local np=${spec##*@} inj=${spec%@*}
        if [[ -n $inj ]]; then
            RETAIN_INJECT_STOP=$inj R "$np" train "${args[@]}" --checkpoint "$ck" --out "$name.h5" > "$name.stop.log" 2>&1
            rc=$?
            [[ $rc == 75 ]] || { die "$name: stop at $inj on $np ranks exited $rc"; cat "$name.stop.log"; return; }
            [[ -f $ck ]] || die "$name: no checkpoint after the stop at $inj"
            [[ -f $name.h5 ]] && die "$name: a bundle was written by the stopped run"
            grep -q "training stopped on request at ${inj%:*} ${inj#*:}; checkpoint '$ck' written" "$name.stop.log" ||
                die "$name: stop message missing: $(cat "$name.stop.log")"
        else
            R "$np" train "${args[@]}" --checkpoint "$ck" --out "$name.h5" > "$name.resume.log" 2>&1 ||
                { die "$name: resume on $np ranks failed"; cat "$name.resume.log"; return; }
            grep -q "resuming from checkpoint '$ck'" "$name.resume.log" || die "$name: did not resume"
            [[ -e $ck ]] && die "$name: checkpoint left after success"
        fi
    done
    same "$ref" "$name.h5" "$name"
}

# churn model alone: first iteration, middle, the finished model
stop_resume churn1 ref-churn.h5 '"${CHURN[@]}"' logreg:1@1 @2
stop_resume churn7 ref-churn.h5 '"${CHURN[@]}"' logreg:7@2 @3
stop_resume churn-done ref-churn.h5 '"${CHURN[@]}"' train:1@4 @1
stop_resume churn-twice ref-churn.h5 '"${CHURN[@]}"' logreg:3@3 logreg:11@2 @4
# segments alone: inside the first Lloyd run, later in the k scan, at a run boundary, the
# final fit (runs 5 and 6; the scan ends after Lloyd iteration 71), the finished segmentation
stop_resume segs2 ref-segs.h5 '"${SEGS[@]}"' kmeans:2@2 @3
stop_resume segs40 ref-segs.h5 '"${SEGS[@]}"' kmeans:40@4 @2
stop_resume segs-run ref-segs.h5 '"${SEGS[@]}"' kmeans-run:3@1 @4
stop_resume segs-final ref-segs.h5 '"${SEGS[@]}"' kmeans-run:4@3 kmeans:80@2 @1
stop_resume segs-done ref-segs.h5 '"${SEGS[@]}"' train:2@2 @2
# the whole training, three stops at three rank counts
stop_resume all ref-all.h5 '"${ALL[@]}"' logreg:4@2 kmeans:12@3 kmeans-run:2@4 @1
# --checkpoint-every: fewer periodic writes, same result
stop_resume every ref-all.h5 '"${ALL[@]}" --checkpoint-every 7' kmeans:20@3 @2

# without --checkpoint a stop request does not end the training (nothing could be saved)
RETAIN_INJECT_STOP=logreg:2 R 2 train "${CHURN[@]}" --out nock.h5 -q || die "training without a checkpoint stopped"
same ref-churn.h5 nock.h5 "no checkpoint"

# a checkpoint written for other options is ignored with a warning (and replaced)
rm -f other.ckpt
RETAIN_INJECT_STOP=logreg:3 R 2 train "${CHURN[@]}" --C 0.5 --checkpoint other.ckpt --out x.h5 -q 2>/dev/null
[[ $? == 75 && -f other.ckpt ]] || die "no checkpoint for the mismatch test"
out=$(R 2 train "${CHURN[@]}" --checkpoint other.ckpt --out mism.h5 2>&1) || die "mismatched checkpoint: $out"
grep -q "checkpoint 'other.ckpt' was written for other features or options; ignored" <<<"$out" || die "no mismatch warning: $out"
grep -q "resuming" <<<"$out" && die "resumed from a mismatched checkpoint"
same ref-churn.h5 mism.h5 "mismatched checkpoint ignored"

# damaged checkpoints are refused (exit 4) with a message naming the file
RETAIN_INJECT_STOP=logreg:3 R 1 train "${CHURN[@]}" --checkpoint good.ckpt --out x.h5 -q 2>/dev/null
[[ -f good.ckpt ]] || die "no checkpoint for the damage tests"
head -c 1000 good.ckpt > trunc.ckpt
printf 'not a checkpoint\n' > text.ckpt
cp f.h5 foreign.ckpt
"$RETAIN_PYTHON" - <<'PY' || die "h5py edit"
import shutil, h5py
shutil.copy("good.ckpt", "shape.ckpt")
with h5py.File("shape.ckpt", "r+") as f:
    del f["churn/S"]
    f["churn/S"] = [[1.0, 2.0]]
shutil.copy("good.ckpt", "newer.ckpt")
with h5py.File("newer.ckpt", "r+") as f:
    f.attrs["format_version"] = 99
PY
for c in trunc text foreign shape newer; do
    out=$(R 2 train "${CHURN[@]}" --checkpoint $c.ckpt --out x.h5 2>&1)
    rc=$?
    [[ $rc == 4 ]] || die "$c checkpoint: exit $rc, expected 4: $out"
    grep -q "$c.ckpt" <<<"$out" || die "$c checkpoint: message does not name the file: $out"
done
grep -q "is not a retain training checkpoint" <<<"$(R 1 train "${CHURN[@]}" --checkpoint foreign.ckpt --out x.h5 2>&1)" || die "foreign file message"
grep -q "format version 99" <<<"$(R 1 train "${CHURN[@]}" --checkpoint newer.ckpt --out x.h5 2>&1)" || die "version message"
grep -q "damaged (/churn/S)" <<<"$(R 1 train "${CHURN[@]}" --checkpoint shape.ckpt --out x.h5 2>&1)" || die "shape message"

# retain run: the train stage checkpoints under OUTPUT_DIR/.retain/ and resumes
cat > job.ini <<'JOB'
[job]
name = ckpt
output_dir = out
seed = 4
[generate]
customers = 1500
days = 600
start = 2023-01-01
buckets = 8
[features]
cutoff = 2024-05-01
horizon = 60
[train]
k = 3
tol = 1e-9
JOB
R 2 run job.ini --set job.output_dir=plain -q || die "uninterrupted run"
RETAIN_INJECT_STOP=kmeans:4 R 2 run job.ini > run1.log 2>&1
rc=$?
[[ $rc == 75 ]] || die "run with a stop in training exited $rc: $(cat run1.log)"
[[ -f out/.retain/train.ckpt ]] || die "retain run left no out/.retain/train.ckpt"
R 3 run job.ini > run2.log 2>&1 || die "resumed run: $(cat run2.log)"
grep -q "stage features  up to date, skipped" run2.log || die "resumed run re-ran features"
grep -q "resuming from checkpoint 'out/.retain/train.ckpt'" run2.log || die "run did not resume training: $(cat run2.log)"
[[ -e out/.retain/train.ckpt ]] && die "checkpoint left after the run finished"
same plain/model.h5 out/model.h5 "retain run resume"

((fail == 0)) && echo "checkpoint_train: all checks passed"
exit $fail
