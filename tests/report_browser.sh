#!/usr/bin/env bash
# The report in a real browser: headless Chromium (Debian's chromium, no network, no GPU)
# loads the HTML file, the DOM must hold every section and its charts, the console must stay
# silent (a page asking for any external resource or script would log a Content Security
# Policy error), and the screenshot must be a non-blank PNG. Without chromium the test fails
# saying what to install (configure with -DRETAIN_TEST_BROWSER=OFF to leave it out).
set -u
CHROMIUM=$(command -v chromium || true)
if [[ -z $CHROMIUM ]]; then
  echo "FAIL: chromium is not installed: install Debian's chromium (scripts/install-deps.sh)"
  echo "      or configure with -DRETAIN_TEST_BROWSER=OFF to leave the browser test out"
  exit 1
fi
W=${RETAIN_TEST_TMP:-$PWD}/report_browser
rm -rf "$W"; mkdir -p "$W"; cd "$W"
. "$RETAIN_SOURCE_DIR/tests/report_common.sh"
report_pipeline
R 2 report --store s.h5 --features f.h5 --model m.h5 --scores sc.h5 --out report.html -q || die report
browse() {  # browse FILE OUTPUT-ARGS...: one headless Chromium with its own profile
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$W/profile" \
    --enable-logging=stderr --v=0 "${@:2}" "file://$W/$1"
}
browse report.html --dump-dom > dom.html 2> dom.log || die "chromium --dump-dom failed: $(tail -3 dom.log)"
grep ":CONSOLE" dom.log && die "console messages while loading the report"
for id in kpis cohorts lifecycle rfm-segments segments clv model-quality warnings data-quality; do
  grep -q "<section id=\"$id\"" dom.html || die "section $id not rendered"
done
[[ $(grep -o "<svg" dom.html | wc -l) -ge 8 ]] || die "fewer than 8 charts in the rendered page"
browse report.html --hide-scrollbars --screenshot="$W/shot.png" --window-size=1280,4000 > shot.log 2>&1 \
  || die "screenshot failed: $(tail -3 shot.log)"
grep ":CONSOLE" shot.log && die "console messages while taking the screenshot"
# the console check can fail: the same page with one external image must be caught
sed 's|</body>|<img src="http://example.invalid/x.png"></body>|' report.html > external.html
browse external.html --dump-dom > /dev/null 2> external.log
grep -q ":CONSOLE.*example.invalid" external.log || die "an external resource was not reported on the console"
"$RETAIN_PYTHON" - "$W/shot.png" <<'PY' || fail=1
import sys
from PIL import Image
im = Image.open(sys.argv[1])
ok = im.format == "PNG" and im.size == (1280, 4000)
px = im.convert("RGB").resize((320, 1000))
colors = px.getcolors(1 << 20) or []
ink = sum(n for n, c in colors if sum(c) < 600) / (320 * 1000)
print(f"screenshot {im.format} {im.size}, {len(colors)} colors, {100 * ink:.1f}% ink")
sys.exit(0 if ok and len(colors) > 50 and ink > 0.02 else 1)
PY
[[ $fail == 0 ]] && echo "report_browser: all checks passed"
exit $fail
