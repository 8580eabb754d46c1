"""Appending: `retain ingest --append-to OLD new.csv --out NEW` must give exactly the store
that ingesting all the CSVs at once gives (same rows, dictionary codes remapped, same
digest), without the old CSVs. Overlapping batches lose their duplicates; a chain of
three monthly batches works; 2 ranks give the same result; a different key, bucket count
or a missing store are refused.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_common import DATA_DIR, Checker, ingest, load, make_key, same_store  # noqa: E402

work = sys.argv[1]
os.makedirs(work, exist_ok=True)
os.chdir(work)
check = Checker()
make_key("key")
make_key("otherkey")
full = os.path.join(DATA_DIR, "online_retail", "online_retail_2010_2011.csv")
with open(full, encoding="utf-8") as f:
    lines = [next(f) for _ in range(90001)]
hdr, data = lines[0], lines[1:]


def write(name, part):
    with open(name, "w", encoding="utf-8") as f:
        f.write(hdr + "".join(part))


write("a.csv", data[:30000])
write("b.csv", data[30000:60000])
write("b-overlap.csv", data[29000:60000])      # repeats the last 1000 rows of a.csv
write("c.csv", data[60000:])
base = ["--format", "online-retail", "--key", "key", "--buckets", "64", "--max-reject-rate", "0.5"]

ingest(base + ["--out", "a.h5", "a.csv"], 1, check)
ingest(base + ["--out", "ab-direct.h5", "a.csv", "b.csv"], 1, check)
ingest(base + ["--out", "abc-direct.h5", "a.csv", "b.csv", "c.csv"], 1, check)
ingest(base + ["--append-to", "a.h5", "--out", "ab.h5", "b.csv"], 1, check)
ingest(base + ["--append-to", "a.h5", "--out", "ab-overlap.h5", "--summary", "ov.json",
               "b-overlap.csv"], 1, check)
ingest(base + ["--append-to", "a.h5", "--out", "ab-np2.h5", "b-overlap.csv"], 2, check)
ingest(base + ["--append-to", "ab.h5", "--out", "abc.h5", "c.csv"], 3, check)
if check.failures:
    sys.exit(1)

check(same_store("ab.h5", "ab-direct.h5"), "append differs from ingesting both files")
check(same_store("ab-overlap.h5", "ab-direct.h5"), "overlapping append keeps duplicates")
check(same_store("ab-np2.h5", "ab-direct.h5"), "append at 2 ranks differs")
check(same_store("abc.h5", "abc-direct.h5"), "a chain of appends differs from one ingest")
s = json.load(open("ov.json"))["ingest"]
ca, _, _, _ = load("a.h5")
check(s["rows_from_appended_store"] == len(ca["customer"]), "rows from the appended store")
check(s["duplicates_removed"] >= 1000, f"overlap duplicates removed: {s['duplicates_removed']}")
_, da, _, _ = load("a.h5")
_, dab, _, attrs = load("ab.h5")
check(set(da["item"]) <= set(dab["item"]) and len(dab["item"]) > len(da["item"]),
      "merged item dictionary")
check(dab["item"] == sorted(dab["item"], key=lambda x: x.encode()), "dictionary sorted")
prov = json.loads(attrs["provenance"])
check(prov["appended_to"]["path"] == "a.h5", "provenance names the appended store")

r = ingest(["--format", "online-retail", "--key", "otherkey", "--append-to", "a.h5",
            "--out", "bad.h5", "b.csv"], 1, check, expect=5)
check("different key" in r.stderr, "wrong key message: " + r.stderr[-300:])
r = ingest(["--format", "online-retail", "--key", "key", "--buckets", "128", "--append-to",
            "a.h5", "--out", "bad.h5", "b.csv"], 1, check, expect=2)
r = ingest(["--format", "online-retail", "--key", "key", "--append-to", "missing.h5",
            "--out", "bad.h5", "b.csv"], 1, check, expect=3)
check(not os.path.exists("bad.h5"), "a refused append wrote a store")
sys.exit(check.finish("ingest append"))
