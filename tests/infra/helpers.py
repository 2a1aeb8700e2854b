"""Shared helpers of the infra tests: run the Pulumi program under mocks with a config dict or
a stack file, edit fixture packages, load a pickled provider in a clean interpreter."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_PACKAGES = FIXTURES / "packages"
# A stand-in project folder (Pulumi.yaml, runtime/Dockerfile, runtime/serve.lock) whose lock
# the fixture packages were built against: see fixtures/make_packages.py.
FIXTURE_PROJECT = FIXTURES / "project"
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def stack_config(name: str = "dev") -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())["config"]


def run_config(
    config: dict[str, Any],
    *,
    stack: str = "test",
    package_dir: Path | None = FIXTURE_PACKAGES,
    project_dir: Path = FIXTURE_PROJECT,
):
    from infra.synth import run_program, runtime_config

    values, secrets = runtime_config(config)
    return run_program("genai-endpoints", stack, values, secrets, project_dir, package_dir)


def make_package(tmp_path: Path, cloud: str = "sagemaker", **model_changes: Any) -> Path:
    """A copy of the fixture packages with ``model`` fields of one cloud's manifest changed."""
    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    edit_manifest(dest, cloud, lambda m: m["model"].update(model_changes))
    return dest


def edit_manifest(packages: Path, cloud: str, change) -> None:
    path = packages / cloud / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def live_runtime(cloud: str) -> dict[str, Any] | None:
    """Live tests: ``GENAI_LIVE_RUNTIME_<CLOUD>`` (a digest-pinned image) if set; else None and
    `pulumi up` builds the image (needs Docker with BuildKit)."""
    import os

    ref = os.environ.get(f"GENAI_LIVE_RUNTIME_{cloud.upper()}")
    return {cloud: ref} if ref else None


def can_build_or_has_image(cloud: str) -> bool:
    return bool(live_runtime(cloud)) or shutil.which("docker") is not None


@cache
def stack_result(name: str):
    """The example stack ``name`` as written, run once per test session (≈2 s each)."""
    return run_config(stack_config(name), stack=name)


def one(result, token: str) -> dict[str, Any]:
    """The inputs of the only resource of type ``token``."""
    found = result.by_type(token)
    assert len(found) == 1, f"{token}: {len(found)} found"
    return found[0]["inputs"]


def run_unpickled(blob: str, checks: str, cwd: Path) -> str:
    """Load a serialized dynamic provider (``blob``) as ``p`` in a fresh interpreter in which
    ``infra`` and ``tests`` cannot be imported — as Pulumi's provider process does without
    this project — then run ``checks``; returns its stdout, failing on any error."""
    import subprocess
    import sys

    script = (
        "import sys, importlib.abc, base64, dill\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('infra', 'tests'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"p = dill.loads(base64.b64decode({blob!r}))\n"
        f"{checks}"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'infra']\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    return proc.stdout
