"""Every stack file, with the gcp section on, runs through the program under Pulumi mocks;
the Vertex AI graph and its inputs are checked."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest

from tests.infra.gcp.helpers import STACKS, gcp_stack_config
from tests.infra.helpers import ROOT, run_config

BUCKET = "gcp:storage/bucket:Bucket"
UPLOAD = "pulumi-python:dynamic/weights:Upload"
AGENT = "gcp:projects/serviceIdentity:ServiceIdentity"
REGISTRY = "gcp:artifactregistry/repository:Repository"
DATASET = "gcp:bigquery/dataset:Dataset"
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
    assert out["model_id"] == MANIFEST["model"]["id"]
    assert out["model_revision"] == MANIFEST["model"]["revision"]
    assert out["project"] == gcp(stack)["project"] and out["region"]


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
        assert one(res, REGISTRY)["kmsKeyName"] == key
        grants = {g["name"]: g for g in res.by_type(KEY_IAM)}
        assert set(grants) == {"vertex-key-gcs", "vertex-key-vertex", "vertex-key-registry"}
        for g in grants.values():
            assert g["inputs"]["cryptoKeyId"] == key
            assert g["inputs"]["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
            assert "vertex-api-cloudkms" in g["depends_on"]  # after the API is on
        # the agents the grants name are created (a fresh project has none), after their API
        agents = {a["inputs"]["service"]: a for a in res.by_type(AGENT)}
        assert {"aiplatform.googleapis.com", "artifactregistry.googleapis.com"} <= set(agents)
        assert "vertex-api-aiplatform" in agents["aiplatform.googleapis.com"]["depends_on"]
        assert "vertex-vertex-agent" in grants["vertex-key-vertex"]["depends_on"]
        assert "vertex-registry-agent" in grants["vertex-key-registry"]["depends_on"]
        assert grants["vertex-key-gcs"]["inputs"]["member"].endswith(
            "@gs-project-accounts.iam.gserviceaccount.com"
        )
        assert set(grants) <= set(res.named("vertex-bucket")["depends_on"])
    else:
        assert "encryption" not in b and not res.by_type(KEY_IAM)


@pytest.mark.parametrize("stack", STACKS)
def test_weights_are_uploaded_during_up_and_the_model_waits_for_them(stack):
    res = result(stack)
    upload = res.named("vertex-weights")
    assert upload["type"] == UPLOAD
    assert upload["inputs"]["store"]["kind"] == "gs"
    assert upload["inputs"]["store"]["project"] == gcp(stack)["project"]
    assert upload["inputs"]["key_prefix"] == PREFIX
    assert upload["inputs"]["files"] == MANIFEST["weights"]["files"]
    assert "vertex-bucket" in upload["depends_on"]
    deployment = res.named("vertex-deployment")
    assert {"vertex-weights", "vertex-endpoint", "vertex-read-model-prefix"} <= set(
        deployment["depends_on"]
    )
    assert not res.by_type("gcp:storage/bucketObject:BucketObject")


@pytest.mark.parametrize("stack", STACKS)
def test_image_repository_and_pull_grant(stack):
    res = result(stack)
    repo = one(res, REGISTRY)
    assert repo["format"] == "DOCKER" and repo["location"] == gcp(stack).get("region")
    assert repo["dockerConfig"] == {"immutableTags": True}
    pull = one(res, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert pull["role"] == "roles/artifactregistry.reader"
    assert pull["member"].endswith("@gcp-sa-aiplatform.iam.gserviceaccount.com")
    assert "vertex-agent-pulls-image" in res.named("vertex-deployment")["depends_on"]


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
    assert f'objectListPrefix", "") == "{PREFIX.rstrip("/")}"' in expr
    # the artifactUri is exactly the prefix the condition allows (trailing slash included)
    assert one(res, DEPLOYMENT)["model"]["artifactUri"] == f"gs://{bucket}/{PREFIX}"
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
    uri = rr.get("bigqueryUri") or ""
    if "." in uri:  # bq://project.dataset: the stack creates the dataset, before the endpoint
        dataset = one(res, DATASET)
        assert dataset["datasetId"] == uri.split(".")[1] and dataset["project"] == g["project"]
        assert "vertex-logs" in res.named("vertex-endpoint")["depends_on"]
    else:
        assert not res.by_type(DATASET)
    timeout = one(res, DEPLOYMENT).get("inference_timeout")
    if g.get("dedicatedEndpoint"):
        assert timeout == "3600s"  # not Vertex's 10-minute default
    else:
        assert timeout is None


@pytest.mark.parametrize("stack", STACKS)
def test_model_upload_and_deployment_inputs(stack):
    res = result(stack)
    g = gcp(stack)
    d = one(res, DEPLOYMENT)
    spec = d["model"]["containerSpec"]
    assert spec["imageUri"] == res.outputs["gcp"]["image"]
    assert re.fullmatch(
        r"us-central1-docker\.pkg\.dev/[a-z0-9-]+/[a-z0-9-]+/genai-runtime"
        r"@sha256:[0-9a-f]{64}",
        spec["imageUri"],
    )
    assert spec["ports"] == [{"containerPort": 8080}] and spec["args"] == []
    assert spec["healthRoute"] == "/health" and spec["predictRoute"] == "/predict"
    for probe in (spec["startupProbe"], spec["healthProbe"]):
        assert probe["httpGet"] == {"path": "/health", "port": 8080}
        assert probe["periodSeconds"] < probe["timeoutSeconds"]
    assert spec["startupProbe"]["failureThreshold"] * spec["startupProbe"]["periodSeconds"] >= 600
    assert int(spec["sharedMemorySizeMb"]) >= 64
    env = {e["name"]: e["value"] for e in spec["env"]}
    assert env["GENAI_CONTRACT"] == "vertex"
    assert env["GENAI_WEIGHTS_DIGEST"] == MANIFEST["weights"]["digest"]
    assert not any(k.startswith("AIP_") for k in env)  # Vertex sets those itself
    assert d["model"]["artifactUri"] == f"gs://{one(res, BUCKET)['name']}/{PREFIX}"
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


def test_video_gets_a_dedicated_endpoint_by_default(video_vertex_package):
    config = gcp_stack_config("staging")
    config["genai-endpoints:task"] = "text-to-video"
    config["genai-endpoints:gcp"].pop("dedicatedEndpoint")
    config.pop("genai-endpoints:aws")
    res = run_config(config, stack="staging", package_dir=video_vertex_package)
    assert one(res, ENDPOINT)["dedicatedEndpointEnabled"] is True
    env = {e["name"]: e["value"] for e in one(res, DEPLOYMENT)["model"]["containerSpec"]["env"]}
    assert env["GENAI_MAX_REQUEST_BYTES"] == "10000000"
    assert 3000 < int(env["GENAI_REQUEST_TIMEOUT_S"]) < 3600
    assert one(res, DEPLOYMENT)["inference_timeout"] == "3600s"


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
    assert one(res, DEPLOYMENT)["inference_timeout"] == "3600s"  # PSC: the dedicated limits
    config = gcp_stack_config("staging")
    config["genai-endpoints:gcp"]["spot"] = True
    d = one(run_config(config, stack="staging"), DEPLOYMENT)
    assert d["deployed_model"]["dedicatedResources"]["spot"] is True
    base = one(result("staging"), DEPLOYMENT)
    # spot is immutable on a deployed model: a new deployed model id, same model upload
    assert d["model_id"] == base["model_id"] and d["deployed_model_id"] != base["deployed_model_id"]
