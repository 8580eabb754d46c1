#!/usr/bin/env bash
# The command-line contract: help, version, usage errors exit 2.
set -u
fail=0
expect() { # expect CODE CMD...
  local want=$1; shift
  "$@" >/tmp/core_cli.$$.out 2>&1; local got=$?
  if [[ $got != "$want" ]]; then echo "FAIL: '$*' exited $got, expected $want"; cat /tmp/core_cli.$$.out; fail=1
  else echo "ok: '$*' -> $got"; fi
}
R=$RETAIN_BIN
expect 2 "$R"
expect 2 "$R" no-such-command
expect 0 "$R" --version
expect 0 "$R" help
expect 0 "$R" help inspect
expect 2 "$R" help no-such-command
expect 0 "$R" inspect --help
expect 2 "$R" inspect
expect 2 "$R" inspect --no-such-option x.h5
expect 2 "$R" inspect --block-rows abc x.h5
expect 2 "$R" inspect a.h5 b.h5
expect 2 "$R" inspect --log-level loud x.h5
"$R" --version | grep -Eq '^retain [0-9]+\.[0-9]+\.[0-9]+$' || { echo "FAIL: version format"; fail=1; }
"$R" help | grep -q inspect || { echo "FAIL: help lists commands"; fail=1; }
"$R" inspect 2>&1 | grep -q "usage: retain inspect" || { echo "FAIL: usage message on error"; fail=1; }
rm -f /tmp/core_cli.$$.out
exit $fail
