"""Population and churn-label counts of `retain features` on the UCI Online Retail data,
against an independent computation straight from the CSV (pandas), plus the full
reference check on the ingested store.

The CSV computation follows docs/features.md with the online-retail ingest preset's
reading of the file: rows without CustomerID are dropped, so are rows whose stored values
repeat an earlier row (ingest's duplicate rule), a line's amount is
Quantity x UnitPrice in pence, invoices starting with 'C' are returns (negative), an
invoice is a basket, InvoiceDate is UTC. A purchase is an invoice with a positive net
amount. Cutoff 2011-09-01, horizon 90 days, lookback 365 days.

The CSV is data-samples/online_retail, unpacked and verified by the build into $RETAIN_DATA_DIR.
usage: features_online_retail.py WORKDIR
"""
import os
import re
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features_reference as ref  # noqa: E402

BIN = os.environ["RETAIN_BIN"]
DATA = os.environ["RETAIN_DATA_DIR"]
CSV = os.path.join(DATA, "online_retail", "online_retail_2010_2011.csv")
CUTOFF, HORIZON, LOOKBACK = "2011-09-01", 90, 365


def independent_counts():
    df = pd.read_csv(CSV, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str},
                     keep_default_na=False)
    df = df[df.CustomerID.str.strip() != ""].copy()
    pence = [int((Decimal(q) * Decimal(p) * 100).quantize(Decimal(1), ROUND_HALF_EVEN))
             for q, p in zip(df.Quantity.astype(str), df.UnitPrice.astype(str))]
    df["amount"] = pence
    ret = df.InvoiceNo.str.startswith("C")
    df.loc[ret, "amount"] = -df.loc[ret, "amount"].abs()
    # ingest drops rows whose stored values repeat an earlier row (Description is not stored)
    df = df.drop_duplicates(["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "amount",
                             "CustomerID", "Country"])
    df["t"] = pd.to_datetime(df.InvoiceDate, utc=True)
    inv = df.groupby(["CustomerID", "InvoiceNo"]).agg(t=("t", "min"), net=("amount", "sum"))
    inv = inv.reset_index()
    C = pd.Timestamp(CUTOFF, tz="UTC")
    buy = inv[inv.net > 0]
    pop = set(buy[(buy.t < C) & (buy.t >= C - pd.Timedelta(days=LOOKBACK))].CustomerID)
    active = set(buy[(buy.t >= C) & (buy.t < C + pd.Timedelta(days=HORIZON))].CustomerID)
    retained = len(pop & active)
    return len(pop), len(pop) - retained, retained


def main():
    work = sys.argv[1]
    helptext = subprocess.run([BIN, "help"], capture_output=True, text=True).stdout
    if not re.search(r"^\s+ingest\s", helptext, re.M):
        print("FAIL: `retain help` lists no ingest command")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chdir(work)
    usage = subprocess.run([BIN, "ingest", "--help"], capture_output=True, text=True).stdout
    with open("key.hex", "w") as fh:  # a fixed test key: pseudonyms do not matter here
        fh.write("5e" * 32)
    os.chmod("key.hex", 0o600)
    args = [BIN, "ingest", "--quiet", "--format", "online-retail", "--key", "key.hex",
            "--out", "or.h5"]
    args += ["--input", CSV] if "--input" in usage else [CSV]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        print("ingest failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        return 1
    p = subprocess.run([BIN, "features", "--quiet", "--store", "or.h5", "--cutoff", CUTOFF,
                        "--horizon", str(HORIZON), "--lookback", str(LOOKBACK), "--out",
                        "orf.h5", "--summary", "orf.json"], capture_output=True, text=True)
    if p.returncode != 0:
        print("features failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        return 1
    import json
    with open("orf.json") as fh:
        s = json.load(fh)["features"]
    pop, churned, retained = independent_counts()
    got = (s["population"], s["churned"], s["retained"])
    print("population/churned/retained: retain %s, independent %s" % (got, (pop, churned, retained)))
    bad = []
    if got != (pop, churned, retained):
        bad.append("counts differ from the independent computation")
    bad += ref.check("or.h5", "orf.h5", "orf.json")
    if bad:
        print("FAIL:\n  " + "\n  ".join(bad))
        return 1
    print("features.online_retail: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
