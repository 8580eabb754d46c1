#!/usr/bin/env bash
# Benchmark of `retain generate`: rows/s, MB/s and peak RSS per rank at several rank counts.
#
# usage: bench/generate.sh [ROWS] [RANKS...]
#   ROWS   approximate number of transactions (default 10000000; the model yields about
#          35 rows per customer over 730 days, so customers = ROWS / 35)
#   RANKS  rank counts to run (default: 1 2)
# environment: RETAIN (binary, default build/retain), BENCH_DIR (scratch directory, default
#   /tmp/retain-bench-generate; needs about 60 bytes per row), MPIEXEC (default mpiexec).
#
# 10^8 transactions (about 4.9 GB of store, 2.9 million customers):
#   bench/generate.sh 100000000 2
# Memory stays bounded: each rank holds one write round (--block-rows, default 2^21 rows,
# about 100 MB for the columns plus the same for the generation buffers) plus 16 bytes per
# customer of its bucket range.
set -euo pipefail
ROWS=${1:-10000000}
shift || true
RANKS=("$@")
[ ${#RANKS[@]} -eq 0 ] && RANKS=(1 2)
HERE=$(cd "$(dirname "$0")/.." && pwd)
RETAIN=${RETAIN:-$HERE/build/retain}
MPIEXEC=${MPIEXEC:-mpiexec}
W=${BENCH_DIR:-/tmp/retain-bench-generate}
mkdir -p "$W"
CUST=$(( ROWS / 35 ))
[ $CUST -lt 1 ] && CUST=1
FLAGS=(--allow-run-as-root --oversubscribe --bind-to none)
printf "%-6s %12s %10s %12s %10s %12s %s\n" ranks rows seconds rows/s MB/s peakRSS/rank store
for np in "${RANKS[@]}"; do
  rm -f "$W"/rss.* "$W/store.h5" "$W/summary.json"
  t0=$(date +%s.%N)
  "$MPIEXEC" -n "$np" "${FLAGS[@]}" sh -c \
    '/usr/bin/time -f %M -o "$0/rss.${OMPI_COMM_WORLD_RANK:-0}" "$@"' "$W" \
    "$RETAIN" generate --customers "$CUST" --days 730 --seed 1 --out "$W/store.h5" \
    --summary "$W/summary.json" --quiet
  t1=$(date +%s.%N)
  rows=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['generate']['rows'])" "$W/summary.json")
  secs=$(echo "$t1 - $t0" | bc -l)
  rss=$(cat "$W"/rss.* | sort -n | tail -1)
  size=$(stat -c %s "$W/store.h5")
  # MB/s counts the column bytes of the rows (49 bytes per row), as written to the store
  printf "%-6s %12d %10.2f %12.0f %10.1f %9d MB %5d MB\n" "$np" "$rows" "$secs" \
    "$(echo "$rows / $secs" | bc -l)" "$(echo "$rows * 49 / $secs / 1000000" | bc -l)" \
    $(( rss / 1024 )) $(( size / 1000000 ))
done
rm -f "$W/store.h5"
