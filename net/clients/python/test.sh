#!/bin/sh
# The Python client's whole suite (conformance + behaviour), offline.
# Needs: COFFERD=/path/to/cofferd; Debian 12's python3 and python3-xxhash.
# Exit status 0 only on success; the last line is a one-line summary.
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-/usr/bin/python3}

if [ -z "${COFFERD:-}" ]; then
  echo "test.sh: COFFERD is not set: point it at the cofferd binary" >&2
  echo "python client: FAILED (COFFERD not set)"
  exit 2
fi
case "$COFFERD" in
  /*) ;;
  *) COFFERD="$(pwd)/$COFFERD" ;;
esac
export COFFERD
if [ ! -x "$COFFERD" ]; then
  echo "test.sh: COFFERD=$COFFERD is not executable" >&2
  echo "python client: FAILED (no cofferd at $COFFERD)"
  exit 2
fi
if ! "$py" -c 'import xxhash' 2>/dev/null; then
  echo "test.sh: $py cannot import xxhash: apt-get install python3-xxhash" >&2
  echo "python client: FAILED (python3-xxhash missing)"
  exit 2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$here" || exit 2
start=$(date +%s)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
  "$py" -m unittest discover -s tests -t . -v 2>&1 | tee "$log"
# POSIX sh has no pipefail: the status comes from the log.
ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$log" | tail -n 1)
elapsed=$(( $(date +%s) - start ))
if tail -n 3 "$log" | grep -q '^OK'; then
  echo "python client: ${ran:-0} tests passed in ${elapsed} s"
  exit 0
fi
verdict=$(grep '^FAILED' "$log" | tail -n 1)
echo "python client: ${verdict:-FAILED (the run did not finish)} of ${ran:-?} tests in ${elapsed} s"
exit 1
