"""The program's import path stays light: no torch, diffusers, transformers, no packagers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
# what infra may read of scoring: plain data that imports nothing heavy — the clouds'
# contract descriptors, and the CUDA driver table the plan, the server and the image test
# share (infra/aws/ami.py)
SHARED_TABLE = "scoring.cuda_drivers"
SHARED = ("scoring.server.contracts", SHARED_TABLE)


def test_program_import_path_pulls_in_no_ml_stack():
    code = (
        "import sys, infra.__main__, infra.synth, infra.aws.component, "
        "genai_endpoints.commands.synth; "
        "bad = [m for m in ('torch', 'diffusers', 'transformers', 'model_packages', 'PIL',"
        " 'boto3', 'pulumi_gcp', 'pulumi_azure_native', 'pulumi_docker_build')"
        " if m in sys.modules]; "
        # of scoring, infra reads only plain data: the descriptors and the driver table
        "bad += [m for m in sys.modules if m.startswith('scoring.') and not m.startswith("
        f"{SHARED!r}) and m != 'scoring.server']; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_infra_sources_import_only_what_the_layer_may():
    banned = ("torch", "diffusers", "transformers", "scoring", "genai_endpoints")
    for path in INFRA.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for name in _imports(tree):
            ok = name.startswith(SHARED)
            assert ok or not name.startswith(banned), f"{path}: imports {name}"
            assert name != "pulumi_aws", f"{path}: import provider submodules, not pulumi_aws"
        # the packager's uploader runs inside the upload step only (a dynamic provider's
        # method, in `pulumi up`), never on the program's import path
        top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        for name in _imports(ast.Module(body=top_level, type_ignores=[])):
            assert not name.startswith("model_packages"), f"{path}: imports {name} at the top"
        if path.name != "weights.py":
            assert "model_packages" not in set(_imports(tree)), path


def test_the_shared_driver_table_stays_standard_library_only():
    path = INFRA.parent / Path(*SHARED_TABLE.split(".")).with_suffix(".py")
    assert set(_imports(ast.parse(path.read_text()))) <= {"__future__", "re"}
