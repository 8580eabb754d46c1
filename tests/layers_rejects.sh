#!/usr/bin/env bash
# The layer check (tests/layers_check.py) refuses each kind of breach: it is run on copies of
# the source tree, each broken in one way, and must fail naming the file, line and layers.
set -euo pipefail
src=${RETAIN_SOURCE_DIR:?}
py=${RETAIN_PYTHON:-python3}
tmp=$(mktemp -d "${RETAIN_TEST_TMP:-/tmp}/layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

fresh() {  # a pristine copy of what the check reads
    rm -rf "$tmp/tree" && mkdir -p "$tmp/tree"
    cp -r "$src/src" "$src/include" "$tmp/tree/"
}
expect_breach() {  # NAME PATTERN: the check fails and prints a line matching PATTERN
    local name=$1 pattern=$2 rc=0
    "$py" "$src/tests/layers_check.py" "$tmp/tree" >"$tmp/out" 2>&1 || rc=$?
    [ "$rc" -eq 1 ] || { cat "$tmp/out"; fail "$name: exit $rc, expected 1"; }
    grep -Eq -- "$pattern" "$tmp/out" || { cat "$tmp/out"; fail "$name: no line matching '$pattern'"; }
    echo "ok: $name: $(grep -E -- "$pattern" "$tmp/out" | head -1)"
}

fresh
"$py" "$src/tests/layers_check.py" "$tmp/tree" >"$tmp/out" || { cat "$tmp/out"; fail "the pristine copy fails"; }

# a store file reaching up into the models layer (after line 1, so the line number is 2)
fresh
sed -i '1a #include "retain/kmeans.h"' "$tmp/tree/src/store/rows.c"
expect_breach "upward include in a source" \
    '^src/store/rows\.c:2: store \(layer 2\) includes retain/kmeans\.h, owned by the higher layer models \(layer 5\)$'

# a core header including a command-layer header
fresh
sed -i 's|#include "retain/status.h"|#include "retain/status.h"\n#include "retain/commands.h"|' \
    "$tmp/tree/include/retain/log.h"
expect_breach "upward include in a public header" \
    '^include/retain/log\.h:[0-9]+: core \(layer 1\) includes retain/commands\.h, owned by the higher layer cmd'

# a relative include into another layer's folder
fresh
sed -i '1a #include "../models/private.h"' "$tmp/tree/src/features/features.c"
expect_breach "include outside the own folder" '^src/features/features\.c:2: includes "\.\./models/private\.h"'

# a module dropped loose into src/, and one in a folder that is not a layer
fresh
cp "$tmp/tree/src/core/status.c" "$tmp/tree/src/loose.c"
mkdir "$tmp/tree/src/misc" && cp "$tmp/tree/src/core/status.c" "$tmp/tree/src/misc/x.c"
expect_breach "source outside a layer folder" '^src/loose\.c: not in the folder of a layer'
expect_breach "source in an unknown folder" '^src/misc/x\.c: not in the folder of a layer'

# a new public header no layer owns, and a layer naming a header that does not exist
fresh
printf '#ifndef X\n#define X\n#endif\n' >"$tmp/tree/include/retain/orphan.h"
sed -i 's/^report    report$/report    report ghost/' "$tmp/tree/src/layers.txt"
expect_breach "unowned header" '^include/retain/orphan\.h: no layer owns it'
expect_breach "missing header" "layer 'report' names retain/ghost\.h, which does not exist"

# one header claimed by two layers
fresh
sed -i 's/^\(store .*\)$/\1 status/' "$tmp/tree/src/layers.txt"
expect_breach "header owned twice" "^src/layers\.txt:7: header retain/status\.h is owned by both 'core' and 'store'"
echo "layers.rejects: all breaches refused"
