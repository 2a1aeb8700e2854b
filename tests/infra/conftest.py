"""Helpers: run the Pulumi program under mocks with a config dict or a stack file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_PACKAGES = Path(__file__).resolve().parent / "fixtures" / "packages"
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def stack_config(name: str = "dev") -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())["config"]


def run_config(
    config: dict[str, Any], *, stack: str = "test", package_dir: Path | None = FIXTURE_PACKAGES
):
    from infra.synth import run_program, runtime_config

    values, secrets = runtime_config(config)
    return run_program("genai-endpoints", stack, values, secrets, ROOT, package_dir)


def make_package(tmp_path: Path, **model_changes: Any) -> Path:
    """A copy of the fixture package with ``model`` fields changed (code hashes stay valid)."""
    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    path = dest / "sagemaker" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"].update(model_changes)
    path.write_text(json.dumps(manifest))
    return dest


@pytest.fixture
def dev_config() -> dict[str, Any]:
    return stack_config("dev")


@pytest.fixture
def video_package(tmp_path: Path) -> Path:
    return make_package(tmp_path, id="tiny/text-to-video", tasks=["text-to-video"])
