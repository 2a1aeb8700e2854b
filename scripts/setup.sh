#!/usr/bin/env bash
# One set-up command: creates .venv and installs the project with everything pinned, the
# container tools the runtime-image test builds and runs the image with, and the storage
# emulators the tests run on loopback (moto server, fake-gcs-server, Azurite).
#
# pip is upgraded first: the pip that a fresh venv brings (23.x) cannot resolve pulumi,
# azure-ai-ml and sagemaker together. torch is pinned to 2.13.0 exactly (constraints.txt);
# a looser spec would pull several GB of CUDA wheels onto a machine with no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python 3.11 or newer is required (found $("$PYTHON" --version))" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# the local mirrors in some pip configs print one warning per package; hide only those
quiet() { { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
.venv/bin/python -m pip install --quiet --upgrade "pip==26.3" 2>&1 | quiet
# setuptools says "Editable installation … be careful with folders named like your package"
# on every editable install of a flat layout, and pip (26) prints it: only that one is hidden
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install --quiet \
  --progress-bar off -c constraints.txt -e ".[serve,dev]" 2>&1 | quiet
.venv/bin/python -m pip check
.venv/bin/genai-endpoints --help >/dev/null
bash scripts/setup_container_tools.sh
bash scripts/setup_emulators.sh
echo "setup: done. Activate with: source .venv/bin/activate"
