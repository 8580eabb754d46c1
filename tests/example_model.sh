#!/usr/bin/env bash
# A new model kind through every loop over the model-kind table (tests/example_model.cmake):
# retain-example trains the constant-rate churn baseline next to the built-in models, at
# 1 and 3 ranks to the same bits; its bundle group, JSON export, show and diff come out of
# the same code paths as the built-in kinds; its option reaches --help, the options record
# and the fit; its score column reaches scores.h5 and the CSVs; its rate matches the churn model's own count
# of training rows; the plain retain refuses the kind by name; and the extra table line
# leaves the built-in models' bundle bit for bit as the plain retain writes it.
set -eu
W=${RETAIN_TEST_TMP:-$PWD}/model_kinds_example
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
X() { timeout 300 "${MPI[@]}" -n "$1" "$RETAIN_EXAMPLE_BIN" "${@:2}"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
COMPARE="$RETAIN_PYTHON $RETAIN_SOURCE_DIR/tests/checkpoint_compare.py"

R 2 generate --customers 2000 --days 600 --seed 5 --buckets 16 --out s.h5 -q
R 2 features --store s.h5 --cutoff 2024-03-01 --horizon 90 --out f.h5 -q

# fitted at two rank counts: the same bits
X 1 train --features f.h5 --out e1.h5 --models churn,segments,clv,constant_churn --k 4 -q
X 3 train --features f.h5 --out e3.h5 --models churn,segments,clv,constant_churn --k 4 -q
$COMPARE e1.h5 e3.h5 || fail "constant_churn bundles differ between 1 and 3 ranks"

# the group and the oracle: the churn model's own counts of labelled training rows
"$RETAIN_PYTHON" - <<'PY' || fail "the /constant_churn group"
import h5py
b = h5py.File("e1.h5", "r")
g, c = b["constant_churn"], b["churn"]
assert set(b) == {"features", "churn", "segments", "clv", "constant_churn"}, set(b)
n, pos = int(g.attrs["n_train"]), int(g.attrs["n_pos"])
assert n == int(c.attrs["n_train"]) and pos == int(c.attrs["n_pos"]), (n, pos, dict(c.attrs))
assert 0 < pos < n, (pos, n)
assert g.attrs["rate"] == pos / n, (g.attrs["rate"], pos, n)
print("constant_churn rate %.4f = %d / %d" % (g.attrs["rate"], pos, n))
PY

# its option: in retain train --help, the options record, and the fit
X 1 train --help | grep -q -- '--constant-churn-smoothing A' || fail "--help lacks the kind's option"
X 1 train --help | grep -q 'churn,segments,clv,constant_churn (default all)' || fail "--models list"
X 1 train --features f.h5 --out sm.h5 --models churn,constant_churn --constant-churn-smoothing 1 -q
"$RETAIN_PYTHON" - <<'PY' || fail "--constant-churn-smoothing"
import h5py, json
b = h5py.File("sm.h5", "r")
g = b["constant_churn"]
n, pos = int(g.attrs["n_train"]), int(g.attrs["n_pos"])
assert g.attrs["rate"] == (pos + 1.0) / (n + 2.0), (g.attrs["rate"], pos, n)
opts = json.loads(b.attrs["options"])
assert opts["constant_churn_smoothing"] == 1.0, opts
PY
set +e
X 1 train --features f.h5 --out bad.h5 --constant-churn-smoothing -1 -q > bad.out 2>&1; rc=$?
set -e
[ "$rc" = 2 ] && grep -q -- "--constant-churn-smoothing" bad.out || fail "bad option value (exit $rc)"

# and a key of the job file's [train] section, forwarded by retain run's train stage
printf '[job]\noutput_dir = out\n[generate]\ncustomers = 500\n[features]\ncutoff = 2024-03-01\n[train]\nC = 0.5\nconstant-churn-smoothing = 2\n' > job.ini
X 1 run job.ini --dry-run > dry.out 2>&1 || fail "dry run: $(cat dry.out)"
grep -q 'would run: retain train .*--C 0.5 --constant-churn-smoothing 2' dry.out \
  || fail "[train] constant-churn-smoothing not forwarded: $(grep train dry.out)"

# its own score column: /scores/constant_churn_probability and the last CSV column, at 1
# and 3 ranks; the fixed columns as the plain retain scores the built-in models
X 1 score --model e1.h5 --features f.h5 --out sc1.h5 --csv sc1.csv --top 50 --warning-list wl1.csv -q
X 3 score --model e1.h5 --features f.h5 --out sc3.h5 --csv sc3.csv --top 50 --warning-list wl3.csv -q
cmp sc1.csv sc3.csv && cmp wl1.csv wl3.csv || fail "CSV scores differ between 1 and 3 ranks"
$COMPARE sc1.h5 sc3.h5 || fail "scores differ between 1 and 3 ranks"
R 1 train --features f.h5 --out plain1.h5 --k 4 -q
R 1 score --model plain1.h5 --features f.h5 --out scp.h5 --csv scp.csv -q
"$RETAIN_PYTHON" - <<'PY' || fail "the example kind's score column"
import csv, h5py
rate = float(h5py.File("e1.h5", "r")["constant_churn"].attrs["rate"])
s, p = h5py.File("sc1.h5", "r")["scores"], h5py.File("scp.h5", "r")["scores"]
assert set(s) == set(p) | {"constant_churn_probability"}, (set(s), set(p))
col = s["constant_churn_probability"][()]
assert col.dtype == "<f8" and len(col) == len(s["customer"]) and (col == rate).all()
for k in p:
    assert (s[k][()] == p[k][()]).all(), k
rows, plain = list(csv.reader(open("sc1.csv"))), list(csv.reader(open("scp.csv")))
assert rows[0] == plain[0] + ["constant_churn_probability"], rows[0]
assert all(r[:-1] == q for r, q in zip(rows[1:], plain[1:])) and len(rows) == len(plain)
assert all(float(r[-1]) == float("%.9g" % rate) for r in rows[1:])
wl = list(csv.reader(open("wl1.csv")))
assert wl[0] == ["rank"] + rows[0] and len(wl) == 51, wl[0]
print("constant_churn_probability in scores.h5, the CSV and the warning list")
PY

# JSON export, show and diff go through the table too
X 1 export --model e1.h5 --json e1.json --onnx e1.onnx -q
"$RETAIN_PYTHON" - <<'PY' || fail "JSON export of the example kind"
import json, h5py
j = json.load(open("e1.json"))
g = h5py.File("e1.h5", "r")["constant_churn"]
assert j["constant_churn"] == {"rate": float(g.attrs["rate"]), "n_train": int(g.attrs["n_train"]),
                               "n_pos": int(g.attrs["n_pos"])}, j["constant_churn"]
assert j["churn"] is not None and j["segments"] is not None and j["clv"] is not None
PY
X 1 model show e1.h5 > show.txt
grep -q '^constant churn   baseline rate 0\.[0-9]\{4\} ([0-9]* of [0-9]* training customers churned)$' show.txt \
  || fail "model show has no constant churn line: $(cat show.txt)"
grep -q '^churn model ' show.txt && grep -q '^segments ' show.txt && grep -q '^lifetime value ' show.txt \
  || fail "model show lost a built-in kind"
X 1 train --features f.h5 --out e1b.h5 --models constant_churn --split 0.5,0.25,0.25 -q
X 1 model diff e1.h5 e1b.h5 > diff.txt
grep -A1 '^constant churn$' diff.txt | grep -q 'baseline rate' || fail "model diff: $(cat diff.txt)"
grep -q '^churn model' diff.txt && fail "model diff compared a churn model that one bundle lacks"

# the plain retain does not know the kind: by name, not as a damaged bundle
set +e
R 1 model show e1.h5 > plain.out 2>&1; rc=$?
R 1 train --features f.h5 --out p.h5 --models churn,constant_churn -q > plain-train.out 2>&1; rc2=$?
set -e
[ "$rc" = 4 ] || fail "plain retain read a bundle with an unknown kind (exit $rc)"
grep -q "holds a model '/constant_churn' that this retain does not know" plain.out \
  || fail "unclear refusal: $(cat plain.out)"
[ "$rc2" = 2 ] && grep -q "unknown model 'constant_churn'" plain-train.out \
  || fail "plain retain train accepted constant_churn (exit $rc2): $(cat plain-train.out)"
[ ! -e p.h5 ] || fail "a refused training left p.h5"

# the built-in models are untouched by the extra line: the same bundle as the plain retain's
R 2 train --features f.h5 --out plain.h5 --k 4 -q
X 2 train --features f.h5 --out ex.h5 --models churn,segments,clv --k 4 -q
"$RETAIN_PYTHON" - <<'PY' || fail "built-in models differ between retain and retain-example"
import h5py, subprocess, sys
a, b = h5py.File("plain.h5", "r"), h5py.File("ex.h5", "r")
# the options record names every kind of the build, so only the models are compared
for g in ("churn", "segments", "clv"):
    def flat(o, p=""):
        out = {p + "@" + k: v for k, v in o.attrs.items()}
        if isinstance(o, h5py.Group):
            for n in o: out.update(flat(o[n], p + "/" + n))
        else:
            out[p] = o[()].tobytes() if hasattr(o[()], "tobytes") else o[()]
        return out
    fa, fb = flat(a[g]), flat(b[g])
    assert fa.keys() == fb.keys(), g
    for k in fa:
        x, y = fa[k], fb[k]
        same = x.tobytes() == y.tobytes() if hasattr(x, "tobytes") else x == y
        assert same, (g, k)
print("churn, segments, clv groups identical")
PY
echo "example model kind: OK"
