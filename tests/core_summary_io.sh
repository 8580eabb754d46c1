#!/usr/bin/env bash
# The run summary's bytes_read / bytes_written count this run's own I/O. A process started by
# a shell's `exec` inherits the read/write counters (/proc/self/io rchar, wchar) of every child
# that shell had already reaped: a job script that copies or checks its input before
# `exec retain ...` would otherwise have that I/O in the summary. Here the wrapper shell first
# reads (and writes to /dev/null) a file far bigger than anything the run itself touches, then
# execs retain; the summary must show the run's I/O (at least the store's column data it
# writes or reads) and not the wrapper's.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/core_summary_io
rm -rf "$W"; mkdir -p "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
PY=$RETAIN_PYTHON
fail=0
die() { echo "FAIL: $*"; fail=1; }

PRE=$((96 << 20))
# sparse: read() returns its zeros without any disk I/O, and rchar counts them all the same
truncate -s $PRE "$W/big"
# the wrapper: its `cat` child is reaped before the exec
WRAP='cat "$1" >/dev/null; shift; exec "$@"'

# the situation the baseline handles: the exec'd process starts with the child's counts
"$PY" - "$PRE" <<'PYEOF' <(bash -c "$WRAP" _ "$W/big" cat /proc/self/io) || die "setup: the wrapper's I/O is not inherited, the test would prove nothing"
import sys
io = dict(l.split(":") for l in open(sys.argv[2]).read().split("\n") if l)
pre = int(sys.argv[1])
assert int(io["rchar"]) >= pre and int(io["wchar"]) >= pre, io
PYEOF

# check SUMMARY SECTION MIN_KEY: the run's counter KEY is at least the store's column bytes
# (rows from the summary's SECTION), and far below what the wrapper moved before the exec
check() {
  "$PY" - "$1" "$2" "$3" "$PRE" <<'PYEOF'
import json, sys
path, section, key, pre = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = json.load(open(path))
assert d["status"] == "ok", d
sec = d[section]
rows = sec["rows"] if "rows" in sec else sec["store"]["rows"]
cols = 8 + 8 + 8 + 4 + 4 + 4 + 4 + 1 + 8  # bytes per row of the nine store columns
got = d[key]
print(f"{path}: ranks {d['ranks']} rows {rows} {key} {got} "
      f"bytes_read {d['bytes_read']} bytes_written {d['bytes_written']}")
assert got >= rows * cols, (key, got, rows * cols)
for k in ("bytes_read", "bytes_written"):
    assert d[k] < pre // 2, (k, d[k], "limit", pre // 2)
PYEOF
}

R=$RETAIN_BIN
# one process (singleton), then two ranks each started through the wrapper
timeout 60 bash -c "$WRAP" _ "$W/big" "$R" generate --customers 3000 --days 365 --seed 3 \
  --buckets 64 --out "$W/s.h5" --summary "$W/gen1.json" >/dev/null 2>&1 || die "generate"
check "$W/gen1.json" generate bytes_written || die "generate summary (1 process)"
timeout 60 bash -c "$WRAP" _ "$W/big" "$R" inspect --summary "$W/ins1.json" "$W/s.h5" \
  >/dev/null 2>&1 || die "inspect"
check "$W/ins1.json" inspect bytes_read || die "inspect summary (1 process)"

timeout 60 "${MPI[@]}" -n 2 bash -c "$WRAP" _ "$W/big" "$R" generate --customers 3000 \
  --days 365 --seed 3 --buckets 64 --out "$W/s2.h5" --summary "$W/gen2.json" >/dev/null 2>&1 \
  || die "generate at 2 ranks"
check "$W/gen2.json" generate bytes_written || die "generate summary (2 ranks)"
timeout 60 "${MPI[@]}" -n 2 bash -c "$WRAP" _ "$W/big" "$R" inspect --summary "$W/ins2.json" \
  "$W/s.h5" >/dev/null 2>&1 || die "inspect at 2 ranks"
check "$W/ins2.json" inspect bytes_read || die "inspect summary (2 ranks)"

rm -rf "$W"
exit $fail
