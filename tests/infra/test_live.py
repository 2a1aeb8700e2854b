"""Opt-in: deploy the dev stack to a real AWS account, invoke it, destroy it.

Needs AWS credentials, the Pulumi CLI on PATH, a built and uploaded package for the tiny
model (``GENAI_LIVE_PACKAGE``: folder holding ``sagemaker/manifest.json``) and a bucket name
(``GENAI_LIVE_BUCKET``) the weights were uploaded to. Costs a few GPU-minutes.
Run: ``pytest -m live tests/infra/test_live.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
        not (os.environ.get("GENAI_LIVE_PACKAGE") and os.environ.get("GENAI_LIVE_BUCKET")),
        reason="GENAI_LIVE_PACKAGE and GENAI_LIVE_BUCKET not set (tiny model package + bucket)",
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
        "bucketName": os.environ["GENAI_LIVE_BUCKET"],
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
        }
    )
    try:
        up = stack.up(on_output=print)
        out = up.outputs["aws"].value
        runtime = boto3.client("sagemaker-runtime", region_name=out["region"])
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
