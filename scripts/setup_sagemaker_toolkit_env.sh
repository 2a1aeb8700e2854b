#!/usr/bin/env bash
# Creates .venv-smtk: the real SageMaker Hugging Face inference stack (the
# sagemaker-huggingface-inference-toolkit, multi-model-server and transformers 4.x), in
# which tests/test_sagemaker_toolkit.py serves a built SageMaker package over HTTP.
#
# A separate venv because the toolkit needs transformers 4.x and the main .venv has 5.x.
# Idempotent: a second run installs nothing. Versions come from constraints-smtk.txt;
# `--refresh` re-resolves them and rewrites that file from pip freeze.
#
# - torch is installed first and alone as torch==2.13.0, so that pip takes the local CPU
#   wheel; resolved together with the rest, pip may pick the CUDA build from PyPI instead.
# - the package's own pins (code/requirements.txt) come from model_packages.layout's
#   SERVING_PINS, read through the main .venv (scripts/setup.sh makes it first). They
#   are chosen to work beside transformers 4.x (diffusers >= 0.40 would need
#   huggingface-hub >= 1, which transformers 4.x refuses).
# - setuptools < 81: sagemaker-inference imports pkg_resources.
# - multi-model-server runs a Java frontend: `java` (17 works) must be on PATH at serve time.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-smtk
CONSTRAINTS=constraints-smtk.txt
REFRESH=0
[ "${1:-}" = "--refresh" ] && REFRESH=1

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup-smtk: Python 3.11 or newer is required (found $("$PYTHON" --version))" >&2; exit 1; }

quiet_pip() {
  # the local mirrors in some pip configs print one warning per package; hide only those
  "$VENV/bin/python" -m pip "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
quiet_pip install --quiet --upgrade "pip==26.3"
quiet_pip install --quiet --progress-bar off "torch==2.13.0"

# The package's own pins (code/requirements.txt): see above.
package_pins() {
  .venv/bin/python -c 'from model_packages.layout import requirements; print(*requirements(), sep="\n")'
}
TOP_LEVEL=(
  "torch==2.13.0"
  "transformers>=4.45,<5"
  "sagemaker-huggingface-inference-toolkit==2.6.0"
  "multi-model-server>=1.1.11"
  "setuptools<81"
)

if [ "$REFRESH" = 1 ] || [ ! -f "$CONSTRAINTS" ]; then
  mapfile -t PINS < <(package_pins)
  quiet_pip install --quiet --progress-bar off "${TOP_LEVEL[@]}" "${PINS[@]}"
  "$VENV/bin/python" -m pip check
  {
    echo "# Exact versions in .venv-smtk (scripts/setup_sagemaker_toolkit_env.sh --refresh"
    echo "# rewrites this file from pip freeze). torch is the local CPU wheel."
    "$VENV/bin/python" -m pip freeze --all --exclude pip \
      | sed -E 's/^torch==2\.13\.0\+cpu$/torch==2.13.0/' | LC_ALL=C sort -f
  } > "$CONSTRAINTS.tmp"
  mv "$CONSTRAINTS.tmp" "$CONSTRAINTS"
  echo "setup-smtk: wrote $CONSTRAINTS"
else
  quiet_pip install --quiet --progress-bar off -c "$CONSTRAINTS" "${TOP_LEVEL[@]}" \
    $(package_pins | cut -d= -f1)
  "$VENV/bin/python" -m pip check
fi

"$VENV/bin/python" -W ignore -c '
import diffusers, transformers, torch
import sagemaker_huggingface_inference_toolkit.serving, mms.model_server
print(f"setup-smtk: transformers {transformers.__version__}, diffusers {diffusers.__version__},"
      f" torch {torch.__version__}")
'
command -v java >/dev/null \
  || { echo "setup-smtk: multi-model-server needs Java (e.g. apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
echo "setup-smtk: done ($VENV)"
