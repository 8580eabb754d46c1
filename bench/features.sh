#!/usr/bin/env bash
# Benchmark of `retain features`: one streaming pass over each rank's rows of a generated
# store; rows/s and the ratio of the scan time to the memory-read bound for the columns
# read (customer, time, amount, quantity, category, store, channel, basket: 45 bytes a
# row), with the bandwidth measured in the same run (bench/membw.c).
#
# usage: bench/features.sh [ROWS] [RANKS...]   (default 100000000 rows, ranks 1 2)
# environment: BUILD (build directory, default build), BENCH_DIR (default
#   /tmp/retain-bench-features; the store needs about 50 bytes per row), MPIEXEC.
# The store is generated once (retain generate, 730 days) and reused when present.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${1:-100000000}
shift || true
RANKS=("${@:-1 2}")
[[ $# -eq 0 ]] && RANKS=(1 2)
BUILD=${BUILD:-$ROOT/build}
DIR=${BENCH_DIR:-/tmp/retain-bench-features}
MPI=(${MPIEXEC:-mpiexec} --oversubscribe --bind-to none --allow-run-as-root)
mkdir -p "$DIR"
CUST=$((ROWS / 35))
STORE=$DIR/store-$ROWS.h5
if [[ ! -e $STORE ]]; then
  echo "generating $CUST customers (~$ROWS rows) into $STORE"
  "${MPI[@]}" -n 2 "$BUILD/retain" generate --customers "$CUST" --days 730 --start 2023-01-01 \
    --seed 1 --out "$STORE" --quiet
fi
N=$("$BUILD/retain" inspect --quick --json "$STORE" 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"])')
echo "store: $N rows, $(du -h "$STORE" | cut -f1)"
printf "%-6s %10s %10s %12s %10s %10s %12s %10s\n" ranks wall_s scan_s rows_per_s GB_per_s bound_s ratio rss_MB_rank
for np in "${RANKS[@]}"; do
  bw=$("${MPI[@]}" -n "$np" "$BUILD/membw" 1024 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["gb_per_s"])')
  # drop nothing from the page cache: the store is read from memory, as the bound assumes
  "${MPI[@]}" -n "$np" "$BUILD/retain" features --store "$STORE" \
    --cutoff 2024-07-01 --horizon 90 --out "$DIR/features.h5" --summary "$DIR/sum.$np.json" --quiet
  /usr/bin/python3 - "$DIR/sum.$np.json" "$N" "$bw" "$np" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2]); bw = float(sys.argv[3]); np_ = int(sys.argv[4])
scan = s["phases"]["scan"]["seconds_max"]; wall = s["wall_seconds"]
bound = n * 45 / (bw * 1e9)
rss = s["peak_rss_mb_max_rank"]
print(f"{np_:<6d} {wall:10.2f} {scan:10.2f} {n / scan:12.3e} {n * 45 / scan / 1e9:10.2f} {bound:10.3f} {scan / bound:12.1f} {rss:10.0f}")
PY
done
