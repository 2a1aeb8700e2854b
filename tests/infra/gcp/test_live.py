"""Opt-in: deploy a stack with the Vertex AI component to a real Google Cloud project,
call the endpoint, destroy it.

Needs Google application-default credentials, the Pulumi CLI on PATH, a built Vertex package
of the tiny model (``GENAI_LIVE_PACKAGE``: folder holding ``vertex/manifest.json``),
``GENAI_LIVE_GCP_PROJECT``, and Docker with BuildKit or ``GENAI_LIVE_RUNTIME_GCP`` (an
Artifact Registry image pinned by digest). One `pulumi up` uploads the weights, pushes the
image and deploys. Costs GPU-minutes.
Run: ``pytest -m live tests/infra/gcp/test_live.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.infra.helpers import can_build_or_has_image, live_runtime

ROOT = Path(__file__).resolve().parents[3]


def _google_credentials() -> bool:
    try:
        import google.auth

        google.auth.default()
        return True
    except Exception:
        return False


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not on PATH"),
    pytest.mark.skipif(not _google_credentials(), reason="no Google credentials"),
    pytest.mark.skipif(
        not all(os.environ.get(k) for k in ("GENAI_LIVE_PACKAGE", "GENAI_LIVE_GCP_PROJECT")),
        reason="GENAI_LIVE_PACKAGE and GENAI_LIVE_GCP_PROJECT not set",
    ),
    pytest.mark.skipif(
        not can_build_or_has_image("gcp"), reason="no Docker and no GENAI_LIVE_RUNTIME_GCP"
    ),
]


def test_deploy_predict_destroy(tmp_path):
    import google.auth
    import google.auth.transport.requests
    import requests
    from pulumi import automation as auto

    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "live-test")
    backend = tmp_path / "state"
    backend.mkdir()
    stack = auto.create_or_select_stack(
        stack_name="livetest-gcp",
        work_dir=str(ROOT),
        opts=auto.LocalWorkspaceOptions(env_vars={"PULUMI_BACKEND_URL": backend.as_uri()}),
    )
    gcp = {
        "enabled": True,
        "project": os.environ["GENAI_LIVE_GCP_PROJECT"],
        "region": os.environ.get("GENAI_LIVE_GCP_REGION", "us-central1"),
        "machineType": "g2-standard-8",
        "minReplicas": 1,
        "maxReplicas": 1,
        "forceDestroy": True,
    }
    stack.set_all_config(
        {
            "genai-endpoints:package": auto.ConfigValue(os.environ["GENAI_LIVE_PACKAGE"]),
            "genai-endpoints:task": auto.ConfigValue("text-to-image"),
            "genai-endpoints:tags": auto.ConfigValue(
                json.dumps({"owner": "live-test", "costCentre": "ci"})
            ),
            "genai-endpoints:gcp": auto.ConfigValue(json.dumps(gcp)),
            "genai-endpoints:aws": auto.ConfigValue(json.dumps({"enabled": False})),
            "genai-endpoints:azure": auto.ConfigValue(json.dumps({"enabled": False})),
            **(
                {"genai-endpoints:runtime": auto.ConfigValue(json.dumps(live_runtime("gcp")))}
                if live_runtime("gcp")
                else {}
            ),
        }
    )
    try:
        up = stack.up(on_output=print)
        out = up.outputs["gcp"].value
        creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        creds.refresh(google.auth.transport.requests.Request())
        body = {"instances": [{"prompt": "a red square"}], "parameters": {"steps": 2, "seed": 1}}
        answer = requests.post(
            out["predict_url"],
            json=body,
            headers={"Authorization": f"Bearer {creds.token}"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["predictions"]
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("livetest-gcp")
