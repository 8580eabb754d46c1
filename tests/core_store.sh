#!/usr/bin/env bash
# Store writer/reader end to end: the same store written at 1..4 ranks is identical
# dataset by dataset, inspect validates it at any rank count, damaged/truncated/foreign files
# get clear errors, and an injected failure on one rank ends every rank (no hang, no output).
set -u
FIX=$1
W=${RETAIN_TEST_TMP:-$PWD}/core_store
rm -rf "$W"; mkdir -p "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
PY=$RETAIN_PYTHON
fail=0
die() { echo "FAIL: $*"; fail=1; }

for np in 1 2 3 4; do
  timeout 120 "${MPI[@]}" -n $np "$FIX" "$W/s$np.h5" 3000 7 64 500 || die "fixture at $np ranks"
done
"$PY" - "$W" <<'PYEOF' || fail=1
import sys, h5py, numpy as np
w = sys.argv[1]
files = [h5py.File(f"{w}/s{n}.h5", "r") for n in (1, 2, 3, 4)]
def walk(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out
ref = walk(files[0])
assert len(ref) >= 14, sorted(ref)
bad = 0
for n, f in zip((2, 3, 4), files[1:]):
    other = walk(f)
    assert sorted(other) == sorted(ref), (sorted(other), sorted(ref))
    for k in ref:
        if not np.array_equal(ref[k], other[k]):
            print(f"dataset {k} differs between 1 and {n} ranks"); bad += 1
    if f.attrs["content_digest"] != files[0].attrs["content_digest"]:
        print(f"content_digest differs at {n} ranks"); bad += 1
# independent checks of the layout
f = files[0]
off = f["index/bucket_offsets"][()]
cust = f["transactions/customer"][()]
t = f["transactions/time"][()]
B = int(f.attrs["buckets"])
assert off[0] == 0 and off[-1] == len(cust) == f.attrs["n_rows"]
M = (1 << 64) - 1
def mix(z):
    z = (z + 0x9e3779b97f4a7c15) & M
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)
for b in range(B):
    for k in np.unique(cust[off[b]:off[b + 1]]):
        assert (mix(int(k)) * B) >> 64 == b, "row in wrong bucket"
assert len(np.unique(cust)) == 3000 == f.attrs["n_customers"]
sys.exit(1 if bad else 0)
PYEOF

# inspect validates at any rank count and prints a summary
for np in 1 2 3; do
  out=$(timeout 120 "${MPI[@]}" -n $np "$RETAIN_BIN" inspect "$W/s1.h5" 2>&1) || die "inspect at $np ranks: $out"
  grep -q "validation       ok" <<<"$out" || die "inspect output at $np ranks: $out"
done
timeout 60 "$RETAIN_BIN" inspect --json "$W/s1.h5" > "$W/inspect.json" 2>/dev/null || die "inspect --json"
"$PY" -c "import json,sys; d=json.load(open('$W/inspect.json')); assert d['valid'] and d['customers']==3000 and d['digests_verified'], d" || die "inspect json content"

