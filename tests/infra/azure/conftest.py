"""Helpers for the Azure ML component's tests: run a stack under mocks, record its graph."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.infra.conftest import FIXTURE_PACKAGES, run_config, stack_config

AZ = "genai-endpoints:azure"
ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
TRAFFIC = "pulumi-python:dynamic/azureml:EndpointTraffic"
ROLE = "azure-native:authorization:RoleAssignment"


class Graph:
    """Every resource's parent and depends_on, as the program declared them."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.depends_on: dict[str, set[str]] = {}
        self.ignore_changes: dict[str, list[str]] = {}
        self.retain: dict[str, bool] = {}

    def record(self, args: pulumi.ResourceTransformationArgs):
        opts = args.opts or pulumi.ResourceOptions()
        deps = opts.depends_on or []
        deps = deps if isinstance(deps, list) else [deps]
        self.parent[args.name] = getattr(opts.parent, "_name", None)
        self.depends_on[args.name] = {d._name for d in deps}
        self.ignore_changes[args.name] = list(opts.ignore_changes or [])
        self.retain[args.name] = bool(opts.retain_on_delete)
        return None


def run_with_graph(
    config: dict[str, Any], *, stack: str = "test", package_dir: Path | None = FIXTURE_PACKAGES
):
    """``run_config`` plus the declared graph (a stack transformation sees every options)."""
    import infra.__main__ as program

    graph = Graph()
    original = program.main

    def main(project_dir=None, pkg=None):
        pulumi.runtime.register_stack_transformation(graph.record)
        original(project_dir, pkg)

    program.main = main
    try:
        result = run_config(config, stack=stack, package_dir=package_dir)
    finally:
        program.main = original
    return result, graph


def azure_only(name: str = "staging", **azure: Any) -> dict[str, Any]:
    """A stack's config with only Azure enabled (faster, and isolates Azure's resources)."""
    config = copy.deepcopy(stack_config(name))
    config["genai-endpoints:aws"] = {"enabled": False}
    config["genai-endpoints:gcp"] = {"enabled": False}
    config[AZ] = {**config[AZ], **azure}
    return config


def azure_package(tmp_path: Path, **model_changes: Any) -> Path:
    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    path = dest / "azureml" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"].update(model_changes)
    path.write_text(json.dumps(manifest))
    return dest


@pytest.fixture
def video_package(tmp_path: Path) -> Path:
    return azure_package(
        tmp_path, id="tiny/text-to-video", tasks=["text-to-video"], size_bytes=3 * 2**30
    )
