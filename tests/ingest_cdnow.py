"""`retain ingest --format cdnow` on the real CDNOW_master.txt (whitespace-separated, CRLF,
one header line): rows, customers, per-customer purchase counts, dates and spend equal an
independent parse done here; 1 and 2 ranks give the same store; the example mapping files
in data-samples/ give the same stores as the built-in presets.
"""
import os
import sys
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_common import DATA_DIR, SOURCE, Checker, ingest, load, make_key, pseudonym, same_store  # noqa: E402

work = sys.argv[1]
os.makedirs(work, exist_ok=True)
os.chdir(work)
check = Checker()
key = make_key("key")
master = os.path.join(DATA_DIR, "cdnow", "CDNOW_master.txt")

exp = defaultdict(list)
with open(master) as f:
    next(f)
    for line in f:
        cid, date, cds, dollars = line.split()
        t = int(datetime.strptime(date, "%Y%m%d").replace(tzinfo=timezone.utc).timestamp())
        exp[pseudonym(key, cid)].append((t, int(cds), int(Decimal(dollars) * 100)))
n_rows = sum(len(v) for v in exp.values())
check(n_rows == 69659 and len(exp) == 23570, f"oracle: {n_rows} rows, {len(exp)} customers")

ingest(["--format", "cdnow", "--key", "key", "--out", "cd1.h5", master], 1, check)
ingest(["--format", "cdnow", "--key", "key", "--out", "cd2.h5", master], 2, check)
ingest(["--mapping", os.path.join(SOURCE, "data-samples", "cdnow.ini"), "--key", "key",
        "--out", "cdmap.h5", master], 1, check)
if check.failures:
    sys.exit(1)
cols, dicts, _, attrs = load("cd1.h5")
check(len(cols["customer"]) == 69659, "stored rows")
check(int(attrs["n_customers"]) == 23570, "stored customers")
check(attrs["currency"] == "USD" and int(attrs["currency_exponent"]) == 2, "currency")
got = defaultdict(list)
for c, t, q, a in zip(cols["customer"].tolist(), cols["time"].tolist(), cols["quantity"].tolist(),
                      cols["amount"].tolist()):
    got[c].append((t, q, a))
check(set(got) == set(exp), "customer pseudonyms equal HMAC-SHA256 of the raw ids")
check(all(sorted(got[c]) == sorted(exp[c]) for c in exp), "per-customer purchases")
check(int(cols["amount"].sum()) == sum(a for v in exp.values() for _, _, a in v), "total spend")
check(all(v == [] for v in dicts.values()), "no dictionaries for CDNOW")
check(same_store("cd1.h5", "cd2.h5"), "1 and 2 ranks differ")
check(same_store("cd1.h5", "cdmap.h5"), "data-samples/cdnow.ini differs from --format cdnow")

sample = os.path.join(SOURCE, "data-samples", "online-retail-sample.csv")
ingest(["--format", "online-retail", "--key", "key", "--out", "or-preset.h5", sample], 1, check)
ingest(["--mapping", os.path.join(SOURCE, "data-samples", "online-retail.ini"), "--key", "key",
        "--out", "or-map.h5", sample], 1, check)
if not check.failures:
    check(same_store("or-preset.h5", "or-map.h5"),
          "data-samples/online-retail.ini differs from --format online-retail")
sys.exit(check.finish("ingest cdnow"))
