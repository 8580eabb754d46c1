#!/usr/bin/env bash
# Plots bench/pipeline.sh results with gnuplot: time per stage and peak memory per rank
# against the number of transactions, one line per rank count.
# usage: bench/plot-pipeline.sh RESULTS.jsonl OUT.svg
set -euo pipefail
RESULTS=$1
OUT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 - "$RESULTS" "$TMP" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
out = sys.argv[2]
by = collections.defaultdict(dict)
for r in rows:
    by[r["ranks"]].setdefault(r["size"], {})[r["stage"]] = r
for np_, sizes in by.items():
    with open(f"{out}/np{np_}.dat", "w") as f:
        f.write("# size generate features train score store_to_scores peak_rss_mb\n")
        for size in sorted(sizes):
            st = sizes[size]
            w = lambda s: st[s]["wall_s"] if s in st else float("nan")
            e2e = sum(w(s) for s in ("features", "train", "score"))
            rss = max(st[s]["rss_mb"] for s in st)
            f.write(f"{size:.0f} {w('generate')} {w('features')} {w('train')} {w('score')} {e2e} {rss}\n")
with open(f"{out}/ranks", "w") as f:
    f.write(" ".join(str(k) for k in sorted(by)))
PY
RANKS=$(cat "$TMP/ranks")
plot_time=""
plot_mem=""
for np in $RANKS; do
  d="'$TMP/np$np.dat'"
  plot_time+="$d using 1:6 with linespoints title 'store to scores, $np rank(s)', "
  plot_time+="$d using 1:2 with linespoints dashtype 2 title 'generate, $np rank(s)', "
  plot_mem+="$d using 1:7 with linespoints title 'peak memory per rank, $np rank(s)', "
done
gnuplot <<EOF
set terminal svg size 1000,420 dynamic font "sans,11" background rgb "white"
set output "$TMP/plot.svg"
set multiplot layout 1,2
set logscale xy
set grid
set key top left
set xlabel "transactions"
set ylabel "seconds (wall, max over ranks)"
set title "Time"
plot ${plot_time%, }
set ylabel "MB"
set logscale x
unset logscale y
set yrange [0:*]
set title "Peak resident memory per rank"
plot ${plot_mem%, }
unset multiplot
EOF
mv "$TMP/plot.svg" "$OUT"
echo "wrote $OUT"
