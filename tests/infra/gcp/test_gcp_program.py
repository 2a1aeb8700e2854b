"""Every stack file, with the gcp section on, runs through the program under Pulumi mocks;
the Vertex AI graph and its inputs are checked."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest

from tests.infra.conftest import ROOT, run_config
from tests.infra.gcp.conftest import STACKS, gcp_stack_config

BUCKET = "gcp:storage/bucket:Bucket"
OBJECT = "gcp:storage/bucketObject:BucketObject"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
SERVICE = "gcp:projects/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
DEPLOYMENT = "pulumi-python:dynamic/vertex:ModelDeployment"
COMPONENT = "genai-endpoints:gcp:VertexEndpoint"
LABEL_KEYS = {"project", "stack", "environment", "owner", "cost-centre"}
MANIFEST = json.loads((ROOT / "tests/infra/fixtures/packages/vertex/manifest.json").read_text())
PREFIX = MANIFEST["weights"]["key_prefix"]


@cache
def result(stack: str):
    return run_config(gcp_stack_config(stack), stack=stack)


def one(res, token):
    found = res.by_type(token)
    assert len(found) == 1, f"{token}: {len(found)} found"
    return found[0]["inputs"]


def gcp(stack: str) -> dict:
    return gcp_stack_config(stack)["genai-endpoints:gcp"]


def test_at_least_one_example_stack_enables_gcp():
    import yaml

    enabled = [
        s
        for s in STACKS
        if (
            yaml.safe_load((ROOT / f"Pulumi.{s}.yaml").read_text())["config"].get(
                "genai-endpoints:gcp"
            )
            or {}
        ).get("enabled")
    ]
    assert enabled


@pytest.mark.parametrize("stack", STACKS)
def test_graph_and_outputs(stack):
    res = result(stack)
    assert res.by_type(COMPONENT) and res.by_type(DEPLOYMENT)
    out = res.outputs["gcp"]
    for key in ("endpoint_name", "predict_url", "deployed_model_id", "bucket", "invoke"):
        assert out[key], key
    assert re.fullmatch(
        r"projects/[a-z0-9-]+/locations/[a-z0-9-]+/endpoints/[1-9]\d{0,9}", out["endpoint_name"]
    )
    assert out["predict_url"].endswith(f"{out['endpoint_name']}:predict")
    assert re.fullmatch(r"[1-9]\d{9}", out["deployed_model_id"])
    assert 0 < out["usd_per_hour_min"] <= out["usd_per_hour_max"]
    assert out["artifact_uri"] == f"gs://{out['bucket']}/{PREFIX}"


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_is_uniform_private_versioned_and_keyed_when_asked(stack):
    res = result(stack)
    b = one(res, BUCKET)
    assert b["uniformBucketLevelAccess"] is True
    assert b["publicAccessPrevention"] == "enforced"
    assert b["versioning"] == {"enabled": True}
    assert b["location"] == gcp(stack).get("region", "us-central1").upper()
    key = gcp(stack).get("kmsKey")
    if key:
        assert b["encryption"]["defaultKmsKeyName"] == key
        assert one(res, ENDPOINT)["encryptionSpec"] == {"kmsKeyName": key}
        model = one(res, DEPLOYMENT)["model"]
        assert model["encryptionSpec"] == {"kmsKeyName": key}
        grants = res.by_type(KEY_IAM)
        assert len(grants) == 2
        for g in grants:
            assert g["inputs"]["cryptoKeyId"] == key
            assert g["inputs"]["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    else:
        assert "encryption" not in b and not res.by_type(KEY_IAM)


@pytest.mark.parametrize("stack", STACKS)
def test_only_code_goes_through_pulumi_into_the_weights_prefix(stack):
    res = result(stack)
    names = {o["inputs"]["name"] for o in res.by_type(OBJECT)}
    assert names == {PREFIX + f["path"] for f in MANIFEST["code"]["files"]}
    for o in res.by_type(OBJECT):
        assert o["inputs"]["metadata"]["code-digest"] == MANIFEST["code"]["digest"]
        assert o["inputs"]["source"]["file_asset"].startswith(
            "tests/infra/fixtures/packages/vertex/model/"
        )


@pytest.mark.parametrize("stack", STACKS)
def test_serving_identity_has_least_privilege(stack):
    res = result(stack)
    account = one(res, ACCOUNT)
    email = f"{account['accountId']}@{gcp(stack)['project']}.iam.gserviceaccount.com"
    member = f"serviceAccount:{email}"
    (read,) = [r["inputs"] for r in res.by_type(BUCKET_IAM)]
    assert read["role"] == "roles/storage.objectViewer" and read["member"] == member
    expr = read["condition"]["expression"]
    bucket = one(res, BUCKET)["name"]
    assert f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{PREFIX}")' in expr
    assert f'objectListPrefix", "").startsWith("{PREFIX}")' in expr
    project_roles = sorted(r["inputs"]["role"] for r in res.by_type(PROJECT_IAM))
    assert project_roles == ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    assert all(r["inputs"]["member"] == member for r in res.by_type(PROJECT_IAM))
    d = one(res, DEPLOYMENT)
    assert d["deployed_model"]["serviceAccount"] == email
    assert d["upload_service_account"] == email  # the upload reads the bucket as this account


@pytest.mark.parametrize("stack", STACKS)
def test_required_apis_are_enabled_and_kept_on_destroy(stack):
    res = result(stack)
    services = {s["inputs"]["service"]: s["inputs"] for s in res.by_type(SERVICE)}
    assert {"aiplatform.googleapis.com", "storage.googleapis.com", "iam.googleapis.com"} <= set(
        services
    )
    assert all(s["disableOnDestroy"] is False for s in services.values())
    if gcp(stack).get("kmsKey"):
        assert "cloudkms.googleapis.com" in services


@pytest.mark.parametrize("stack", STACKS)
def test_endpoint_options(stack):
    res = result(stack)
    g = gcp(stack)
    ep = one(res, ENDPOINT)
    assert ep["location"] == ep["region"] == g.get("region", "us-central1")
    assert ep["dedicatedEndpointEnabled"] is bool(g.get("dedicatedEndpoint"))
    assert res.outputs["gcp"]["dedicated_endpoint"] is bool(g.get("dedicatedEndpoint"))
    rr = g.get("requestResponseLogging") or {}
    if rr.get("enabled"):
        cfg = ep["predictRequestResponseLoggingConfig"]
        assert cfg["enabled"] is True and cfg["samplingRate"] == rr["samplingRate"]
        assert cfg["bigqueryDestination"]["outputUri"].startswith("bq://")
    else:
        assert "predictRequestResponseLoggingConfig" not in ep


@pytest.mark.parametrize("stack", STACKS)
def test_model_upload_and_deployment_inputs(stack):
    res = result(stack)
    g = gcp(stack)
    d = one(res, DEPLOYMENT)
    spec = d["model"]["containerSpec"]
    serving = MANIFEST["serving"]
    assert spec["imageUri"] == serving["image"]
    assert spec["ports"] == [{"containerPort": 8080}]
    assert spec["healthRoute"] == "/health" and spec["predictRoute"] == "/predict"
    for probe in (spec["startupProbe"], spec["healthProbe"]):
        assert probe["httpGet"] == {"path": "/health", "port": 8080}
        assert probe["periodSeconds"] < probe["timeoutSeconds"]
    assert spec["startupProbe"]["failureThreshold"] * spec["startupProbe"]["periodSeconds"] >= 600
    assert int(spec["sharedMemorySizeMb"]) >= 64
    env = {e["name"]: e["value"] for e in spec["env"]}
    assert env["HF_HUB_OFFLINE"] == "1" and env["GENAI_CODE_DIGEST"] == MANIFEST["code"]["digest"]
    assert not any(k.startswith("AIP_") for k in env)  # Vertex sets those itself
    assert d["model"]["artifactUri"] == f"gs://{one(res, BUCKET)['name']}/{PREFIX.rstrip('/')}"
    res_ = d["deployed_model"]["dedicatedResources"]
    assert res_["machineSpec"] == {
        "machineType": g.get("machineType", "g2-standard-8"),
        "acceleratorType": "NVIDIA_L4",
        "acceleratorCount": 1,
    }
    assert res_["minReplicaCount"] == g.get("minReplicas", 1)
    assert res_["maxReplicaCount"] == g.get("maxReplicas", 1)
    assert res_["spot"] is bool(g.get("spot"))
    metrics = {m["metricName"]: m["target"] for m in res_["autoscalingMetricSpecs"]}
    assert metrics["aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"] == (
        (g.get("autoscaling") or {}).get("acceleratorDutyCycle", 60)
    )
    assert d["endpoint"] == res.outputs["gcp"]["endpoint_name"]
    assert d["api_base"] == f"https://{g.get('region', 'us-central1')}-aiplatform.googleapis.com/v1"
    blob = json.dumps(d).lower()
    assert "token" not in blob and "private_key" not in blob and "credential" not in blob


@pytest.mark.parametrize("stack", STACKS)
def test_labels_everywhere(stack):
    res = result(stack)
    checked = 0
    for r in res.resources:
        if r["type"] in (ENDPOINT, BUCKET):
            labels = r["inputs"]["labels"]
            assert set(labels) >= LABEL_KEYS, (r["type"], labels)
            assert labels["stack"] == stack
            for k, v in labels.items():
                assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) and re.fullmatch(
                    r"[a-z0-9_-]{0,63}", v
                )
            checked += 1
    provider = next(r for r in res.resources if r["type"] == "pulumi:providers:gcp")
    assert (
        json.loads(provider["inputs"]["defaultLabels"])
        if isinstance(provider["inputs"]["defaultLabels"], str)
        else provider["inputs"]["defaultLabels"]
    )
    assert set(one(res, DEPLOYMENT)["model"]["labels"]) >= LABEL_KEYS
    assert checked == 2


def test_deploy_model_false_leaves_out_the_deployment():
    config = gcp_stack_config("staging")
    config["genai-endpoints:gcp"]["deployModel"] = False
    res = run_config(config, stack="staging")
    assert res.by_type(ENDPOINT) and res.by_type(BUCKET) and res.by_type(OBJECT)
    assert not res.by_type(DEPLOYMENT)
    assert res.outputs["gcp"]["deployed_model_id"] == ""


def test_video_gets_a_dedicated_endpoint_by_default(video_vertex_package):
    config = gcp_stack_config("staging")
    config["genai-endpoints:task"] = "text-to-video"
    config["genai-endpoints:gcp"].pop("dedicatedEndpoint")
    config.pop("genai-endpoints:aws")
    res = run_config(config, stack="staging", package_dir=video_vertex_package)
    assert one(res, ENDPOINT)["dedicatedEndpointEnabled"] is True
    env = {e["name"]: e["value"] for e in one(res, DEPLOYMENT)["model"]["containerSpec"]["env"]}
    assert env["GENAI_MAX_REQUEST_BYTES"] == "10000000" and env["GENAI_TIMEOUT_S"] == "3600"


def test_psc_and_spot_and_ids_follow_config():
    config = gcp_stack_config("staging")
    g = config["genai-endpoints:gcp"]
    g.update(
        dedicatedEndpoint=False,
        spot=True,
        psc={"enabled": True, "projectAllowlist": ["genai-client-1"]},
    )
    res = run_config(config, stack="staging")
    ep = one(res, ENDPOINT)
    assert ep["privateServiceConnectConfig"] == {
        "enablePrivateServiceConnect": True,
        "projectAllowlists": ["genai-client-1"],
    }
    config = gcp_stack_config("staging")
    config["genai-endpoints:gcp"]["spot"] = True
    d = one(run_config(config, stack="staging"), DEPLOYMENT)
    assert d["deployed_model"]["dedicatedResources"]["spot"] is True
    base = one(result("staging"), DEPLOYMENT)
    # spot is immutable on a deployed model: a new deployed model id, same model upload
    assert d["model_id"] == base["model_id"] and d["deployed_model_id"] != base["deployed_model_id"]
