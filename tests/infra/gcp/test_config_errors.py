"""Each class of bad gcp config stops the program with one line: key, value, what is allowed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.gcp.config import GcpSection
from infra.synth import SynthError
from tests.infra.gcp.helpers import gcp_stack_config
from tests.infra.helpers import run_config


def _error(gcp: dict | None = None, drop: tuple[str, ...] = (), **kw) -> str:
    config = gcp_stack_config("staging")
    config.pop("genai-endpoints:aws", None)  # only the gcp section speaks here
    section = config["genai-endpoints:gcp"]
    for key in drop:
        section.pop(key, None)
    section.update(gcp or {})
    if "task" in kw:
        config["genai-endpoints:task"] = kw.pop("task")
    with pytest.raises(SynthError) as info:
        run_config(config, stack="staging", **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("gcp", "drop", "expected"),
    [
        ({}, ("project",), "genai-endpoints:gcp.project is required"),
        ({"project": "Bad_Project"}, (), "gcp.project='Bad_Project': String should match"),
        ({"machineTyp": "x"}, (), "unknown key genai-endpoints:gcp.machineTyp"),
        (
            {"machineType": "g2-huge"},
            (),
            "gcp.machineType='g2-huge': 'g2-huge' is not a known vertex GPU",
        ),
        ({"machineType": "n1-standard-4"}, (), "is a cpu instance with no GPU; allowed:"),
        ({"acceleratorType": "NVIDIA_TESLA_T4"}, (), "gcp.acceleratorType='NVIDIA_TESLA_T4'"),
        ({"acceleratorCount": 2}, (), "gcp.acceleratorCount=2: g2-standard-8 takes 1"),
        ({"minReplicas": 0}, (), "gcp.minReplicas=0: a Vertex AI deployment"),
        ({"minReplicas": 3, "maxReplicas": 2}, (), "gcp.minReplicas=3: must be ≤"),
        (
            {"trafficPercent": 0},
            (),
            "gcp.trafficPercent=0: Input should be greater than or equal to 1",
        ),
        (
            {"autoscaling": {"acceleratorDutyCycle": None}},
            (),
            "acceleratorDutyCycle and cpuUtilization are both unset",
        ),
        ({"kmsKey": "alias/aws/s3"}, (), "gcp.kmsKey='alias/aws/s3': allowed: projects/"),
        (
            {"kmsKey": "projects/genai-test-123456/locations/europe-west4/keyRings/k/cryptoKeys/c"},
            (),
            "the key is in 'europe-west4'",
        ),
        ({"network": "default"}, (), "gcp.network='default': allowed: projects/<project number>"),
        (
            {"network": "projects/123/global/networks/vpc", "psc": {"enabled": True}},
            (),
            "either VPC-peered or reached through Private Service Connect",
        ),
        (
            {"psc": {"projectAllowlist": ["other-project"]}},
            (),
            "needs genai-endpoints:gcp.psc.enabled",
        ),
        (
            {"dedicatedEndpoint": True, "psc": {"enabled": True}},
            (),
            "gcp.dedicatedEndpoint=True: a dedicated public endpoint cannot also be",
        ),
        (
            {"maxRequestBytes": 5_000_000, "dedicatedEndpoint": False},
            (),
            "gcp.dedicatedEndpoint=False: maxRequestBytes=5000000 > 1500000",
        ),
        (
            {"timeoutSeconds": 300, "dedicatedEndpoint": False},
            (),
            "timeoutSeconds=300 > 60, beyond a shared Vertex AI endpoint",
        ),
        ({"maxRequestBytes": 50_000_000}, (), "beyond what any Vertex AI online endpoint serves"),
        (
            {"requestResponseLogging": {"enabled": True, "samplingRate": 2}},
            (),
            "requestResponseLogging.samplingRate=2: Input should be less than or equal to 1",
        ),
        ({"endpointId": "0123"}, (), "gcp.endpointId='0123': String should match"),
        ({"deployModel": False}, (), "unknown key genai-endpoints:gcp.deployModel"),
        (
            {"requestResponseLogging": {"enabled": True, "bigqueryUri": "bq://other-proj-1.logs"}},
            (),
            "requestResponseLogging.bigqueryUri='bq://other-proj-1.logs': the dataset is in "
            "project 'other-proj-1', which this stack does not manage",
        ),
    ],
)
def test_bad_gcp_config(gcp, drop, expected):
    msg = _error(gcp, drop)
    assert expected in msg, msg
    assert "genai-endpoints:gcp" in msg


def test_video_on_a_shared_endpoint_is_refused(video_vertex_package):
    msg = _error(
        {"dedicatedEndpoint": False}, task="text-to-video", package_dir=video_vertex_package
    )
    assert "gcp.dedicatedEndpoint=False: task 'text-to-video' runs longer than 60 s" in msg
    assert "allowed: true (or leave it unset), or psc.enabled=true" in msg


def test_video_on_a_peered_network_is_refused(video_vertex_package):
    msg = _error(
        {"network": "projects/123/global/networks/vpc"},
        drop=("dedicatedEndpoint",),
        task="text-to-video",
        package_dir=video_vertex_package,
    )
    assert "a VPC-peered endpoint keeps the shared limits" in msg


def test_too_little_gpu_memory(tmp_path):
    import json
    import shutil

    from tests.infra.helpers import FIXTURE_PACKAGES

    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    path = dest / "vertex" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"]["size_bytes"] = 20 * 2**30
    path.write_text(json.dumps(manifest))
    msg = _error(package_dir=dest)
    assert "gcp.machineType='g2-standard-8'" in msg and "24 GiB per GPU" in msg
    assert "a2-ultragpu-1g" in msg


def test_missing_vertex_package(tmp_path):
    msg = _error(package_dir=tmp_path)
    assert "no vertex manifest" in msg


def test_cross_field_checks_are_the_sections_own(tmp_path):
    """Model validators: they run when the config is read, before any package is opened,
    and the message is theirs, whole."""
    assert _error({"minReplicas": 3, "maxReplicas": 2}, package_dir=tmp_path) == (
        "genai-endpoints:gcp.minReplicas=3: must be ≤ genai-endpoints:gcp.maxReplicas=2"
    )


def test_a_section_that_is_off_is_not_cross_checked():
    bad = {"minReplicas": 0, "network": "projects/1/global/networks/n", "psc": {"enabled": True}}
    assert not GcpSection.model_validate({**bad, "enabled": False}).enabled
    with pytest.raises(ValidationError, match="project is required"):
        GcpSection.model_validate({**bad, "enabled": True})
