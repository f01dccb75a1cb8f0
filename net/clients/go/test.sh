#!/bin/sh
# The Go client's whole suite, offline: go vet, build (library, driver,
# example), and go test -race against a real cofferd given by $COFFERD.
# Needs the Debian 12 packages golang-go gcc libc6-dev libxxhash-dev.
# Exit 0 only on success; the last line is a one-line summary.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1

if [ -z "${COFFERD:-}" ]; then
  echo "client-go: COFFERD is not set: set it to the cofferd binary (e.g. COFFERD=build/release/net/cofferd)" >&2
  echo "client-go: FAIL (COFFERD not set)"
  exit 1
fi
case "$COFFERD" in /*) ;; *) COFFERD="$(cd "$OLDPWD" && pwd)/$COFFERD" ;; esac
if [ ! -x "$COFFERD" ]; then
  echo "client-go: FAIL (COFFERD=$COFFERD is not an executable)"
  exit 1
fi
export COFFERD

# Everything Go writes stays under one directory of this user's; nothing
# is ever downloaded (no dependencies, GOPROXY=off).
build="${COFFER_GO_BUILD_DIR:-${TMPDIR:-/tmp}/coffer-client-go-$(id -u)}"
mkdir -p "$build" || exit 1
export GOCACHE="$build/gocache" GOPATH="$build/gopath" GOMODCACHE="$build/gopath/pkg/mod"
export GOPROXY=off GOSUMDB=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1
race=-race
[ "${COFFER_GO_RACE:-1}" = 0 ] && race=

start=$(date +%s)
log="$build/test.log"
status=0
go vet ./... || status=1
go build -o "$build/bin/" ./... || status=1
# shellcheck disable=SC2086
go test $race -count=1 -timeout 120s -v ./... >"$log" 2>&1 || status=1
grep -E '^(--- FAIL|FAIL|panic:|ok )' "$log"
if [ "$status" != 0 ]; then
  echo "---- go test output ($log):"
  cat "$log"
fi
passed=$(grep -c -- '^--- PASS' "$log")
failed=$(grep -c -- '^--- FAIL' "$log")
secs=$(( $(date +%s) - start ))
if [ "$status" = 0 ]; then
  echo "client-go: PASS: $passed tests passed, $failed failed (go test ${race:-without -race}, ${secs}s)"
else
  echo "client-go: FAIL: $passed tests passed, $failed failed (go test ${race:-without -race}, ${secs}s)"
fi
exit "$status"