expect_fail() { # CODE PATTERN FILE [np]
  local code=$1 pat=$2 file=$3 np=${4:-1}
  out=$(timeout 60 "${MPI[@]}" -n $np "$RETAIN_BIN" inspect "$file" 2>&1); got=$?
  [[ $got == "$code" ]] || die "inspect $file exited $got, expected $code: $out"
  grep -q "$pat" <<<"$out" || die "inspect $file: message lacks '$pat': $out"
  [[ $(grep -c "error:" <<<"$out") == 1 ]] || die "inspect $file: expected one error line: $out"
}
# missing, text, foreign HDF5, truncated, flipped data byte, broken offsets
expect_fail 3 "no such file" "$W/missing.h5" 2
expect_fail 4 "not an HDF5 file" "$RETAIN_SOURCE_DIR/CMakeLists.txt" 2
"$PY" -c "import h5py; f=h5py.File('$W/foreign.h5','w'); f['x']=[1,2,3]"
expect_fail 4 "not a retain transaction store" "$W/foreign.h5" 2
# h5py writes variable-length UTF-8 string attributes: they must be read, not mistaken for ''
"$PY" -c "import h5py; f=h5py.File('$W/vlen.h5','w'); f.attrs['format']='retain-transaction-store'; f['x']=[1]"
expect_fail 4 "format_version' is missing" "$W/vlen.h5" 1
size=$(stat -c %s "$W/s1.h5")
head -c $((size / 2)) "$W/s1.h5" > "$W/trunc.h5"
expect_fail 4 "damaged or truncated" "$W/trunc.h5" 2
cp "$W/s1.h5" "$W/flip.h5"
"$PY" - "$W/flip.h5" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
ds = f["transactions/amount"]
off = ds.id.get_chunk_info(0).byte_offset  # chunked column: first chunk
f.close()
with open(sys.argv[1], "r+b") as fh:
    fh.seek(off + 8 * 100 + 2); b = fh.read(1); fh.seek(off + 8 * 100 + 2); fh.write(bytes([b[0] ^ 0x55]))
PYEOF
expect_fail 4 "digest" "$W/flip.h5" 3
cp "$W/s1.h5" "$W/off.h5"
"$PY" -c "
import h5py; f=h5py.File('$W/off.h5','r+'); o=f['index/bucket_offsets']; v=o[()]; v[5],v[6]=v[6],v[5]; o[...]=v"
expect_fail 4 "bucket_offsets decreases" "$W/off.h5" 2
cp "$W/s1.h5" "$W/cust.h5"
"$PY" -c "
import h5py; f=h5py.File('$W/cust.h5','r+'); c=f['transactions/customer']; v=c[()]; import numpy as np; v[10]=v[10]^np.uint64(0xffff); c[...]=v"
expect_fail 4 "belongs to bucket" "$W/cust.h5" 2

# injected failure on one rank: every rank ends, one message, non-zero exit, no hang
out=$(RETAIN_INJECT_FAILURE=inspect-scan:1 timeout 60 "${MPI[@]}" -n 3 "$RETAIN_BIN" inspect "$W/s1.h5" 2>&1); got=$?
[[ $got != 0 && $got != 124 ]] || die "injected inspect failure exited $got"
[[ $(grep -c "error:" <<<"$out") == 1 ]] || die "injected failure: expected one error line: $out"
grep -q "rank 1: injected failure" <<<"$out" || die "injected failure message: $out"
out=$(RETAIN_INJECT_FAILURE=store-write:2 timeout 60 "${MPI[@]}" -n 3 "$FIX" "$W/inj.h5" 3000 7 64 500 2>&1); got=$?
[[ $got != 0 && $got != 124 ]] || die "injected writer failure exited $got"
[[ ! -e "$W/inj.h5" ]] || die "a failed write left the final file"
ls -a "$W" | grep -q "\.tmp-" && die "a failed write left a temporary file"
grep -q "rank 2: injected failure" <<<"$out" || die "writer failure message: $out"

# run summary JSON
timeout 60 "${MPI[@]}" -n 2 "$RETAIN_BIN" inspect --summary "$W/sum.json" "$W/s1.h5" >/dev/null 2>&1 || die "inspect with summary"
"$PY" -c "
import json; d=json.load(open('$W/sum.json'))
assert d['exit_status']==0 and d['ranks']==2 and 'scan' in d['phases'] and d['phases']['scan']['seconds_max']>=d['phases']['scan']['seconds_min']
assert d['inspect']['store']['valid'] is True" || die "summary content"
timeout 60 "${MPI[@]}" -n 2 "$RETAIN_BIN" inspect --summary "$W/sum2.json" "$W/flip.h5" >/dev/null 2>&1
"$PY" -c "
import json; d=json.load(open('$W/sum2.json')); assert d['exit_status']==4 and 'digest' in d['error']" || die "failure summary"
[[ $fail == 0 ]] && echo "core_store: all checks passed"
exit $fail
