"""Real-data test of `retain ingest --format online-retail`.

Ingests the UCI Online Retail file at 1, 2 and 3 ranks and checks the store against an
independent computation done here with Python's csv module and Decimal arithmetic:
every row is accounted for (accepted, rejected with a reason, or removed as an exact
duplicate), the rejects CSV lists the right original line numbers, and the stored rows
(pseudonym, time, amount, quantity, item, category, store, channel, basket) equal the
expected multiset row for row. Pseudonyms are recomputed with Python's hmac module.
The store datasets must be identical for every rank count.
"""
import csv
import hashlib
import hmac
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal

import h5py
import numpy as np

BIN = os.environ["RETAIN_BIN"]
MPIEXEC = os.environ["RETAIN_MPIEXEC"]
MPIFLAGS = os.environ.get("RETAIN_MPIEXEC_FLAGS", "").replace(";", " ").split()
DATA = os.path.join(os.environ["RETAIN_DATA_DIR"], "online_retail",
                    "online_retail_2010_2011.csv")
WORK = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
os.makedirs(WORK, exist_ok=True)
M64 = (1 << 64) - 1
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def fnv1a(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


key = os.urandom(32)
key_path = os.path.join(WORK, "key.hex")
if os.path.exists(key_path):
    os.remove(key_path)
fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, key.hex().encode() + b"\n")
os.close(fd)


def pseudonym(raw):
    s = raw.strip(" \t")
    head, dot, frac = s.partition(".")
    if dot and head.isdigit() and frac and set(frac) == {"0"}:
        s = head
    return int.from_bytes(hmac.new(key, s.encode(), hashlib.sha256).digest()[:8], "little")


