#!/usr/bin/env bash
# retain report end to end: KPIs, cohort table, lifecycle flow, segment counts, warning
# summary and the test split recomputed independently from the store, features and scores
# (pandas); identical report.json, CSVs and HTML at 1, 2 and 3 ranks; bad inputs.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/report_e2e
rm -rf "$W"; mkdir -p "$W"; cd "$W"
. "$RETAIN_SOURCE_DIR/tests/report_common.sh"
report_pipeline
for np in 1 2 3; do
  R $np report --store s.h5 --features f.h5 --model m.h5 --scores sc.h5 --out r$np.html \
    --figures fig$np --k-anon 1 --period-days 60 -q || die "report at $np ranks"
done
for np in 2 3; do
  for f in fig1/*; do
    cmp -s "$f" "fig$np/${f#fig1/}" || die "${f#fig1/} differs between 1 and $np ranks"
  done
  cmp -s r1.html r$np.html || die "report.html differs between 1 and $np ranks"
done
[[ $(ls fig1 | wc -l) -ge 12 ]] || die "figures missing: $(ls fig1)"
R 1 report --store s.h5 --features f.h5 --model m.h5 --scores f.h5 --out x.html >/dev/null 2>&1
[[ $? == 4 ]] || die "a features file as scores must exit 4"
R 2 generate --customers 100 --days 100 --seed 1 --buckets 4 --out other.h5 -q
R 1 report --store other.h5 --features f.h5 --model m.h5 --scores sc.h5 --out x.html >/dev/null 2>&1
[[ $? == 5 ]] || die "another store than the features' must exit 5"
R 1 report --store s.h5 --features f.h5 --model m.h5 --out x.html >/dev/null 2>&1
[[ $? == 2 ]] || die "missing --scores must exit 2"
[[ -e x.html ]] && die "a failed report must not leave x.html"
"$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/report_oracle.py" "$W" fig1/report.json 60 || fail=1
[[ $fail == 0 ]] && echo "report_e2e: all checks passed"
exit $fail
