#!/usr/bin/env bash
# Installs the TypeScript client's pinned dependencies (package-lock.json)
# into node_modules/ with `npm ci`. Prefers npm's cache (~/.npm/_cacache):
# offline once the cache holds them; a fresh machine needs the npm registry
# once (or a cache copied from a machine that ran this).
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "install.sh: npm not found (Debian 12: apt-get install -y --no-install-recommends nodejs npm)" >&2; exit 2; }
exec npm ci --no-audit --no-fund --prefer-offline --loglevel=error
