"""The client stays light: importing it (or the CLI) loads no torch and no cloud SDK."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "diffusers", "boto3", "botocore", "httpx", "google.auth", "azure.identity",
         "azure.ai.ml", "pulumi")  # fmt: skip


@pytest.mark.parametrize(
    "module", ["genai_endpoints.client", "genai_endpoints.commands.client", "genai_endpoints.cli"]
)
def test_import_loads_no_sdk(module):
    code = (
        f"import sys, {module}; "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
