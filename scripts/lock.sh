#!/usr/bin/env bash
# Re-resolve every dependency in a throwaway venv and rewrite constraints.txt.
# Run it on purpose (to take upgrades), then run the test suite and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
"$tmp/venv/bin/python" -m pip install --quiet "torch==2.13.0" ".[serve,dev]"
pip_version=$("$tmp/venv/bin/python" -m pip --version | awk '{print $2}')
{
  echo "# Every version the project installs, so two set-ups months apart install the same thing."
  echo "# Regenerate: scripts/lock.sh (fresh venv, install, pip freeze). torch is the CPU build"
  echo "# where a local wheel provides it (this project's dev machines), else PyPI's."
  echo "pip==$pip_version"
  "$tmp/venv/bin/python" -m pip freeze --exclude genai-endpoints | sed -E 's/^(torch==[0-9.]+)\+cpu$/\1/'
} > constraints.txt
echo "lock: wrote constraints.txt ($(grep -c '==' constraints.txt) pins)"
