"""What ships or runs light must stay light: the schema and CLI help import no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    ["scoring.schema", "scoring.envelopes", "genai_endpoints.cli", "scoring.server.app"],
)
def test_light_modules_do_not_import_torch(module):
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# the one cloud SDK the runtime needs at serving time, and the one module that may use it
SERVING_SDKS = {"google.cloud": "server/storage.py", "google.api_core": "server/storage.py"}


def test_scoring_imports_no_cloud_sdk_or_infra():
    """scoring ships into containers: it may not depend on infra, packages or cloud SDKs,
    but for the storage client that fetches Vertex's weights, in its own module."""
    from pathlib import Path

    banned = ("infra", "model_packages", "genai_endpoints", "boto3", "sagemaker", "azure",
              "google", "pulumi")  # fmt: skip
    root = Path(__file__).resolve().parents[1] / "scoring"
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                target = stripped.split()[1]
                allowed = any(
                    target.startswith(sdk) and rel == where for sdk, where in SERVING_SDKS.items()
                )
                assert allowed or not target.startswith(banned), f"{path}: {stripped}"
