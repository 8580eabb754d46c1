#!/usr/bin/env bash
# End-to-end scale benchmark: generate -> features -> train (churn + segments) -> score
# (-> export when the binary has it) at several data sizes and rank counts, with the
# machine's memory-read bandwidth measured in the same run (bench/membw.c).
#
# usage: bench/pipeline.sh [SIZES] [RANKS]
#   SIZES  transactions, space separated (default "1e7 1e8 5e8")
#   RANKS  rank counts, space separated (default "1 2")
# environment: BUILD (build directory, default build), BENCH_DIR (default
#   /tmp/retain-bench-pipeline; about 50 bytes per transaction for the store), MPIEXEC,
#   K (k-means clusters, default 6), KEEP=1 keeps the stores afterwards.
#
# Per stage it records the wall time (max over ranks), peak resident memory of the largest
# rank, bytes read and written through system calls (summed over ranks), throughput and the
# ratio to the stage's memory-read bound (bytes it must stream / measured bandwidth):
#   generate  -                                   (compute bound: random numbers)
#   features  transactions x 45 bytes             (the columns read)
#   train     (LR evaluations x n_train x d + Lloyd iterations of all restarts x n x d_seg) x 8
#             bytes (k-means|| seeding and the evaluation passes are extra work above the bound)
#   score     customers x (d + 5) x 8 bytes       (features + CLV summary, read once)
# Results: a table on stdout and BENCH_DIR/results.jsonl (one JSON object per stage run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
read -r -a SIZES <<<"${1:-1e7 1e8 5e8}"
read -r -a RANKS <<<"${2:-1 2}"
BUILD=${BUILD:-$ROOT/build}
DIR=${BENCH_DIR:-/tmp/retain-bench-pipeline}
K=${K:-6}
PY=/usr/bin/python3
MPI=(${MPIEXEC:-mpiexec} --oversubscribe --bind-to none --allow-run-as-root)
RETAIN=$BUILD/retain
mkdir -p "$DIR"
RESULTS=$DIR/results.jsonl
: >"$RESULTS"
HAVE_EXPORT=0
"$RETAIN" export --help >/dev/null 2>&1 && HAVE_EXPORT=1

declare -A BW
for np in "${RANKS[@]}"; do
  BW[$np]=$("${MPI[@]}" -n "$np" "$BUILD/membw" 1024 | $PY -c 'import json,sys; print(json.load(sys.stdin)["gb_per_s"])')
  echo "memory-read bandwidth, $np rank(s): ${BW[$np]} GB/s"
done

# record SIZE NP STAGE SUMMARY [BUNDLE FEATURES]: appends one result line and prints it
record() {
  $PY - "$@" "${BW[$2]}" >>"$RESULTS" <<'PY'
import json, sys
size, np_, stage, summ = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
extra = sys.argv[5:-1]
bw = float(sys.argv[-1]) * 1e9
s = json.load(open(summ))
r = {"size": float(size), "ranks": np_, "stage": stage, "wall_s": s["wall_seconds"],
     "rss_mb": s["peak_rss_mb_max_rank"], "bytes_read": s.get("bytes_read"),
     "bytes_written": s.get("bytes_written"), "bw_gb_s": bw / 1e9,
     "phases": {k: v["seconds_max"] for k, v in s.get("phases", {}).items()}}
if stage == "generate":
    r["items"] = s["generate"]["rows"]; r["unit"] = "transactions"
elif stage == "features":
    rows = s["features"]["rows_scanned"] if "rows_scanned" in s["features"] else None
    r["items"] = rows; r["unit"] = "transactions"
    r["bound_s"] = rows * 45 / bw if rows else None
elif stage == "train":
    c, g = s["train.churn"], s["train.segments"]
    n = s["train"]["customers"]
    r.update(d=c["features"], d_seg=g["features"], k=g["k"], lr_evaluations=c["evaluations"],
             lr_rows=c["rows"], kmeans_iterations_total=g["lloyd_iterations_total"])
    bytes_ = (c["evaluations"] * c["rows"] * c["features"]
              + g["lloyd_iterations_total"] * n * g["features"]) * 8
    r["items"] = n; r["unit"] = "customers"; r["bound_s"] = bytes_ / bw
elif stage == "score":
    import h5py
    with h5py.File(extra[0], "r") as f:
        n = int(f.attrs["n_customers"]); d = f["features/names"].shape[0]
    r["items"] = n; r["unit"] = "customers"; r["bound_s"] = n * (d + 5) * 8 / bw
else:
    r["items"] = None; r["unit"] = ""
r["throughput"] = r["items"] / r["wall_s"] if r["items"] else None
r["ratio"] = r["wall_s"] / r["bound_s"] if r.get("bound_s") else None
print(json.dumps(r))
f = lambda v, fmt: (fmt % v) if v is not None else "-"
print(f"{size:>6} {np_:>5} {stage:<9} {r['wall_s']:9.2f} {r['rss_mb']:9.0f} "
      f"{(r['bytes_read'] or 0) / 1e9:8.2f} {(r['bytes_written'] or 0) / 1e9:8.2f} "
      f"{f(r['throughput'], '%11.3e')} {f(r['ratio'], '%7.1f')}", file=sys.stderr)
PY
}

