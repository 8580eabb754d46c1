"""Parallel parsing of RFC 4180 text: quoted fields with delimiters, doubled quotes and
embedded line breaks, CRLF, a BOM, a stray quote in an unquoted field (which misleads the
quote-parity guess of every later range boundary and forces the repair path), blank
lines and bad rows. The file is ingested at 1, 2, 3 and 4 ranks: stores and rejects must
be identical, and the rejects must carry the original line numbers that Python's csv
module reports. The same rows split over three files give the same store; a tiny file
on more ranks than records works too.
"""
import csv
import io
import os
import random
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_common import Checker, ingest, load, make_key, same_store  # noqa: E402

work = sys.argv[1]
os.makedirs(work, exist_ok=True)
os.chdir(work)
check = Checker()
make_key("key")
rng = random.Random(20240917)
HDR = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def describe(i):
    k = rng.random()
    if k < 0.25:
        return f'"LINE ONE {i}\r\nLINE TWO, with comma"'
    if k < 0.35:
        return '"' + "\n".join(f"part {j}" for j in range(rng.randint(2, 6))) + '"'
    if k < 0.5:
        return f'"SAY ""HELLO"" {i}, TWICE"'
    if k < 0.6:
        return '""'
    return f"PLAIN ITEM {i}"


rows = []
for i in range(3000):
    inv = f"{500000 + i}"
    cust = "" if rng.random() < 0.05 else f"{12000 + rng.randint(0, 400)}.0"
    qty = str(rng.randint(-3, 40) or 1)
    if rng.random() < 0.01:
        qty = "many"
    price = f"{rng.randint(0, 2000) / 100:.2f}"
    day = 1 + i % 28
    desc = describe(i)
    if i == 7:
        desc = 'STRAY"QUOTE INSIDE'      # a quote in an unquoted field: kept as text
    rows.append(f"{inv},{rng.choice(['85123A', '22633', 'POST', '84879'])},{desc},{qty},"
                f"2011-02-{day:02d} 10:{i % 60:02d}:00,{price},{cust},"
                f"{rng.choice(['United Kingdom', 'France', 'EIRE'])}")
    if i % 500 == 250:
        rows.append("")                   # a blank line
text = "\ufeff" + "\r\n".join([HDR] + rows) + "\r\n"
with open("quoted.csv", "w", encoding="utf-8", newline="") as f:
    f.write(text)

# expected outcome from Python's csv module: (start line, reason) of each rejected record
exp_rej, accepted, amount = [], 0, 0
rd = csv.reader(io.StringIO(text[1:], newline=""))
next(rd)
prev = rd.line_num
for rec in rd:
    start = prev + 1
    prev = rd.line_num
    if not rec:
        continue
    if not rec[6]:
        exp_rej.append((start, "missing_customer"))
    elif not rec[3].lstrip("-").isdigit():
        exp_rej.append((start, "bad_quantity"))
    else:
        accepted += 1
        amount += int(Decimal(rec[3]) * Decimal(rec[5]) * 100)

outs = []
for n in (1, 2, 3, 4):
    ingest(["--format", "online-retail", "--key", "key", "--out", f"q{n}.h5",
            "--rejects", f"q{n}.rej", "--summary", f"q{n}.json", "quoted.csv"], n, check)
    outs.append((f"q{n}.h5", f"q{n}.rej"))
if check.failures:
    sys.exit(1)

with open("q1.rej", newline="", encoding="utf-8") as f:
    got_rej = [(int(r["line"]), r["reason"]) for r in csv.DictReader(f)]
check(got_rej == exp_rej, f"rejects {got_rej[:5]}... differ from expected {exp_rej[:5]}...")
cols, dicts, _, _ = load("q1.h5")
check(len(cols["amount"]) == accepted, f"{len(cols['amount'])} rows stored, expected {accepted}")
check(int(cols["amount"].sum()) == amount, "amount sum")
for h5, rej in outs[1:]:
    check(same_store("q1.h5", h5), f"{h5} differs from the 1-rank store")
    check(open(rej, "rb").read() == open("q1.rej", "rb").read(), f"{rej} differs")

# the same rows in three files (each with its header) give the same store
parts = [rows[:900], rows[900:2000], rows[2000:]]
names = []
for k, part in enumerate(parts):
    names.append(f"part{k}.csv")
    with open(names[-1], "w", encoding="utf-8", newline="") as f:
        f.write("\r\n".join([HDR] + part) + "\r\n")
ingest(["--format", "online-retail", "--key", "key", "--out", "parts.h5"] + names, 3, check)
check(same_store("q1.h5", "parts.h5"), "three files give a different store than one")

# more ranks than records
with open("tiny.csv", "w") as f:
    f.write(HDR + "\n" + "\n".join(rows[i] for i in (1, 2, 3) if "\n" not in rows[i]) + "\n")
ingest(["--format", "online-retail", "--key", "key", "--max-reject-rate", "1", "--out",
        "tiny1.h5", "tiny.csv"], 1, check)
ingest(["--format", "online-retail", "--key", "key", "--max-reject-rate", "1", "--out",
        "tiny4.h5", "tiny.csv"], 4, check)
if os.path.exists("tiny1.h5") and os.path.exists("tiny4.h5"):
    check(same_store("tiny1.h5", "tiny4.h5"), "tiny file differs at 4 ranks")
sys.exit(check.finish("ingest split"))
