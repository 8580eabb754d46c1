#!/usr/bin/env bash
# Benchmark of `retain ingest`: MB/s and rows/s on a generated CSV export at several rank
# counts (wall time of the whole command: parse, dictionaries, shuffle, sort, write).
#
# usage: bench/ingest.sh [CUSTOMERS] [RANKS...]
#   CUSTOMERS  customers of the generated data (default 300000: about 10.2 million rows,
#              1.07 GB of CSV)
#   RANKS      rank counts to run (default: 1 2)
# environment: RETAIN (binary, default build/retain), BENCH_DIR (scratch directory, default
#   /tmp/retain-bench-ingest; needs about 2.5 GB), MPIEXEC (default mpiexec),
#   REPEAT (runs per rank count, the best is reported; default 1).
#
# The CSV comes from `retain generate --csv`; when that option is missing, a small awk
# script writes a CSV of the same layout instead.
set -euo pipefail
CUST=${1:-300000}
shift || true
RANKS=("$@")
[ ${#RANKS[@]} -eq 0 ] && RANKS=(1 2)
HERE=$(cd "$(dirname "$0")/.." && pwd)
RETAIN=${RETAIN:-$HERE/build/retain}
MPIEXEC=${MPIEXEC:-mpiexec}
REPEAT=${REPEAT:-1}
W=${BENCH_DIR:-/tmp/retain-bench-ingest}
mkdir -p "$W"
cd "$W"
FLAGS=(--allow-run-as-root --oversubscribe --bind-to none)

CSV=gen-$CUST.csv
if [ ! -s "$CSV" ]; then
  if "$RETAIN" generate --help 2>/dev/null | grep -q -- "--csv"; then
    echo "generating $CSV with retain generate --csv ($CUST customers)"
    "$RETAIN" generate --customers "$CUST" --out gen-$CUST.h5 --csv "$CSV" --quiet
  else
    echo "generating $CSV with awk ($CUST customers x 34 rows)"
    awk -v n="$CUST" 'BEGIN {
      srand(1); print "customer_id,invoice,timestamp,item,category,store,channel,quantity,unit_price,amount"
      split("in-store online app", ch, " ")
      for (c = 0; c < n; c++) for (k = 0; k < 34; k++) {
        q = 1 + int(rand() * 4); p = int(rand() * 5000) + 50
        printf "C%08d,S%016x,2023-%02d-%02d %02d:%02d:%02d,ITM-%03d,Category %d,Store %d,%s,%d,%d.%02d,%d.%02d\n",
          c, c * 64 + k, 1 + int(rand() * 12), 1 + int(rand() * 28), int(rand() * 24), int(rand() * 60),
          int(rand() * 60), int(rand() * 600), int(rand() * 12), int(rand() * 7), ch[1 + int(rand() * 3)],
          q, p / 100, p % 100, q * p / 100, (q * p) % 100 }
    }' >"$CSV"
  fi
fi
cat >gen.ini <<'EOF'
[columns]
customer = customer_id
time = timestamp
quantity = quantity
amount = amount
item = item
category = category
store = store
channel = channel
basket = invoice
[values]
time_format = %Y-%m-%d %H:%M:%S
currency = EUR
return_prefix = R
EOF
[ -s key ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >key)
BYTES=$(stat -c %s "$CSV")
ROWS=$(($(wc -l <"$CSV") - 1))
echo "input: $CSV, $BYTES bytes, $ROWS rows"
printf "%-6s %10s %10s %12s %s\n" ranks seconds MB/s rows/s "phases (max over ranks, s)"
for np in "${RANKS[@]}"; do
  best=""
  for ((r = 0; r < REPEAT; r++)); do
    rm -f out.h5
    t0=$(date +%s.%N)
    "$MPIEXEC" -n "$np" "${FLAGS[@]}" "$RETAIN" ingest --mapping gen.ini --key key \
      --out out.h5 --rejects out.rej --summary sum-$np.json --quiet "$CSV"
    t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || (($(echo "$s < $best" | bc -l))); then best=$s; fi
  done
  phases=$(python3 -c "import json,sys; p=json.load(open('sum-$np.json'))['phases']; print(' '.join(f'{k}={v[\"seconds_max\"]:.2f}' for k,v in p.items()))" 2>/dev/null || true)
  printf "%-6s %10.2f %10.1f %12.0f %s\n" "$np" "$best" "$(echo "$BYTES / $best / 1000000" | bc -l)" \
    "$(echo "$ROWS / $best" | bc -l)" "$phases"
done
