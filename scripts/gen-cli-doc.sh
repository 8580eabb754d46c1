#!/usr/bin/env bash
# Regenerates the command reference in docs/cli.md from `retain COMMAND --help`.
#   scripts/gen-cli-doc.sh [RETAIN_BINARY]          rewrite docs/cli.md
#   scripts/gen-cli-doc.sh --check [RETAIN_BINARY]  exit 1 when docs/cli.md is out of date
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
check=0
if [[ ${1:-} == --check ]]; then check=1; shift; fi
BIN=${1:-$ROOT/build/retain}
DOC=$ROOT/docs/cli.md
ref=$(mktemp)
trap 'rm -f "$ref" "$ref.new"' EXIT
{
  for cmd in $("$BIN" help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{exit}'); do
    echo
    echo "### retain $cmd"
    echo
    echo '```'
    "$BIN" help "$cmd"
    echo '```'
  done
} > "$ref"
awk -v ref="$ref" '
  /<!-- BEGIN GENERATED COMMAND REFERENCE -->/ { print; while ((getline line < ref) > 0) print line; skip=1; next }
  /<!-- END GENERATED COMMAND REFERENCE -->/ { skip=0 }
  !skip { print }
' "$DOC" > "$ref.new"
if ((check)); then
  if ! diff -u "$DOC" "$ref.new"; then
    echo "docs/cli.md is out of date: run scripts/gen-cli-doc.sh" >&2
    exit 1
  fi
  echo "docs/cli.md matches retain --help"
else
  cp "$ref.new" "$DOC"
fi
