#!/usr/bin/env bash
# The TypeScript client's whole suite: npm ci (install.sh), tsc, then every
# test under node's built-in runner against real cofferd processes started
# from $COFFERD. Exit status 0 only if everything passed; the last line is a
# one-line summary.
set -uo pipefail
cd "$(dirname "$0")"
if [ -z "${COFFERD:-}" ]; then
  echo "test.sh: set COFFERD to the cofferd binary (e.g. COFFERD=build/release/net/cofferd)" >&2
  exit 2
fi
if [ ! -x "$COFFERD" ]; then
  echo "test.sh: COFFERD=$COFFERD is not an executable file" >&2
  exit 2
fi
COFFERD="$(cd "$(dirname "$COFFERD")" && pwd)/$(basename "$COFFERD")"
export COFFERD
start=$(date +%s.%N)

./install.sh || { echo "client_typescript: FAILED (npm ci)"; exit 1; }
rm -rf dist
node_modules/.bin/tsc -p tsconfig.json || { echo "client_typescript: FAILED (tsc)"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 300 node --test --test-reporter=tap dist/test/*.test.js 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$log" | tail -1; }
tests=$(count tests); pass=$(count pass); fail=$(count fail)
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
if [ "$rc" -eq 0 ] && [ -n "$pass" ] && [ "${fail:-1}" -eq 0 ] && [ "$pass" -gt 0 ]; then
  echo "client_typescript: PASS: ${tests} tests, ${pass} passed, 0 failed (node $(node --version), ${secs} s)"
  exit 0
fi
echo "client_typescript: FAILED: ${tests:-?} tests, ${pass:-?} passed, ${fail:-?} failed, exit status ${rc} (node $(node --version), ${secs} s)"
exit 1
