#!/usr/bin/env bash
# Bad command lines exit 2 with a usage message and leave no output file.
set -u
W=$1
rm -rf "$W"; mkdir -p "$W"
fail=0
expect2() {
  "$RETAIN_BIN" generate "$@" > "$W/out.txt" 2> "$W/err.txt"
  rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL: generate $* exited $rc (want 2)"; cat "$W/err.txt"; fail=1; fi
  grep -q "usage: retain generate" "$W/err.txt" || { echo "FAIL: no usage for: $*"; fail=1; }
}
expect2 --customers 10
expect2 --out "$W/x.h5" --customers 0
expect2 --out "$W/x.h5" --customers abc
expect2 --out "$W/x.h5" --days 0
expect2 --out "$W/x.h5" --days 99999999
expect2 --out "$W/x.h5" --start 2023-13-01
expect2 --out "$W/x.h5" --start 2023-01-01T10:00:00
expect2 --out "$W/x.h5" --buckets 0
expect2 --out "$W/x.h5" --seed -1
expect2 --out "$W/x.h5" --block-rows 0
expect2 --out "$W/x.h5" --bogus 1
expect2 --out "$W/x.h5" extra
expect2 --out
ls "$W"/x.h5 2>/dev/null && { echo "FAIL: an output was left behind"; fail=1; }
# help works and exits 0
"$RETAIN_BIN" generate --help | grep -q -- "--customers" || { echo "FAIL: --help"; fail=1; }
# an unwritable destination is an i/o error (3), not a crash or a hang
"$RETAIN_BIN" generate --customers 10 --out "$W/no/such/dir/x.h5" 2> "$W/err.txt"
rc=$?
[ $rc -eq 3 ] || { echo "FAIL: unwritable output exited $rc (want 3)"; cat "$W/err.txt"; fail=1; }
exit $fail
