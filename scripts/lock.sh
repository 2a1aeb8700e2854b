#!/usr/bin/env bash
# Regenerate constraints.txt and runtime/serve.lock; see scripts/lock.py for the options.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/lock.py "$@"
