#!/usr/bin/env bash
# data-samples/ is checked before use: cmake/unpack-data.cmake must accept the datasets as
# committed and refuse a tampered checksum, a truncated archive and an unlisted archive,
# naming the file each time and leaving no file under the final name.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/data_verify
SRC=$RETAIN_SOURCE_DIR
rm -rf "$W"; mkdir -p "$W"; cd "$W" || exit 1
fail=0
die() { echo "FAIL: $*"; fail=1; }
# CMake wraps its messages: joined into one line for the greps
unpack() {
  local rc
  cmake -DSRC="$1" -DOUT="$2" -DSTAMP="$2/.verified" -P "$SRC/cmake/unpack-data.cmake" >log 2>&1
  rc=$?
  tr -s '\n ' '  ' <log
  return $rc
}

out=$(unpack "$SRC/data-samples" ok) || die "the committed datasets do not verify: $out"
grep -q "7 datasets verified" <<<"$out" || die "expected 7 datasets verified: $out"
[[ -f ok/online_retail/online_retail_2010_2011.csv ]] || die "Online Retail not unpacked"

cp -r "$SRC/data-samples" bad
sed -i 's/^e/f/' bad/SHA256SUMS   # CDNOW_master.txt's digest
out=$(unpack bad o1) && die "a wrong digest was accepted"
grep -q "CDNOW_master.txt: SHA-256 .* does not match" <<<"$out" || die "digest error names no file: $out"
[[ ! -e o1/cdnow/CDNOW_master.txt ]] || die "a file that failed its check was left in place"

cp "$SRC/data-samples/SHA256SUMS" bad/SHA256SUMS
head -c 20000 "$SRC/data-samples/cdnow/CDNOW_sample.txt.xz" >bad/cdnow/CDNOW_sample.txt.xz
out=$(unpack bad o2) && die "a truncated archive was accepted"
grep -q "CDNOW_sample.txt" <<<"$out" || die "truncation error names no file: $out"
[[ ! -e o2/cdnow/CDNOW_sample.txt && ! -e o2/cdnow/CDNOW_sample.txt.tmp ]] ||
  die "a truncated archive left a file behind"

cp "$SRC/data-samples/cdnow/CDNOW_sample.txt.xz" bad/cdnow/
cp bad/cdnow/CDNOW_sample.txt.xz bad/unlisted.txt.xz
out=$(unpack bad o3) && die "an unlisted archive was accepted"
grep -q "unlisted.txt.xz has no line in SHA256SUMS" <<<"$out" || die "unlisted archive not named: $out"
((fail == 0)) && echo "data-samples verification: ok"
exit $fail
