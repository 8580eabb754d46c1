#!/usr/bin/env bash
# The report on real data (UCI Online Retail: multi-line invoices, cancellations, returns,
# zero-price lines, no CLV model because the BG/NBD fit finds no dropout): the pandas oracle
# of report_e2e on the ingested store, identical figures at 1 and 3 ranks, and the ingest
# counts in the data-quality section.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/report_online_retail
rm -rf "$W"; mkdir -p "$W"; cd "$W"
. "$RETAIN_SOURCE_DIR/tests/report_common.sh"
CSV=$RETAIN_DATA_DIR/online_retail/online_retail_2010_2011.csv
[[ -r $CSV ]] || { echo "FAIL: $CSV is missing"; exit 1; }
(umask 077 && printf 'report-test-key-0123456789abcdef' > k.key)
R 2 ingest --format online-retail --key k.key --out s.h5 --max-reject-rate 0.5 -q "$CSV" || die ingest
R 2 features --store s.h5 --cutoff 2011-09-01 --horizon 90 --out f.h5 -q || die features
R 2 train --features f.h5 --out m.h5 --k 4 -q 2>/dev/null || die train
R 2 score --model m.h5 --features f.h5 --out sc.h5 -q || die score
for np in 1 3; do
  R $np report --store s.h5 --features f.h5 --model m.h5 --scores sc.h5 --out r$np.html --figures fig$np \
    --k-anon 1 --period-days 60 -q || die "report at $np ranks"
done
for f in fig1/*; do cmp -s "$f" "fig3/${f#fig1/}" || die "${f#fig1/} differs between 1 and 3 ranks"; done
cmp -s r1.html r3.html || die "report.html differs between 1 and 3 ranks"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/report_oracle.py" "$W" fig1/report.json 60 || fail=1
"$RETAIN_PYTHON" - "$W/fig1/report.json" <<'PY' || die "ingest counts in the data-quality section"
import json, sys
q = json.load(open(sys.argv[1]))["data_quality"]
print(q)
sys.exit(0 if q["ingest_rows_read"] == 541909 and q["ingest_rows_rejected"] > 0 and q["ingest_duplicates_removed"] > 0 else 1)
PY
[[ $fail == 0 ]] && echo "report_online_retail: all checks passed"
exit $fail
