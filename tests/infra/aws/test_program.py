"""Every example stack runs through the program under Pulumi mocks; the AWS graph is checked."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
from functools import cache

import pytest
import yaml

from infra.aws.iam import STAR_RESOURCE_ACTIONS
from tests.infra.helpers import (
    FIXTURE_PACKAGES,
    ROOT,
    STACK_FILES,
    one,
    run_config,
    stack_config,
    stack_result,
)

TAG_KEYS = {"project", "stack", "environment", "owner", "cost-centre"}
BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MODEL = "aws:sagemaker/model:Model"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "pulumi-python:dynamic/sagemaker:Endpoint"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
REPO = "aws:ecr/repository:Repository"
IMAGE = "docker-build:index:Image"
UPLOAD = "pulumi-python:dynamic/weights:Upload"
MANIFEST = json.loads((FIXTURE_PACKAGES / "sagemaker" / "manifest.json").read_text())
ONCALL = "arn:aws:sns:us-east-1:123456789012:oncall"
STACKS = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


def aws_only(name: str) -> dict:
    config = copy.deepcopy(stack_config(name))
    config["genai-endpoints:gcp"] = {"enabled": False}
    config["genai-endpoints:azure"] = {"enabled": False}
    return config


def test_the_repo_has_the_three_example_stacks():
    assert {"dev", "staging", "prod"} <= set(STACKS)


def test_project_file():
    doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert doc["name"] == "genai-endpoints"
    assert doc["main"] == "infra/"
    assert doc["runtime"]["name"] == "python"
    assert doc["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_runs_and_exports_the_contract_outputs(stack):
    result = stack_result(stack)
    assert result.by_type("genai-endpoints:aws:SageMakerEndpoint")
    aws = result.outputs["aws"]
    for key in ("endpoint_name", "region", "mode", "bucket", "instance_type", "invoke"):
        assert aws[key], key
    assert aws["endpoint_arn"].startswith("arn:aws:sagemaker:")
    assert 0 <= aws["usd_per_hour_min"] <= aws["usd_per_hour_max"]
    assert aws["model_id"] == MANIFEST["model"]["id"]
    assert aws["model_revision"] == MANIFEST["model"]["revision"]
    assert "invoke-endpoint" in aws["invoke"]
    assert result.outputs["environment"] == stack
    if aws["mode"] == "async":
        bucket = aws["bucket"]
        assert aws["async_input_uri"] == f"s3://{bucket}/async/inputs/"
        assert aws["async_output_uri"] == f"s3://{bucket}/async/outputs/"
        assert aws["async_failure_uri"] == f"s3://{bucket}/async/failures/"
        assert aws["success_topic_arn"].startswith("arn:aws:sns:")
        assert aws["error_topic_arn"].startswith("arn:aws:sns:")


@pytest.mark.parametrize("stack", STACKS)
def test_encryption_at_rest(stack):
    result = stack_result(stack)
    rule = one(result, SSE)["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["bucketKeyEnabled"] is True
    for topic in result.by_type(TOPIC):
        assert topic["inputs"]["kmsMasterKeyId"]
    kms_key = stack_config(stack)["genai-endpoints:aws"].get("kmsKey", "aws-managed")
    repo = one(result, REPO)
    (enc,) = repo["encryptionConfigurations"]
    if kms_key == "create":
        assert one(result, KEY)["enableKeyRotation"] is True
        assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(
            "arn:aws:kms"
        )
        assert enc["encryptionType"] == "KMS" and enc["kmsKey"].startswith("arn:aws:kms")
    else:
        assert enc["encryptionType"] == "AES256"


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_is_private_versioned_and_tls_only(stack):
    result = stack_result(stack)
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
def test_registry_is_immutable_scanned_and_the_image_is_pushed_by_digest(stack):
    result = stack_result(stack)
    repo = one(result, REPO)
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    image = next(r for r in result.by_type(IMAGE) if r["name"] == "sagemaker-image")
    inputs = image["inputs"]
    (export,) = inputs["exports"]
    assert export["registry"]["pushByDigest"] is True and export["registry"]["push"] is True
    assert export["registry"]["names"] == [
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo['name']}"
    ]
    assert inputs["platforms"] == ["linux/amd64"] and inputs["buildOnPreview"] is False
    assert inputs["dockerfile"]["location"].endswith("runtime/Dockerfile")
    (registry,) = inputs["registries"]
    assert registry["address"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert registry["username"] == "AWS"
    assert "registries" in image["secret_inputs"]  # the ECR token is kept secret
    assert "sagemaker-registry" in image["depends_on"]


@pytest.mark.parametrize("stack", STACKS)
def test_model_names_the_image_by_digest_and_the_weights_prefix(stack):
    result = stack_result(stack)
    container = one(result, MODEL)["primaryContainer"]
    repo = one(result, REPO)["name"]
    image, _, digest = container["image"].partition("@")
    assert image.endswith(f".amazonaws.com/{repo}") and len(digest) == len("sha256:") + 64
    assert container["image"] == result.outputs["aws"]["image"]
    (source,) = container["modelDataSource"]["s3DataSources"]
    assert source["s3DataType"] == "S3Prefix" and source["compressionType"] == "None"
    bucket = result.outputs["aws"]["bucket"]
    assert source["s3Uri"] == f"s3://{bucket}/{MANIFEST['weights']['key_prefix']}"
    assert "modelDataUrl" not in container
    assert not result.by_type(OBJECT)  # no file passes through Pulumi's asset hashing


@pytest.mark.parametrize("stack", STACKS)
def test_container_environment_follows_the_runtime_contract(stack):
    env = one(stack_result(stack), MODEL)["primaryContainer"]["environment"]
    assert env["GENAI_CONTRACT"] == "sagemaker"
    assert env["GENAI_MODEL_ID"] == MANIFEST["model"]["id"]
    assert env["GENAI_WEIGHTS_DIGEST"] == MANIFEST["weights"]["digest"]
    assert not any(k.startswith("SAGEMAKER_") for k in env)  # no toolkit, nothing reads them
    budget = int(env["GENAI_QUEUE_TIMEOUT_S"]) + int(env["GENAI_REQUEST_TIMEOUT_S"])
    limit = 3600 if env["GENAI_MODE"] == "async" else 60
    assert budget < limit  # the server answers before SageMaker cuts the request off


def test_a_package_cannot_stretch_the_real_time_timeout(tmp_path):
    from tests.infra.helpers import edit_manifest, make_package

    pkg = make_package(tmp_path)
    edit_manifest(
        pkg,
        "sagemaker",
        lambda m: m["runtime"]["env"].update(
            GENAI_REQUEST_TIMEOUT_S="3600", GENAI_CONTRACT="vertex", EXTRA="kept"
        ),
    )
    result = run_config(aws_only("staging"), stack="staging", package_dir=pkg)
    env = one(result, MODEL)["primaryContainer"]["environment"]
    assert int(env["GENAI_REQUEST_TIMEOUT_S"]) < 60 and env["GENAI_CONTRACT"] == "sagemaker"
    assert env["EXTRA"] == "kept"


@pytest.mark.parametrize("stack", STACKS)
def test_one_up_orders_storage_upload_model_endpoint(stack):
    result = stack_result(stack)
    upload = result.named("sagemaker-weights")
    assert upload["type"] == UPLOAD
    assert {"sagemaker-bucket", "sagemaker-bucket-sse", "sagemaker-bucket-tls-only"} <= set(
        upload["depends_on"]
    )
    inputs = upload["inputs"]
    assert inputs["store"]["kind"] == "s3" and inputs["store"]["region"] == "us-east-1"
    assert inputs["key_prefix"] == MANIFEST["weights"]["key_prefix"]
    assert inputs["files"] == MANIFEST["weights"]["files"]  # the list, never the bytes
    model = result.named("sagemaker-model")
    assert {"sagemaker-weights", "sagemaker-image", "sagemaker-role-policy"} <= set(
        model["depends_on"]
    )
    endpoint = result.named("sagemaker-endpoint")
    assert "sagemaker-config" in endpoint["depends_on"]
    assert "sagemaker-model" in result.named("sagemaker-config")["depends_on"]
    assert "sagemaker-endpoint" in result.named("sagemaker-scaling-target")["depends_on"]


@pytest.mark.parametrize("stack", STACKS)
def test_iam_is_scoped_to_arns(stack):
    result = stack_result(stack)
    bucket_arn = f"arn:aws:s3:::{result.outputs['aws']['bucket']}"
    policy = json.loads(one(result, ROLE_POLICY)["policy"])
    prefix = MANIFEST["weights"]["key_prefix"]
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
                assert res.startswith((f"{bucket_arn}/{prefix}", f"{bucket_arn}/async/inputs/"))
        if "s3:PutObject" in actions:
            assert "s3:AbortMultipartUpload" in actions  # large async results are multipart
            for res in st["Resource"]:
                assert res.startswith(
                    (
                        f"{bucket_arn}/async/outputs/",
                        f"{bucket_arn}/async/failures/",
                        f"{bucket_arn}/data-capture/",
                    )
                ), res
        if "ecr:BatchGetImage" in actions:
            assert st["Resource"] == [
                f"arn:aws:ecr:us-east-1:123456789012:repository/{one(result, REPO)['name']}"
            ]
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
    result = stack_result(stack)
    checked, types = 0, set()
    for r in result.resources:
        if not r["type"].startswith("aws:") or not _accepts_tags(r["type"]):
            continue
        tags = r["inputs"].get("tags") or {}
        assert set(tags) >= TAG_KEYS, (r["type"], r["name"], tags)
        assert tags["stack"] == stack and tags["owner"] and tags["cost-centre"]
        checked += 1
        types.add(r["type"])
    # dev, with no alarm destination, lost its four alarms (10 before): the kinds that every
    # stack has are named instead
    assert checked >= 9
    assert {BUCKET, REPO, "aws:iam/role:Role", MODEL, CONFIG, TARGET, ALARM} <= types
    assert set(one(result, ENDPOINT)["tags"]) >= TAG_KEYS


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaling_bounds_match_config(stack):
    result = stack_result(stack)
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
    result = stack_result("dev")
    assert result.outputs["aws"]["mode"] == "async"
    assert result.outputs["aws"]["usd_per_hour_min"] == 0
    policies = {p["name"]: p["inputs"] for p in result.by_type(POLICY)}
    assert {p["policyType"] for p in policies.values()} == {"TargetTrackingScaling", "StepScaling"}
    wake = next(
        a for a in result.by_type(ALARM) if a["inputs"]["metricName"] == "HasBacklogWithoutCapacity"
    )
    assert wake["inputs"]["alarmActions"], "the step policy must be the alarm's action"


def test_async_invocations_get_the_full_hour():
    aws = stack_result("dev").outputs["aws"]
    assert aws["async_invocation_timeout_s"] == 3600  # InvokeEndpointAsync: 900 s unless told
    assert "--invocation-timeout-seconds 3600" in aws["invoke"]


def test_realtime_stacks_track_invocations_per_instance():
    for stack in ("staging", "prod"):
        (policy,) = stack_result(stack).by_type(POLICY)
        spec = policy["inputs"]["targetTrackingScalingPolicyConfiguration"]
        assert spec["predefinedMetricSpecification"]["predefinedMetricType"] == (
            "SageMakerVariantInvocationsPerInstance"
        )


def test_prod_is_blue_green_in_whole_instances_rolls_back_on_5xx_and_latency_only():
    result = stack_result("prod")
    endpoint = one(result, ENDPOINT)
    bg = endpoint["deployment_config"]["BlueGreenUpdatePolicy"]
    routing = bg["TrafficRoutingConfiguration"]
    assert routing["Type"] == "LINEAR"
    assert routing["LinearStepSize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert 600 <= bg["MaximumExecutionTimeoutInSeconds"] <= 28800
    rollback = {
        a["AlarmName"] for a in endpoint["deployment_config"]["AutoRollbackConfiguration"]["Alarms"]
    }
    alarms = {a["inputs"]["name"]: a["inputs"] for a in result.by_type(ALARM)}
    assert rollback <= set(alarms)
    assert {alarms[n]["metricName"] for n in rollback} == {"Invocation5XXErrors", "ModelLatency"}
    assert any(a["metricName"] == "Invocation4XXErrors" for a in alarms.values())  # alerts only
    topic = stack_config("prod")["genai-endpoints:aws"]["alarms"]["topicArn"]
    for a in alarms.values():
        assert a["alarmActions"] == [topic] and a["okActions"] == [topic]
    model = one(result, MODEL)
    assert model["vpcConfig"]["subnets"] and model["vpcConfig"]["securityGroupIds"]
    assert model["enableNetworkIsolation"] is True  # nothing is installed at start
    assert result.by_type(KEY)
    assert one(result, CONFIG)["dataCaptureConfig"]["enableCapture"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_pulumi_up_waits_for_the_worst_case_rollout(stack):
    from infra.aws.config import plan as aws_plan
    from infra.config import StackSettings

    result = stack_result(stack)
    endpoint = one(result, ENDPOINT)
    bg = endpoint["deployment_config"]["BlueGreenUpdatePolicy"]
    config = stack_config(stack)
    settings = StackSettings.model_validate(
        {
            k.split(":")[1]: v
            for k, v in config.items()
            if k.split(":")[1] in ("package", "task", "tags", "aws", "environment")
        }
    )
    plan = aws_plan(settings, stack, ROOT / "tests/infra/fixtures/project", FIXTURE_PACKAGES)
    wait = bg["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"]
    assert bg["MaximumExecutionTimeoutInSeconds"] >= plan.rollout.worst_s
    assert bg["MaximumExecutionTimeoutInSeconds"] > wait + bg["TerminationWaitInSeconds"]
    # the dynamic resource waits for InService longer than SageMaker may take (not 60 min)
    assert endpoint["wait_s"] >= bg["MaximumExecutionTimeoutInSeconds"] + plan.rollout.provision_s
    if stack == "prod":
        assert endpoint["wait_s"] > 3600


def test_staging_canary_is_one_whole_instance_of_two():
    endpoint = one(stack_result("staging"), ENDPOINT)
    routing = endpoint["deployment_config"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY"
    assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert stack_config("staging")["genai-endpoints:aws"]["minInstances"] >= 2


def test_video_defaults_to_async_with_full_wiring(dev_config, video_package):
    config = copy.deepcopy(dev_config)
    config["genai-endpoints:task"] = "text-to-video"
    aws = config["genai-endpoints:aws"]
    aws.pop("mode")
    aws.update(minInstances=1, maxInstances=3, maxConcurrentInvocations=2)
    aws["alarms"] = {"topicArn": ONCALL}  # the backlog alarm needs somebody to tell
    result = run_config(config, package_dir=video_package)
    assert result.outputs["aws"]["mode"] == "async"
    cfg = one(result, CONFIG)
    out = cfg["asyncInferenceConfig"]["outputConfig"]
    assert out["s3OutputPath"].endswith("/async/outputs/")
    assert out["s3FailurePath"].endswith("/async/failures/")
    assert len(result.by_type(TOPIC)) == 2
    note = out["notificationConfig"]
    assert note["successTopic"].startswith("arn:aws:sns:") and note["errorTopic"]
    assert note["successTopic"] != note["errorTopic"]
    assert cfg["asyncInferenceConfig"]["clientConfig"]["maxConcurrentInvocationsPerInstance"] == 2
    (policy,) = result.by_type(POLICY)  # min 1: no wake-from-zero step needed
    spec = policy["inputs"]["targetTrackingScalingPolicyConfiguration"]
    assert (
        spec["customizedMetricSpecification"]["metricName"] == "ApproximateBacklogSizePerInstance"
    )
    backlog = [
        a for a in result.by_type(ALARM) if a["inputs"]["metricName"] == "ApproximateBacklogSize"
    ]
    assert backlog and backlog[0]["inputs"]["alarmActions"] == [ONCALL]
    policy_doc = json.loads(one(result, ROLE_POLICY)["policy"])
    publish = next(s for s in policy_doc["Statement"] if s["Action"] == ["sns:Publish"])
    assert len(publish["Resource"]) == 2
    env = one(result, MODEL)["primaryContainer"]["environment"]
    assert env["GENAI_MODE"] == "async" and int(env["GENAI_REQUEST_TIMEOUT_S"]) > 3000


def test_no_hub_token_reaches_a_container(dev_config):
    """Nothing downloads at container start, so no credential for the Hub is deployed."""
    config = dict(dev_config, **{"genai-endpoints:gcp": {"enabled": False},
                                 "genai-endpoints:azure": {"enabled": False}})  # fmt: skip
    (model,) = run_config(config).by_type(MODEL)
    assert not any("TOKEN" in k for k in model["inputs"]["primaryContainer"]["environment"])
