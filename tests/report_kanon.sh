#!/usr/bin/env bash
# k-anonymity of the report: with a k large enough that groups disappear, no count of fewer
# than k customers appears anywhere in report.json, the CSVs or the HTML, the small groups
# known from the features and scores files are the ones suppressed, and no customer key
# appears in any output.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/report_kanon
rm -rf "$W"; mkdir -p "$W"; cd "$W"
. "$RETAIN_SOURCE_DIR/tests/report_common.sh"
report_pipeline
for k in 40 300; do
  R 2 report --store s.h5 --features f.h5 --model m.h5 --scores sc.h5 --out r$k.html --figures fig$k --k-anon $k -q \
    || die "report with k-anon $k"
done
R 1 report --store s.h5 --features f.h5 --model m.h5 --scores sc.h5 --out x.html --k-anon 0 >/dev/null 2>&1
[[ $? == 2 ]] || die "--k-anon 0 must be a usage error"
"$RETAIN_PYTHON" - "$W" <<'PY' || fail=1
import csv, glob, json, re, sys
import h5py, numpy as np
w = sys.argv[1]
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what); bad += 0 if ok else 1
F = h5py.File(f"{w}/f.h5", "r"); S = h5py.File(f"{w}/sc.h5", "r")
keys = {f"{k:016x}" for k in F["customers/customer"][()]} | {str(k) for k in F["customers/customer"][()]}
rfm = F["customers/rfm_segment"][()]
names = [n.decode() for n in F["customers/rfm_segment_names"][()]]
for k in (40, 300):
    J = json.load(open(f"{w}/fig{k}/report.json"))
    counts, nsup = [], 0
    def walk(o, key=""):
        global nsup
        if isinstance(o, dict):
            for a, b in o.items():
                if a != "change": walk(b, a)  # relative changes of the KPIs, not counts
        elif isinstance(o, list):
            for b in o: walk(b, key)
        elif key.endswith("customers"):
            if o == "suppressed": nsup += 1
            elif o is not None: counts.append(o)
    walk(J)
    check(all(isinstance(c, int) and c >= k for c in counts), f"k={k}: every customer count in report.json is >= k ({len(counts)} shown)")
    check(nsup > 0, f"k={k}: {nsup} groups suppressed in report.json")
    small = [names[s] for s in range(len(names)) if 0 < (rfm == s).sum() < k]
    shown = {x["segment"]: x for x in J["rfm_segments"]}
    check(len(small) > 0 and all(shown[s]["customers"] == "suppressed" and "mean_monetary" not in shown[s] for s in small),
          f"k={k}: RFM segments below k ({', '.join(small)}) are suppressed with all their figures")
    for path in glob.glob(f"{w}/fig{k}/*.csv"):
        rows = list(csv.DictReader(open(path)))
        vals = []
        for r in rows:
            for c, v in r.items():
                if c.endswith("customers") or (c == "value" and r.get("measure", "").endswith("customers")):
                    vals.append(v)
        check(all(v in ("suppressed", "") or int(v) >= k for v in vals), f"k={k}: {path.split('/')[-1]}: customer counts >= k or suppressed")
    html = open(f"{w}/r{k}.html").read()
    cells = re.findall(r'<td class="n[^"]*">([^<]*)</td>', html)
    check(len(cells) > 20 and all(c == "suppressed" or int(c) >= k for c in cells),
          f"k={k}: {len(cells)} count cells in the HTML are >= k or suppressed")
    check("suppressed" in html, f"k={k}: the HTML marks suppressed groups")
    texts = [html] + [open(p).read() for p in glob.glob(f"{w}/fig{k}/*")]
    words = set()
    for t in texts: words |= set(re.findall(r"[0-9a-f]{16}|[0-9]{12,20}", t))
    check(not (words & keys), f"k={k}: no customer key in any output")
sys.exit(1 if bad else 0)
PY
[[ $fail == 0 ]] && echo "report_kanon: all checks passed"
exit $fail
