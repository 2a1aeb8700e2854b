"""Helpers for the Vertex AI tests: stacks with gcp on, packages, deployment inputs."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from tests.infra.gcp.fake_vertex import FakeVertex
from tests.infra.helpers import FIXTURE_PACKAGES, STACK_FILES, stack_config

STACKS = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]
GCP_ON = {"enabled": True, "project": "genai-test-123456", "region": "us-central1"}


def gcp_stack_config(name: str) -> dict[str, Any]:
    """The stack file's config with the gcp section on (as written, or a minimal one), and
    the other clouds' optional sections off so these tests see only the Vertex component."""
    config = copy.deepcopy(stack_config(name))
    gcp = config.get("genai-endpoints:gcp") or {}
    if not gcp.get("enabled"):
        gcp = {**gcp, **GCP_ON}
    config["genai-endpoints:gcp"] = gcp
    config.pop("genai-endpoints:azure", None)
    return config


def vertex_package(tmp_path: Path, **model_changes: Any) -> Path:
    """A copy of the fixture packages with ``model`` fields of the vertex manifest changed."""
    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    path = dest / "vertex" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"].update(model_changes)
    path.write_text(json.dumps(manifest))
    return dest


def props(fake: FakeVertex, **changes: Any) -> dict[str, Any]:
    """Deployment inputs as the component writes them, aimed at the fake server."""
    p = {
        "api_base": fake.base,
        "project": fake.project,
        "region": fake.region,
        "endpoint": f"projects/{fake.project}/locations/{fake.region}/endpoints/{fake.endpoint_id}",
        "model_id": "genai-test-aaaa",
        "model": {
            "displayName": "genai-test",
            "artifactUri": "gs://b/models/abc",
            "containerSpec": {
                "imageUri": "us-docker.pkg.dev/x/y:1",
                "ports": [{"containerPort": 8080}],
            },
        },
        "upload_service_account": "sa@proj-test.iam.gserviceaccount.com",
        "deployed_model_id": "1111111111",
        "deployed_model": {
            "displayName": "genai-test",
            "dedicatedResources": {
                "machineSpec": {
                    "machineType": "g2-standard-8",
                    "acceleratorType": "NVIDIA_L4",
                    "acceleratorCount": 1.0,
                },
                # numbers come back from the engine as floats
                "minReplicaCount": 1.0,
                "maxReplicaCount": 2.0,
                "autoscalingMetricSpecs": [],
                "spot": False,
            },
            "serviceAccount": "sa@proj-test.iam.gserviceaccount.com",
            "disableContainerLogging": False,
        },
        "traffic_percent": 100.0,
        "inference_timeout": None,
        "predict_url": "https://example/v1/x:predict",
        "timeout_s": 5,
        "poll_s": 0.01,
    }
    p.update(changes)
    return p
