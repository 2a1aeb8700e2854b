"""Opt-in: one `pulumi up` of a SageMaker stack in a real AWS account, invoke it, destroy it.

Needs AWS credentials, the Pulumi CLI on PATH, a built package for the tiny model
(``GENAI_LIVE_PACKAGE``: folder holding ``sagemaker/manifest.json``), and Docker with BuildKit
(the image is built and pushed to ECR) or ``GENAI_LIVE_RUNTIME_AWS`` (an ECR image pinned by
digest). The weights are uploaded by `pulumi up` itself. Costs a few GPU-minutes.
Run: ``pytest -m live tests/infra/aws/test_live.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.infra.helpers import can_build_or_has_image, live_runtime

ROOT = Path(__file__).resolve().parents[3]


def _aws_credentials() -> bool:
    try:
        import boto3

        return boto3.session.Session().get_credentials() is not None
    except Exception:
        return False


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not on PATH"),
    pytest.mark.skipif(not _aws_credentials(), reason="no AWS credentials"),
    pytest.mark.skipif(
        not os.environ.get("GENAI_LIVE_PACKAGE"),
        reason="GENAI_LIVE_PACKAGE not set (a built tiny model package)",
    ),
    pytest.mark.skipif(
        not can_build_or_has_image("aws"), reason="no Docker and no GENAI_LIVE_RUNTIME_AWS"
    ),
]


def test_deploy_invoke_destroy_dev(tmp_path):
    import boto3
    from pulumi import automation as auto

    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "live-test")
    backend = tmp_path / "state"
    backend.mkdir()
    stack = auto.create_or_select_stack(
        stack_name="livetest",
        work_dir=str(ROOT),
        opts=auto.LocalWorkspaceOptions(env_vars={"PULUMI_BACKEND_URL": backend.as_uri()}),
    )
    aws = {
        "enabled": True,
        "region": os.environ.get("AWS_REGION", "us-east-1"),
        "instanceType": "ml.g5.xlarge",
        "mode": "realtime",
        "minInstances": 1,
        "maxInstances": 1,
        "forceDestroy": True,
        "alarms": {"enabled": False},
    }
    stack.set_all_config(
        {
            "genai-endpoints:package": auto.ConfigValue(os.environ["GENAI_LIVE_PACKAGE"]),
            "genai-endpoints:task": auto.ConfigValue("text-to-image"),
            "genai-endpoints:tags": auto.ConfigValue(
                json.dumps({"owner": "live-test", "costCentre": "ci"})
            ),
            "genai-endpoints:aws": auto.ConfigValue(json.dumps(aws)),
            "genai-endpoints:gcp": auto.ConfigValue(json.dumps({"enabled": False})),
            "genai-endpoints:azure": auto.ConfigValue(json.dumps({"enabled": False})),
            **(
                {"genai-endpoints:runtime": auto.ConfigValue(json.dumps(live_runtime("aws")))}
                if live_runtime("aws")
                else {}
            ),
        }
    )
    try:
        up = stack.up(on_output=print)
        out = up.outputs["aws"].value
        runtime = boto3.client("sagemaker-runtime", region_name=out["region"])
        assert out["image"].split("@")[1].startswith("sha256:")
        body = json.dumps({"inputs": "a red square", "parameters": {"steps": 2, "seed": 1}})
        for _ in range(3):
            try:
                answer = runtime.invoke_endpoint(
                    EndpointName=out["endpoint_name"], ContentType="application/json", Body=body
                )
                break
            except runtime.exceptions.ModelError:
                time.sleep(30)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert json.loads(answer["Body"].read())["outputs"]
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("livetest")