printf "%6s %5s %-9s %9s %9s %8s %8s %11s %7s\n" size ranks stage wall_s rss_MB read_GB \
  write_GB items_per_s x_bound >&2
for size in "${SIZES[@]}"; do
  rows=$($PY -c "print(int(float('$size')))")
  # 730 days of the default mall mix give about 35 transactions per customer
  customers=$((rows / 35))
  store=$DIR/store-$size.h5
  for np in "${RANKS[@]}"; do
    run=("${MPI[@]}" -n "$np" "$RETAIN")
    tag=$size.np$np
    "${run[@]}" generate --customers "$customers" --days 730 --start 2023-01-01 --seed 1 \
      --out "$store" --quiet --summary "$DIR/generate.$tag.json"
    record "$size" "$np" generate "$DIR/generate.$tag.json"
    "${run[@]}" features --store "$store" --cutoff 2024-07-01 --horizon 90 \
      --out "$DIR/features.h5" --quiet --summary "$DIR/features.$tag.json"
    record "$size" "$np" features "$DIR/features.$tag.json"
    "${run[@]}" train --features "$DIR/features.h5" --out "$DIR/model.h5" --models churn,segments \
      --k "$K" --quiet --summary "$DIR/train.$tag.json"
    record "$size" "$np" train "$DIR/train.$tag.json"
    "${run[@]}" score --model "$DIR/model.h5" --features "$DIR/features.h5" \
      --out "$DIR/scores.h5" --top 1000 --warning-list "$DIR/warning-list.csv" --quiet \
      --summary "$DIR/score.$tag.json"
    record "$size" "$np" score "$DIR/score.$tag.json" "$DIR/model.h5"
    if [[ $HAVE_EXPORT == 1 ]]; then
      "$RETAIN" export --model "$DIR/model.h5" --onnx "$DIR/model.onnx" --json "$DIR/model.json" \
        --quiet --summary "$DIR/export.$tag.json"
      record "$size" "$np" export "$DIR/export.$tag.json"
    fi
  done
  [[ ${KEEP:-0} == 1 ]] || rm -f "$store"
done
$PY - "$RESULTS" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
for r in rows:
    by[(r["size"], r["ranks"])][r["stage"]] = r
print("\nstore -> scores (features + train + score), wall seconds:")
for (size, np_), st in sorted(by.items()):
    t = sum(st[s]["wall_s"] for s in ("features", "train", "score") if s in st)
    m = max(st[s]["rss_mb"] for s in st)
    print(f"  {size:.0e} transactions, {np_} rank(s): {t:8.2f} s   peak memory per rank {m:7.0f} MB")
PY
