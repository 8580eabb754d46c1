#!/usr/bin/env bash
# Builds the CSV parser fuzzer with clang's libFuzzer (+ ASan/UBSan) and runs it for a
# short time (default 20 s) from a seed corpus. Fails, saying what to install, without
# clang/libFuzzer (configure with -DRETAIN_TEST_FUZZ=OFF to leave the test out).
set -u
WORK=${1:?work dir}
SECONDS_TO_RUN=${2:-20}
SRC=${RETAIN_SOURCE_DIR:?}
CLANG=${CLANG:-$(command -v clang || true)}
if [[ -z $CLANG ]]; then
  echo "FAIL: clang not found: install Debian's clang and libclang-rt-14-dev (scripts/install-deps.sh)"
  echo "      or configure with -DRETAIN_TEST_FUZZ=OFF to leave the fuzz test out"
  exit 1
fi
rm -rf "$WORK" && mkdir -p "$WORK/corpus" && cd "$WORK" || exit 1
if ! "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
     -I "$SRC/include" "$SRC/tests/fuzz/fuzz_csv.c" "$SRC/src/ingest/csv.c" -o fuzz_csv 2>build.log; then
  if grep -q -i "fuzzer" build.log; then
    echo "FAIL: libFuzzer is not available for $CLANG: install Debian's libclang-rt-14-dev"
    echo "      (scripts/install-deps.sh) or configure with -DRETAIN_TEST_FUZZ=OFF"
    cat build.log
    exit 1
  fi
  cat build.log
  exit 1
fi
# seeds: real lines, quoting corner cases, the whitespace layout
head -c 3000 "$SRC/data-samples/online-retail-sample.csv" >corpus/sample
printf 'a,"b,""c""",d\r\n"multi\nline",,\n\n"open' >corpus/quotes
printf '\xef\xbb\xbfh1;h2\r\nx;"y"z\r\n' >corpus/bom
printf ' 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n' >corpus/ws
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
./fuzz_csv -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -print_final_stats=1 \
  corpus >fuzz.log 2>&1
rc=$?
tail -n 15 fuzz.log
exit $rc