# ---------------------------------------------------------------- the oracle
expected = []          # stored tuples with strings for dictionary columns
line_of_row = []       # original line number of each expected (pre-dedup) row
rejected_lines = []    # lines rejected for missing customer
rows_read = 0
returns = 0
with open(DATA, newline="", encoding="utf-8") as f:
    rd = csv.reader(f)
    header = next(rd)
    assert header[0] == "InvoiceNo"
    for rec in rd:
        rows_read += 1
        line = rd.line_num          # no embedded newlines in this file
        inv, code, desc, qty, date, price, cust, country = rec
        if not cust.strip():
            rejected_lines.append(line)
            continue
        q = int(qty)
        amount = int((Decimal(q) * Decimal(price) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        if inv.startswith("C"):
            returns += 1
            q = -abs(q)
            amount = -abs(amount)
        t = int(datetime.strptime(date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
        cat = code[:2] if code[:1].isdigit() else "non-product"
        expected.append((pseudonym(cust), t, amount, q, code.strip(), cat, country.strip(), 1,
                         mix64(fnv1a(inv.encode()))))
        line_of_row.append(line)

check(rows_read == 541909, f"rows read {rows_read} != 541909")
check(len(rejected_lines) == 135080, f"rows without customer {len(rejected_lines)}")

# exact duplicates over the stored columns: keep the first occurrence in file order
seen = set()
kept, dup_lines = [], []
for row, line in zip(expected, line_of_row):
    if row in seen:
        dup_lines.append(line)
    else:
        seen.add(row)
        kept.append(row)
exp_customers = len({r[0] for r in kept})
exp_amount = sum(r[2] for r in kept)
print(f"oracle: {rows_read} read, {len(rejected_lines)} rejected, {len(dup_lines)} duplicates, "
      f"{len(kept)} kept, {exp_customers} customers, amount {exp_amount} pence", flush=True)


# ---------------------------------------------------------------- the runs
def run(np_):
    out = os.path.join(WORK, f"or-np{np_}.h5")
    rej = os.path.join(WORK, f"or-np{np_}.rejects.csv")
    summ = os.path.join(WORK, f"or-np{np_}.json")
    cmd = [MPIEXEC, "-n", str(np_)] + MPIFLAGS + [BIN, "ingest", "--format", "online-retail",
                                                   "--key", key_path, "--out", out,
                                                   "--rejects", rej, "--summary", summ,
                                                   "--quiet", DATA]
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode == 0, f"np{np_}: exit {r.returncode}: {r.stderr[-2000:]}")
    return out, rej, summ


def load(path):
    with h5py.File(path, "r") as f:
        cols = {k: f["transactions"][k][...] for k in f["transactions"]}
        dicts = {k: [s.decode() for s in f["dict"][k][...]] for k in f["dict"]}
        offsets = f["index/bucket_offsets"][...]
        attrs = dict(f.attrs)
    return cols, dicts, offsets, attrs


t0 = time.time()
outs = [run(n) for n in (1, 2, 3)]
print(f"three ingests took {time.time() - t0:.1f} s", flush=True)
if failures:
    sys.exit(1)

import json  # noqa: E402

cols, dicts, offsets, attrs = load(outs[0][0])
summ = json.load(open(outs[0][2]))["ingest"]
check(summ["rows_read"] == rows_read, "summary rows_read")
check(summ["rejected_by_reason"]["missing_customer"] == 135080, "summary missing_customer")
check(summ["rows_rejected"] == len(rejected_lines), "summary rows_rejected")
check(summ["duplicates_removed"] == len(dup_lines), f"summary duplicates {summ['duplicates_removed']} vs {len(dup_lines)}")
check(summ["rows_accepted"] == len(kept), "summary rows_accepted")
check(summ["rows_read"] == summ["rows_accepted"] + summ["rows_rejected"] + summ["duplicates_removed"],
      "every row accounted for")
check(summ["returns"] == returns, f"returns {summ['returns']} vs {returns}")
check(summ["customers"] == exp_customers, "summary customers")

n = len(cols["customer"])
check(n == len(kept), f"store rows {n} vs {len(kept)}")
check(int(attrs["n_customers"]) == exp_customers, "n_customers attribute")
check(int(cols["amount"].sum()) == exp_amount, f"amount sum {int(cols['amount'].sum())} vs {exp_amount}")
cur = attrs["currency"]
check((cur.decode() if isinstance(cur, bytes) else cur) == "GBP",
      "currency")

# dictionaries: bytewise-sorted distinct strings
for name, idx in (("item", 4), ("category", 5), ("store", 6)):
    want = sorted({r[idx] for r in kept}, key=lambda s: s.encode())
    check(dicts[name] == want, f"dictionary {name}")

# rows, decoded, equal the expected multiset
got = Counter(zip((int(x) for x in cols["customer"]), (int(x) for x in cols["time"]),
                  (int(x) for x in cols["amount"]), (int(x) for x in cols["quantity"]),
                  (dicts["item"][i] for i in cols["item"]),
                  (dicts["category"][i] for i in cols["category"]),
                  (dicts["store"][i] for i in cols["store"]),
                  (int(x) for x in cols["channel"]), (int(x) for x in cols["basket"])))
check(got == Counter(kept), "stored rows equal the independently computed rows")

# order and bucket placement
B = len(offsets) - 1
buckets = np.array([(mix64(int(c)) * B) >> 64 for c in cols["customer"]])
check(np.all(np.diff(buckets) >= 0), "rows ordered by bucket")
check(all(offsets[buckets[i]] <= i < offsets[buckets[i] + 1] for i in range(0, n, 997)), "offsets index")
order = np.lexsort((cols["time"], cols["customer"], buckets))
check(np.array_equal(order, np.arange(n)), "rows ordered by (bucket, customer, time)")

# rejects file: line numbers and reasons
with open(outs[0][1], newline="", encoding="utf-8") as f:
    rj = list(csv.DictReader(f))
miss = [int(r["line"]) for r in rj if r["reason"] == "missing_customer"]
dups = [int(r["line"]) for r in rj if r["reason"] == "duplicate"]
check(miss == rejected_lines, "rejects: missing_customer lines")
check(sorted(dups) == sorted(dup_lines), "rejects: duplicate lines")
with open(DATA, encoding="utf-8") as f:
    lines = f.read().split("\n")
check(all(lines[int(r["line"]) - 1] == r["raw"] for r in rj[::501]), "rejects: raw text = original line")

# raw identifiers never stored
blob = open(outs[0][0], "rb").read()
for raw in ("17850", "13047", "12583", "17850.0"):
    check(raw.encode() not in blob, f"raw customer id {raw} found in the store")

# identical datasets at 1, 2 and 3 ranks; identical rejects files
for out, rej, _ in outs[1:]:
    c2, d2, o2, a2 = load(out)
    for k in cols:
        check(np.array_equal(cols[k], c2[k]), f"{out}: column {k} differs from 1 rank")
    check(d2 == dicts, f"{out}: dictionaries differ")
    check(np.array_equal(o2, offsets), f"{out}: offsets differ")
    check(a2["content_digest"] == attrs["content_digest"], f"{out}: content digest differs")
    check(open(rej, "rb").read() == open(outs[0][1], "rb").read(), f"{rej}: rejects differ")

r = subprocess.run([BIN, "inspect", outs[0][0], "--quiet"], capture_output=True, text=True)
check(r.returncode == 0, "inspect validates the store: " + r.stdout[-500:])

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("ingest online-retail: all checks passed")
