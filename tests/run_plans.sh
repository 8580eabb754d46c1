#!/usr/bin/env bash
# The stage table of `retain run` (src/pipeline/stages.c), seen through --dry-run: the
# command line each stage builds from its job-file section, the data-source variants, and
# every configuration error a job file can make, each with its exit code and message.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/run_plans
rm -rf "$W"; mkdir -p "$W"; cd "$W"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# runs the job file on stdin with --dry-run (plus extra args); output without the clock
plan() {
    cat >job.job
    "$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS -n 2 "$RETAIN_BIN" run job.job --dry-run "$@" >out.txt 2>&1
    rc=$?
    sed -i 's/^\[ *[0-9.]*s\] //' out.txt
}
has() { grep -qxF -- "$1" out.txt || { cat out.txt; bad "missing line: $1"; }; }
refused() {  # CODE MESSAGE-FRAGMENT
    [[ $rc == "$1" ]] || bad "exit $rc, expected $1 (${2})"
    grep -qF -- "$2" out.txt || { cat out.txt; bad "no message '$2'"; }
}

# every stage, ingest variant, with files, file keys, booleans and a job-wide seed
plan <<'JOB'
[job]
output_dir = o1
seed = 5
[ingest]
files = a.csv, b.csv
mapping = m.ini
key = k.bin
currency = EUR
[features]
cutoff = 2024-01-01
[train]
warm-start = old.h5
k = 4
[score]
csv = no
top = 20
[export]
onnx = false
[report]
k-anon = 5
JOB
[[ $rc == 0 ]] || bad "full ingest job: exit $rc"
has "stage data      would run: retain ingest --out o1/store.h5 --mapping m.ini --key k.bin --currency EUR --rejects o1/rejects.csv a.csv b.csv"
has "stage features  would run: retain features --store o1/store.h5 --out o1/features.h5 --cutoff 2024-01-01"
has "stage train     would run: retain train --features o1/features.h5 --out o1/model.h5 --seed 5 --checkpoint o1/.retain/train.ckpt --k 4 --warm-start old.h5"
has "stage score     would run: retain score --model o1/model.h5 --features o1/features.h5 --out o1/scores.h5 --top 20 --warning-list o1/warning-list.csv"
has "stage export    would run: retain export --model o1/model.h5 --json o1/model.json"
has "stage report    would run: retain report --store o1/store.h5 --features o1/features.h5 --model o1/model.h5 --scores o1/scores.h5 --out o1/report.html --figures o1/report --k-anon 5"
[[ -e o1 ]] && bad "--dry-run created the output folder"

# generate is the default source; its own seed wins over the job's; truth goes to train
plan <<'JOB'
[job]
output_dir = o2
seed = 9
[generate]
customers = 100
seed = 3
[features]
cutoff = 2024-01-01
horizon = 30
[train]
models = churn
JOB
[[ $rc == 0 ]] || bad "generate job: exit $rc"
has "stage data      would run: retain generate --out o2/store.h5 --truth o2/truth.h5 --customers 100 --seed 3"
has "stage train     would run: retain train --features o2/features.h5 --out o2/model.h5 --seed 9 --checkpoint o2/.retain/train.ckpt --models churn --truth o2/truth.h5"
[[ $(grep -c '^stage' out.txt) == 3 ]] || { cat out.txt; bad "generate job: expected 3 stages"; }

# --to stops early; --from on a later stage still plans the earlier ones
plan --to features <<'JOB'
[job]
output_dir = o3
[generate]
customers = 10
[features]
cutoff = 2024-01-01
[train]
JOB
[[ $rc == 0 && $(grep -c '^stage' out.txt) == 2 ]] || { cat out.txt; bad "--to features"; }

# an existing store: nothing to run, named in the log
plan <<'JOB'
[job]
output_dir = o4
[data]
source = store
store = /data/mall.h5
[features]
cutoff = 2024-01-01
JOB
[[ $rc == 0 ]] || bad "store job: exit $rc"
has "stage data      uses the existing store /data/mall.h5"
has "stage features  would run: retain features --store /data/mall.h5 --out o4/features.h5 --cutoff 2024-01-01"

# configuration errors (exit 6) and usage errors (exit 2); a section asks for its stage
# through its keys (an empty section is not seen by the INI parser)
plan < <(printf '[job]\noutput_dir = e\n[train]\nk = 3\n');            refused 6 "[train] needs a [features] section"
plan < <(printf '[features]\ncutoff = 2024-01-01\n[score]\ntop = 5\n');  refused 6 "[score] needs a [train] section"
plan < <(printf '[features]\ncutoff = 2024-01-01\n[export]\njson = true\n'); refused 6 "[export] needs a [train] section"
plan < <(printf '[features]\ncutoff = 2024-01-01\n[train]\nk = 3\n[report]\nk-anon = 5\n'); refused 6 "[report] needs a [score] section"
plan < <(printf '[features]\ncutoff = 2024-01-01\n[train]\nk = 3\n[export]\nonnx = false\njson = no\n'); refused 6 "exports nothing (remove the section)"
plan < <(printf '[features]\ncutoff = 2024-01-01\n[train]\nk = 3\n[export]\nonnx = maybe\n'); refused 6 "[export] onnx must be true or false, not 'maybe'"
plan < <(printf '[data]\nsource = ftp\n');                      refused 6 "[data] source must be generate, ingest or store, not 'ftp'"
plan < <(printf '[data]\nsource = store\n');                    refused 6 "[data] source = store needs store = PATH"
plan < <(printf '[ingest]\nmapping = m.ini\n');                 refused 6 "[ingest] needs files = CSV ..."
plan < <(printf '[generate]\ncustomers = 10\ncustomer = 11\n'); refused 6 "unknown keys (typos?): generate.customer"
plan --from scoring < <(printf '[generate]\ncustomers = 10\n');                 refused 2 "unknown stage 'scoring' (stages: data, features, train, score, export, report)"

[[ $fail == 0 ]] && echo "run_plans: all checks passed"
exit $fail
