#!/usr/bin/env bash
# Bad inputs to `retain ingest`: each must end in a clear error (documented exit code and a
# message naming the problem) or in rejects with the right reason and original line
# number; never a crash or a hang. Also run by the sanitizer build in CI.
set -u
WORK=${1:?work dir}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
BIN=$RETAIN_BIN
SAMPLE=$RETAIN_SOURCE_DIR/data-samples/online-retail-sample.csv
read -r -a MPIFLAGS <<<"$(echo "${RETAIN_MPIEXEC_FLAGS:-}" | tr ';' ' ')"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >key && echo >>key)

# run NAME EXPECTED_EXIT GREP_PATTERN ARGS... : runs ingest, checks exit code and stderr
run() {
  local name=$1 want=$2 pat=$3
  shift 3
  "$BIN" ingest --key key "$@" >"$name.out" 2>"$name.err"
  local rc=$?
  [[ $rc =~ ^($want)$ ]] || fail "$name: exit $rc, expected $want: $(tail -c 600 "$name.err")"
  if [[ -n $pat ]] && ! grep -q -- "$pat" "$name.err"; then
    fail "$name: message lacks '$pat': $(tail -c 600 "$name.err")"
  fi
  if grep -q -E "AddressSanitizer|runtime error|Segmentation|Aborted" "$name.err"; then
    fail "$name: crashed or undefined behaviour: $(head -c 800 "$name.err")"
  fi
}
# reject NAME REASON LINE : the rejects file lists LINE with REASON
reject() {
  grep -q "^\"[^\"]*\",$3,$2," "$1" || fail "$1: no $2 reject at line $3: $(head -5 "$1")"
}
HDR="InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROW="536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom"

# 1. empty file
: >empty.csv
run empty 5 "is empty" --format online-retail --out empty.h5 empty.csv
[[ ! -e empty.h5 ]] || fail "empty: a store was written"

# 2. header only
echo "$HDR" >header.csv
run header 5 "no rows accepted" --format online-retail --out header.h5 header.csv

# 3. truncated file: the last record is cut in the middle
head -c 100000 "$SAMPLE" >trunc.csv
lines=$(wc -l <trunc.csv)
run trunc 0 "" --format online-retail --out trunc.h5 --rejects trunc.rej trunc.csv
tail -1 trunc.rej | grep -q "wrong_column_count\|bad_date\|bad_price\|bad_quantity" ||
  fail "trunc: last record not rejected: $(tail -1 trunc.rej)"
grep -q ",$((lines + 1)),[a-z_]*,\"" trunc.rej || fail "trunc: line $((lines + 1)) not in rejects"
"$BIN" inspect trunc.h5 >/dev/null 2>&1 || fail "trunc: store does not validate"

# 4. bad rows of every kind in one file, at known lines
{
  echo "$HDR"
  echo "$ROW"                                                                    # 2 ok
  echo "536365,85123A,X,six,2010-12-01 08:26:00,2.55,17850.0,United Kingdom"     # 3
  echo "536365,85123A,X,6,2010-02-30 08:26:00,2.55,17850.0,United Kingdom"       # 4
  echo "536365,85123A,X,6,2010-12-01 08:26:00,abc,17850.0,United Kingdom"        # 5
  echo "536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850.0"                      # 6
  echo "536365,85123A,X,6,2010-12-01 08:26:00,2.55,,United Kingdom"             # 7
  printf '536365,85123A,\xff\xfe,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n' # 8
  echo "536365,85123A,\"bad\"quote,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom" # 9
  echo ""                                                                        # 10 blank
  echo "536366,22633,\"HAND WARMER, \"\"UNION\"\"
JACK\",6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom"                        # 11-12 ok
  echo "536367,84879,X,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom"       # 13 ok
  echo "536367,84879,X,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom"       # 14 duplicate
  echo "536368,22960,X,6,2010-12-01 08:34:00,4.25,13047.0,United Kingdom"        # 15 ok
  printf '536369,22913,"never closed,3,2010-12-01 08:35:00,4.95,13047.0,United Kingdom\n' # 16
  echo "536370,22728,X,24,2010-12-01 08:45:00,3.75,12583.0,France"               # 17 (inside)
} >bad.csv
run bad 0 "" --format online-retail --max-reject-rate 1 --out bad.h5 --rejects bad.rej \
  --summary bad.json bad.csv
reject bad.rej bad_quantity 3
reject bad.rej bad_date 4
reject bad.rej bad_price 5
reject bad.rej wrong_column_count 6
reject bad.rej missing_customer 7
reject bad.rej bad_utf8 8
reject bad.rej bad_quote 9
reject bad.rej duplicate 14
reject bad.rej unterminated_quote 16
"$RETAIN_PYTHON" - bad.json bad.h5 <<'PY' || fail "bad: summary or store content"
import json, sys, h5py
s = json.load(open(sys.argv[1]))["ingest"]
# 13 records (the blank line is not a row; the unterminated quote swallows line 17)
assert s["rows_read"] == 13, s
assert s["rows_rejected"] == 8 and s["duplicates_removed"] == 1, s
assert s["rows_accepted"] == 4 and s["rows_written"] == 4, s
assert s["blank_lines"] == 1, s
assert s["rows_read"] == s["rows_accepted"] + s["rows_rejected"] + s["duplicates_removed"]
with h5py.File(sys.argv[2]) as f:
    assert sorted(int(a) for a in f["transactions/amount"][...]) == [1110, 1530, 2550, 5408]
