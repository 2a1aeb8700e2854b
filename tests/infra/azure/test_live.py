"""Opt-in: deploy an Azure-only stack to a real subscription, invoke it, destroy it.

Needs Azure credentials (``DefaultAzureCredential``: ``az login``, environment or managed
identity), the Pulumi CLI on PATH with the azure-native plugin, ``ARM_SUBSCRIPTION_ID``, GPU
quota for ``GENAI_LIVE_AZURE_SKU`` (default Standard_NC4as_T4_v3), a built package for the
tiny model (``GENAI_LIVE_PACKAGE``: folder holding ``azureml/manifest.json``), and Docker with
BuildKit or ``GENAI_LIVE_RUNTIME_AZURE`` (an image pinned by digest the workspace can pull).
One `pulumi up` uploads the weights, pushes the image and deploys. Costs GPU time.
Run: ``pytest -m live tests/infra/azure/test_live.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.infra.helpers import ROOT, can_build_or_has_image, live_runtime


def _azure_credentials() -> bool:
    try:
        from azure.identity import DefaultAzureCredential

        DefaultAzureCredential().get_token("https://management.azure.com/.default")
        return True
    except Exception:
        return False


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not on PATH"),
    pytest.mark.skipif(
        not (os.environ.get("GENAI_LIVE_PACKAGE") and os.environ.get("ARM_SUBSCRIPTION_ID")),
        reason="GENAI_LIVE_PACKAGE and ARM_SUBSCRIPTION_ID not set",
    ),
    pytest.mark.skipif(not _azure_credentials(), reason="no Azure credentials"),
    pytest.mark.skipif(
        not can_build_or_has_image("azure"), reason="no Docker and no GENAI_LIVE_RUNTIME_AZURE"
    ),
]


def test_deploy_invoke_destroy_azure(tmp_path):
    import requests
    from pulumi import automation as auto

    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "live-test")
    backend = tmp_path / "state"
    backend.mkdir()
    stack = auto.create_or_select_stack(
        stack_name="azlivetest",
        work_dir=str(ROOT),
        opts=auto.LocalWorkspaceOptions(env_vars={"PULUMI_BACKEND_URL": backend.as_uri()}),
    )
    package = os.environ["GENAI_LIVE_PACKAGE"]
    azure = {
        "enabled": True,
        "subscriptionId": os.environ["ARM_SUBSCRIPTION_ID"],
        "location": os.environ.get("GENAI_LIVE_AZURE_LOCATION", "eastus"),
        "instanceType": os.environ.get("GENAI_LIVE_AZURE_SKU", "Standard_NC4as_T4_v3"),
        "autoscale": {"enabled": False},
        "alarms": {"enabled": False},
    }
    base = {
        "genai-endpoints:package": auto.ConfigValue(package),
        "genai-endpoints:task": auto.ConfigValue("text-to-image"),
        "genai-endpoints:tags": auto.ConfigValue(json.dumps({"owner": "live", "costCentre": "ci"})),
        "genai-endpoints:aws": auto.ConfigValue(json.dumps({"enabled": False})),
        "genai-endpoints:gcp": auto.ConfigValue(json.dumps({"enabled": False})),
    }
    if live_runtime("azure"):
        base["genai-endpoints:runtime"] = auto.ConfigValue(json.dumps(live_runtime("azure")))
    try:
        stack.set_all_config({**base, "genai-endpoints:azure": auto.ConfigValue(json.dumps(azure))})
        out = stack.up(on_output=print).outputs["azure"].value  # one `pulumi up`
        keys = subprocess.run(
            [
                "az",
                "ml",
                "online-endpoint",
                "get-credentials",
                "-n",
                out["endpoint_name"],
                "-g",
                out["resource_group"],
                "-w",
                out["workspace"],
                "-o",
                "json",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        key = json.loads(keys.stdout)["primaryKey"]
        body = {"inputs": "a red square", "parameters": {"steps": 2, "seed": 1}}
        answer = requests.post(
            out["scoring_uri"], json=body, headers={"Authorization": f"Bearer {key}"}, timeout=180
        )
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["outputs"]
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("azlivetest")
