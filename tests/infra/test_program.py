"""Every example stack runs through the program under Pulumi mocks; the graph is checked."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
from functools import cache

import pytest
import yaml

from infra.aws.endpoint import STAR_RESOURCE_ACTIONS
from tests.infra.conftest import ROOT, STACK_FILES, run_config, stack_config

TAG_KEYS = {"project", "stack", "environment", "owner", "cost-centre"}
BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MODEL = "aws:sagemaker/model:Model"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"


@cache
def _stack_result(name: str):
    return run_config(stack_config(name), stack=name)


def one(result, token):
    found = result.by_type(token)
    assert len(found) == 1, f"{token}: {len(found)} found"
    return found[0]["inputs"]


STACKS = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


def test_the_repo_has_the_three_example_stacks():
    assert {"dev", "staging", "prod"} <= set(STACKS)


def test_project_file():
    doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert doc["name"] == "genai-endpoints"
    assert doc["main"] == "infra/"
    assert doc["runtime"]["name"] == "python"
    assert doc["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_runs_and_exports_outputs(stack):
    result = _stack_result(stack)
    assert result.by_type("genai-endpoints:aws:SageMakerEndpoint")
    aws = result.outputs["aws"]
    for key in ("endpoint_name", "endpoint_arn", "region", "mode", "invoke"):
        assert aws[key], key
    assert aws["endpoint_arn"].startswith("arn:aws:sagemaker:")
    assert 0 <= aws["usd_per_hour_min"] <= aws["usd_per_hour_max"]
    assert "invoke-endpoint" in aws["invoke"]
    assert result.outputs["environment"] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_encryption_at_rest(stack):
    result = _stack_result(stack)
    rule = one(result, SSE)["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["bucketKeyEnabled"] is True
    for obj in result.by_type(OBJECT):
        assert obj["inputs"]["serverSideEncryption"] == "aws:kms"
    for topic in result.by_type(TOPIC):
        assert topic["inputs"]["kmsMasterKeyId"]
    kms_key = stack_config(stack)["genai-endpoints:aws"].get("kmsKey", "aws-managed")
    if kms_key == "create":
        assert one(result, KEY)["enableKeyRotation"] is True
        assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(
            "arn:aws:kms"
        )


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_is_private_versioned_and_tls_only(stack):
    result = _stack_result(stack)
    pab = one(result, PAB)
    assert all(
        pab[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    versioning = one(result, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    policy = json.loads(one(result, BUCKET_POLICY)["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("stack", STACKS)
def test_iam_is_scoped_to_arns(stack):
    result = _stack_result(stack)
    bucket = one(result, BUCKET)
    bucket_arn = f"arn:aws:s3:::{bucket.get('bucket') or 'sagemaker-bucket-bucket-0123abcd'}"
    policy = json.loads(one(result, ROLE_POLICY)["policy"])
    manifest_prefix = json.loads(
        (ROOT / "tests/infra/fixtures/packages/sagemaker/manifest.json").read_text()
    )["weights"]["key_prefix"]
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        actions = st["Action"]
        assert all("*" not in a for a in actions), st
        if "*" in st["Resource"]:
            assert st["Resource"] == ["*"]
            assert set(actions) <= STAR_RESOURCE_ACTIONS, st
        for res in st["Resource"]:
            assert res == "*" or res.startswith("arn:aws:"), res
        if "s3:GetObject" in actions:
            for res in st["Resource"]:
                assert res.startswith(
                    (f"{bucket_arn}/{manifest_prefix}", f"{bucket_arn}/async/inputs/")
                )
        if "s3:PutObject" in actions:
            for res in st["Resource"]:
                assert res.startswith(
                    (
                        f"{bucket_arn}/async/outputs/",
                        f"{bucket_arn}/async/failures/",
                        f"{bucket_arn}/data-capture/",
                    )
                ), res
        if "sns:Publish" in actions:
            assert all(r.startswith("arn:aws:sns:") for r in st["Resource"])
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert {"s3:GetObject", "logs:PutLogEvents", "ecr:BatchGetImage"} <= actions
    assert not {"s3:DeleteObject", "iam:PassRole", "s3:PutBucketPolicy"} & actions


@cache
def _accepts_tags(token: str) -> bool:
    pkg, mod, cls = token.split(":")[0], token.split(":")[1].split("/")[0], token.split(":")[2]
    module = importlib.import_module(f"pulumi_{pkg}.{mod}")
    return "tags" in inspect.signature(getattr(module, cls)._internal_init).parameters


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_is_tagged(stack):
    result = _stack_result(stack)
    checked = 0
    for r in result.resources:
        if not r["type"].startswith("aws:") or not _accepts_tags(r["type"]):
            continue
        tags = r["inputs"].get("tags") or {}
        assert set(tags) >= TAG_KEYS, (r["type"], r["name"], tags)
        assert tags["stack"] == stack and tags["owner"] and tags["cost-centre"]
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaling_bounds_match_config(stack):
    result = _stack_result(stack)
    aws = stack_config(stack)["genai-endpoints:aws"]
    target = one(result, TARGET)
    assert target["minCapacity"] == aws["minInstances"]
    assert target["maxCapacity"] == aws["maxInstances"]
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["resourceId"].endswith("/variant/primary")
    variant = one(result, CONFIG)["productionVariants"][0]
    assert variant["initialInstanceCount"] == max(1, aws["minInstances"])
    assert variant["instanceType"] == aws["instanceType"]
    assert variant["containerStartupHealthCheckTimeoutInSeconds"] >= 600
    assert variant["modelDataDownloadTimeoutInSeconds"] >= 600
    assert "volumeSizeInGb" not in variant  # GPU types with NVMe refuse VolumeSizeInGB


def test_dev_scales_to_zero_with_async_and_a_wake_up_step():
    result = _stack_result("dev")
    assert result.outputs["aws"]["mode"] == "async"
    assert result.outputs["aws"]["usd_per_hour_min"] == 0
    policies = {p["name"]: p["inputs"] for p in result.by_type(POLICY)}
    assert {p["policyType"] for p in policies.values()} == {"TargetTrackingScaling", "StepScaling"}
    wake = next(
        a for a in result.by_type(ALARM) if a["inputs"]["metricName"] == "HasBacklogWithoutCapacity"
    )
    assert wake["inputs"]["alarmActions"], "the step policy must be the alarm's action"


def test_realtime_stacks_track_invocations_per_instance():
    for stack in ("staging", "prod"):
        (policy,) = _stack_result(stack).by_type(POLICY)
        spec = policy["inputs"]["targetTrackingScalingPolicyConfiguration"]
        assert spec["predefinedMetricSpecification"]["predefinedMetricType"] == (
            "SageMakerVariantInvocationsPerInstance"
        )


def test_prod_is_blue_green_with_alarm_rollback_private_and_keyed():
    result = _stack_result("prod")
    endpoint = one(result, ENDPOINT)
    bg = endpoint["deploymentConfig"]["blueGreenUpdatePolicy"]
    assert bg["trafficRoutingConfiguration"]["type"] in ("LINEAR", "CANARY")
    rollback = {
        a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    }
    alarms = {a["inputs"]["name"]: a["inputs"] for a in result.by_type(ALARM)}
    assert rollback <= set(alarms)
    metrics = {alarms[n]["metricName"] for n in rollback}
    assert {"Invocation5XXErrors", "Invocation4XXErrors", "ModelLatency"} <= metrics
    model = one(result, MODEL)
    assert model["vpcConfig"]["subnets"] and model["vpcConfig"]["securityGroupIds"]
    assert result.by_type(KEY)
    assert result.outputs["aws"]["max_instances"] >= 4
    assert one(result, CONFIG)["dataCaptureConfig"]["enableCapture"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_model_references_weights_prefix_and_code_sits_inside_it(stack):
    result = _stack_result(stack)
    model = one(result, MODEL)
    container = model["primaryContainer"]
    (source,) = container["modelDataSource"]["s3DataSources"]
    assert source["s3DataType"] == "S3Prefix" and source["compressionType"] == "None"
    prefix = source["s3Uri"].split("/", 3)[3]
    assert prefix.startswith("models/") and prefix.endswith("/")
    keys = {o["inputs"]["key"] for o in result.by_type(OBJECT)}
    assert f"{prefix}code/inference.py" in keys
    assert all(k.startswith(f"{prefix}code/") for k in keys)  # no weights pass through Pulumi
    env = container["environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env["GENAI_CODE_DIGEST"] and env["SAGEMAKER_MODEL_SERVER_TIMEOUT"]
    assert "modelDataUrl" not in container


def test_video_defaults_to_async_with_full_wiring(dev_config, video_package):
    config = copy.deepcopy(dev_config)
    config["genai-endpoints:task"] = "text-to-video"
    aws = config["genai-endpoints:aws"]
    aws.pop("mode")
    aws.update(minInstances=1, maxInstances=3, maxConcurrentInvocations=2)
    result = run_config(config, package_dir=video_package)
    assert result.outputs["aws"]["mode"] == "async"
    cfg = one(result, CONFIG)
    out = cfg["asyncInferenceConfig"]["outputConfig"]
    assert out["s3OutputPath"].endswith("/async/outputs/")
    assert out["s3FailurePath"].endswith("/async/failures/")
    topics = {t["name"] for t in result.by_type(TOPIC)}
    assert len(topics) == 2
    note = out["notificationConfig"]
    assert note["successTopic"].startswith("arn:aws:sns:") and note["errorTopic"]
    assert note["successTopic"] != note["errorTopic"]
    assert cfg["asyncInferenceConfig"]["clientConfig"]["maxConcurrentInvocationsPerInstance"] == 2
    (policy,) = result.by_type(POLICY)  # min 1: no wake-from-zero step needed
    spec = policy["inputs"]["targetTrackingScalingPolicyConfiguration"]
    assert (
        spec["customizedMetricSpecification"]["metricName"] == "ApproximateBacklogSizePerInstance"
    )
    assert any(a["inputs"]["metricName"] == "ApproximateBacklogSize" for a in result.by_type(ALARM))
    policy_doc = json.loads(one(result, ROLE_POLICY)["policy"])
    publish = next(s for s in policy_doc["Statement"] if s["Action"] == ["sns:Publish"])
    assert len(publish["Resource"]) == 2
    env = one(result, MODEL)["primaryContainer"]["environment"]
    assert env["GENAI_MODE"] == "async" and env["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "3600"


def test_secret_hub_token_is_accepted_and_passed_as_secret(dev_config):
    config = dict(dev_config)
    config["genai-endpoints:hubToken"] = {"secure": "v1:AAAAencrypted"}
    result = run_config(config)
    (model,) = result.by_type(MODEL)
    assert model["inputs"]["primaryContainer"]["environment"]["HF_TOKEN"] == "[secret]"
    assert model["secret_inputs"] == ["primaryContainer"]  # encrypted in state, never plain


def test_deploy_endpoint_false_creates_storage_and_role_only(dev_config):
    config = copy.deepcopy(dev_config)
    config["genai-endpoints:aws"]["deployEndpoint"] = False
    result = run_config(config)
    assert result.by_type(BUCKET) and result.by_type(ROLE_POLICY) and result.by_type(OBJECT)
    assert not result.by_type(MODEL) and not result.by_type(ENDPOINT)


def test_code_lands_where_the_container_loads_it():
    from infra.aws.endpoint import code_key_prefix

    assert code_key_prefix("model", "model/code", "models/abc/") == "models/abc/code/"
    assert code_key_prefix("model", "code", "models/abc/") == "models/abc/code/"