PY
# the same file split over 3 ranks gives the same rejects and store datasets
"$RETAIN_MPIEXEC" -n 3 "${MPIFLAGS[@]}" "$BIN" ingest --key key --format online-retail \
  --max-reject-rate 1 --out bad3.h5 --rejects bad3.rej --quiet bad.csv 2>bad3.err ||
  fail "bad at 3 ranks: $(tail -c 600 bad3.err)"
cmp -s bad.rej bad3.rej || fail "bad: rejects differ at 3 ranks"
for c in customer time amount quantity item category store channel basket; do
  h5diff bad.h5 bad3.h5 /transactions/$c >/dev/null 2>&1 || fail "bad: column $c differs at 3 ranks"
done

# 5. reject rate exceeded: exit 5, no store, rejects written
run rate 5 "max-reject-rate" --format online-retail --max-reject-rate 0.1 --out rate.h5 \
  --rejects rate.rej bad.csv
[[ ! -e rate.h5 ]] || fail "rate: a store was written"
[[ -s rate.rej ]] || fail "rate: no rejects file"

# 6. binary garbage: as the whole file, and after a valid header (1 and 2 ranks)
# fixed pseudo-random bytes (seeded), so every run sees the same garbage
garbage() { "$RETAIN_PYTHON" -c "import random, sys; random.seed($1); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(200000)))"; }
garbage 7 >garbage.bin
# a file of garbage has no usable header: a format error (4) or no acceptable row (5)
run garbage "4|5" "not UTF-8\|header" --format online-retail --out garbage.h5 garbage.bin
{ echo "$HDR"; garbage 8; } >garbage2.csv
run garbage2 5 "rejected" --format online-retail --out garbage2.h5 --rejects garbage2.rej garbage2.csv
"$RETAIN_MPIEXEC" -n 2 "${MPIFLAGS[@]}" "$BIN" ingest --key key --format online-retail \
  --out garbage3.h5 --rejects garbage3.rej garbage2.csv >/dev/null 2>garbage3.err
rc=$?
[[ $rc == 5 ]] || fail "garbage at 2 ranks: exit $rc: $(tail -c 600 garbage3.err)"
cmp -s garbage2.rej garbage3.rej || fail "garbage: rejects differ at 2 ranks"

# 7. a mapping naming a column the file does not have; incomplete and invalid mappings
printf '[columns]\ncustomer = CustomerID\ntime = InvoiceDate\namount = Total\n' >missing.ini
run missingcol 6 "'Total' is not in the header" --mapping missing.ini --out m.h5 "$SAMPLE"
printf '[columns]\ncustomer = a\n' >incomplete.ini
run incomplete 6 "no time column" --mapping incomplete.ini --out m.h5 "$SAMPLE"
printf '[values]\ntimezone = Nowhere/Atlantis\n' >tz.ini
run badtz 6 "timezone" --mapping tz.ini --out m.h5 "$SAMPLE"

# 8. key problems
cp key key644 && chmod 644 key644
"$BIN" ingest --key key644 --format online-retail --out k.h5 "$SAMPLE" >/dev/null 2>key644.err
rc=$?
[[ $rc == 6 ]] && grep -q "chmod 600" key644.err || fail "key644: exit $rc: $(cat key644.err)"
(umask 077 && echo "abcdef" >shortkey)
"$BIN" ingest --key shortkey --format online-retail --out k.h5 "$SAMPLE" >/dev/null 2>short.err
[[ $? == 6 ]] && grep -q "at least 32" short.err || fail "shortkey: $(cat short.err)"
"$BIN" ingest --format online-retail --out k.h5 "$SAMPLE" >/dev/null 2>nokey.err
[[ $? == 2 ]] && grep -q -- "--key" nokey.err || fail "nokey: $(cat nokey.err)"
[[ ! -e k.h5 ]] || fail "key problems: a store was written"

# 9. missing input, unknown preset, bad option values
run noinput 3 "cannot open input" --format online-retail --out n.h5 does-not-exist.csv
"$BIN" ingest --key key --format nosuch --out n.h5 "$SAMPLE" >/dev/null 2>preset.err
[[ $? == 2 ]] && grep -q "unknown --format" preset.err || fail "preset: $(cat preset.err)"
"$BIN" ingest --key key --format online-retail --max-reject-rate 2 --out n.h5 "$SAMPLE" \
  >/dev/null 2>rate2.err
[[ $? == 2 ]] || fail "max-reject-rate 2 accepted"

# 10. the sample ingests cleanly; with a BOM and CRLF line ends it gives the same store
printf '\xef\xbb\xbf' >crlf.csv
sed 's/$/\r/' "$SAMPLE" >>crlf.csv
run sample 0 "" --format online-retail --out sample.h5 --rejects sample.rej "$SAMPLE"
run crlf 0 "" --format online-retail --out crlf.h5 --rejects crlf.rej crlf.csv
for c in customer time amount quantity item category store channel basket; do
  h5diff sample.h5 crlf.h5 /transactions/$c >/dev/null 2>&1 || fail "crlf+bom: column $c differs"
done
cut -d, -f2,3 sample.rej | cmp -s - <(cut -d, -f2,3 crlf.rej) || fail "crlf+bom: rejects differ"

if ((fails)); then
  echo "$fails failure(s)"
  exit 1
fi
echo "ingest bad inputs: all checks passed"
