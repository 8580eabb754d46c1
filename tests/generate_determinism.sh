#!/usr/bin/env bash
# The same store, truth file and CSV export written at 1, 2 and 3 ranks (and with write rounds
# of different sizes) are bitwise identical: every dataset and attribute (except creation
# time and command line), the content digest, and the CSV bytes.
set -u
W=$1
rm -rf "$W"; mkdir -p "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
fail=0
die() { echo "FAIL: $*"; fail=1; }
ARGS=(--customers 3000 --days 730 --start 2023-01-01 --seed 11 --buckets 64 -q)
for np in 1 2 3; do
  timeout 120 "${MPI[@]}" -n $np "$RETAIN_BIN" generate "${ARGS[@]}" --out "$W/s$np.h5" \
    --truth "$W/t$np.h5" --csv "$W/c$np.csv" || die "generate at $np ranks"
done
# many small write rounds (a round per bucket or so) must not change anything
timeout 120 "${MPI[@]}" -n 2 "$RETAIN_BIN" generate "${ARGS[@]}" --block-rows 1000 \
  --out "$W/s2r.h5" --truth "$W/t2r.h5" --csv "$W/c2r.csv" || die "generate with small rounds"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/generate_compare.py" "$W/s1.h5" "$W/s2.h5" "$W/s3.h5" \
  "$W/s2r.h5" || die "stores differ"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/generate_compare.py" "$W/t1.h5" "$W/t2.h5" "$W/t3.h5" \
  "$W/t2r.h5" || die "truth files differ"
for x in 2 3 2r; do
  cmp "$W/c1.csv" "$W/c$x.csv" || die "CSV at $x differs"
done
# a different seed must give a different store (the comparison can fail)
timeout 120 "${MPI[@]}" -n 1 "$RETAIN_BIN" generate --customers 3000 --seed 12 --buckets 64 -q \
  --out "$W/other.h5" || die "generate seed 12"
if "$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/generate_compare.py" "$W/s1.h5" "$W/other.h5" >/dev/null; then
  die "a different seed gave an identical store"
fi
# the CSV holds the same rows as the store, in the same order
"$RETAIN_PYTHON" - "$W/s1.h5" "$W/c1.csv" "$W/t1.h5" <<'PYEOF' || die "CSV content"
import sys, csv, h5py, numpy as np, datetime
s = h5py.File(sys.argv[1], "r"); t = h5py.File(sys.argv[3], "r")
tx = s["transactions"]
rows = list(csv.reader(open(sys.argv[2], newline="")))
assert rows[0] == ["customer_id", "invoice", "timestamp", "item", "category", "store",
                   "channel", "quantity", "unit_price", "amount"], rows[0]
rows = rows[1:]
n = len(tx["customer"]); assert len(rows) == n, (len(rows), n)
idx = dict(zip(t["truth/customer"][()], t["truth/index"][()]))
items = [x.decode() for x in s["dict/item"][()]]
cats = [x.decode() for x in s["dict/category"][()]]
stores = [x.decode() for x in s["dict/store"][()]]
cust, tim, amt, qty = (tx[k][()] for k in ("customer", "time", "amount", "quantity"))
item, cat, sto, ch, bk = (tx[k][()] for k in ("item", "category", "store", "channel", "basket"))
chn = ["in-store", "online", "app"]
for i in range(0, n, max(1, n // 5000)):
    r = rows[i]
    assert r[0] == "C%08d" % idx[cust[i]], (i, r)
    b = int(bk[i]); assert r[1] == ("R" if b >> 63 else "S") + "%016x" % (b & ~(1 << 63)), (i, r)
    ts = datetime.datetime.fromtimestamp(int(tim[i]), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert r[2] == ts, (i, r, ts)
    assert (r[3], r[4], r[5], r[6]) == (items[item[i]], cats[cat[i]], stores[sto[i]], chn[ch[i]]), (i, r)
    assert int(r[7]) == qty[i], (i, r)
    assert round(float(r[9]) * 100) == amt[i], (i, r)
    assert round(float(r[8]) * 100) * qty[i] == amt[i], (i, r)
print("CSV rows match the store:", n)
PYEOF
exit $fail
