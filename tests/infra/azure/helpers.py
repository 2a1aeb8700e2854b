"""Helpers for the Azure ML component's tests: run a stack under mocks, record its graph."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from tests.infra.helpers import FIXTURE_PACKAGES, run_config, stack_config

AZ = "genai-endpoints:azure"
ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
TRAFFIC = "pulumi-python:dynamic/azureml:EndpointTraffic"
ROLE = "azure-native:authorization:RoleAssignment"


class Graph:
    """Every resource's parent, dependencies (explicit and through its inputs),
    ignore_changes and retain_on_delete, as the synth run recorded them."""

    def __init__(self, result) -> None:
        self.parent = {r["name"]: r["parent"] for r in result.resources}
        self.depends_on = {r["name"]: set(r["depends_on"]) for r in result.resources}
        self.ignore_changes = {r["name"]: r["ignore_changes"] for r in result.resources}
        self.retain = {r["name"]: r["retain_on_delete"] for r in result.resources}


def run_with_graph(
    config: dict[str, Any], *, stack: str = "test", package_dir: Path | None = FIXTURE_PACKAGES
):
    """``run_config`` plus the declared graph."""
    result = run_config(config, stack=stack, package_dir=package_dir)
    return result, Graph(result)


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
