"""Each class of bad config stops the program with one message: key, value, what is allowed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from infra.synth import SynthError
from tests.infra.helpers import (
    FIXTURE_PACKAGES,
    FIXTURE_PROJECT,
    ROOT,
    edit_manifest,
    make_package,
    run_config,
    stack_config,
)

DIGEST = "sha256:" + "ab" * 32
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/genai-runtime"


def _with(config, **aws):
    config = copy.deepcopy(config)
    config["genai-endpoints:aws"].update(aws)
    return config


def _deployment(config, min_instances, max_instances, **deployment):
    return _with(
        config,
        mode="realtime",
        minInstances=min_instances,
        maxInstances=max_instances,
        deployment=deployment,
    )


def _error(config, **kw) -> str:
    with pytest.raises(SynthError) as info:
        run_config(config, **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_unknown_top_level_key(dev_config):
    dev_config["genai-endpoints:instanceType"] = "ml.g5.xlarge"
    msg = _error(dev_config)
    assert "unknown key genai-endpoints:instanceType" in msg
    assert "allowed keys: package, task, environment, tags, runtime, engine, aws, gcp, azure" in msg


def test_unknown_nested_key_lists_allowed_keys(dev_config):
    msg = _error(_with(dev_config, instanceTyp="ml.g5.xlarge"))
    assert "unknown key genai-endpoints:aws.instanceTyp" in msg
    assert "instanceType" in msg and "minInstances" in msg


def test_bad_instance_type(dev_config):
    msg = _error(_with(dev_config, instanceType="ml.g5.huge"))
    assert "genai-endpoints:aws.instanceType='ml.g5.huge'" in msg
    assert "not a known sagemaker GPU instance type" in msg and "allowed: ml.g4dn.xlarge" in msg


def test_non_gpu_instance_type(dev_config):
    msg = _error(_with(dev_config, instanceType="ml.m5.xlarge"))
    assert "'ml.m5.xlarge' is a cpu instance with no GPU" in msg and "allowed:" in msg


def test_too_little_gpu_memory(dev_config, tmp_path):
    big = make_package(tmp_path, size_bytes=20 * 2**30)
    msg = _error(_with(dev_config, instanceType="ml.g5.xlarge"), package_dir=big)
    assert "genai-endpoints:aws.instanceType='ml.g5.xlarge'" in msg
    assert "24 GiB per GPU" in msg and "needs ≥ 30.0 GiB" in msg
    assert "allowed: " in msg and "ml.g6e.xlarge" in msg and "ml.g5.2xlarge" not in msg


def test_video_on_realtime_is_refused(dev_config, video_package):
    config = _with(dev_config, mode="realtime", minInstances=1)
    config["genai-endpoints:task"] = "text-to-video"
    msg = _error(config, package_dir=video_package)
    assert "genai-endpoints:aws.mode='realtime'" in msg and "60 s, 6 MB" in msg
    assert "allowed: 'async'" in msg


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        ({"minInstances": 3, "maxInstances": 2}, "aws.minInstances=3: must be ≤"),
        ({"minInstances": -1}, "aws.minInstances=-1: Input should be greater than or equal to 0"),
        ({"maxInstances": 0}, "aws.maxInstances=0: Input should be greater than or equal to 1"),
        ({"mode": "realtime", "minInstances": 0}, "cannot scale to zero; allowed: ≥ 1"),
        ({"minInstances": "two"}, "aws.minInstances='two': Input should be a valid integer"),
    ],
)
def test_bad_min_max(dev_config, aws, expected):
    assert expected in _error(_with(dev_config, **aws))


def test_missing_manifest(dev_config, tmp_path):
    msg = _error(dev_config, package_dir=tmp_path / "nowhere")
    assert "genai-endpoints:package=" in msg and "no sagemaker manifest" in msg
    assert "allowed: a folder holding 'sagemaker/manifest.json'" in msg


def test_changed_weights_file(dev_config, tmp_path):
    pkg = make_package(tmp_path)
    (pkg / "sagemaker" / "model" / "model_index.json").write_text("{}")
    msg = _error(dev_config, package_dir=pkg)
    assert "model_index.json has 2 bytes, the manifest says" in msg and "rebuild" in msg


def test_a_schema_1_package_is_refused(dev_config, tmp_path):
    pkg = make_package(tmp_path)
    edit_manifest(pkg, "sagemaker", lambda m: m.update(schema_version=1))
    msg = _error(dev_config, package_dir=pkg)
    assert "schema_version=1; allowed: 2" in msg and "rebuild the package" in msg


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        (
            {"min_instances": 1, "max_instances": 2, "strategy": "canary"},
            "aws.deployment.stepInstances=1: a canary step may be at most half of the fleet and "
            "the fleet can be as small as minInstances=1; allowed: minInstances ≥ 2",
        ),
        (
            {"min_instances": 2, "max_instances": 8, "strategy": "linear", "stepInstances": 2},
            "aws.deployment.stepInstances=2: a linear step may be at most half",
        ),
        (
            {"min_instances": 2, "max_instances": 12, "strategy": "linear"},
            "a linear step must be at least 10 % of the fleet and the fleet can grow to "
            "maxInstances=12; allowed: stepInstances ≥ 2, maxInstances ≤ 10",
        ),
        (
            {
                "min_instances": 2,
                "max_instances": 10,
                "strategy": "linear",
                "waitSeconds": 3000,
                "terminationWaitSeconds": 3600,
            },
            "SageMaker stops a blue/green update after 28800 s",
        ),
    ],
)
def test_rollouts_in_whole_instances_within_sagemakers_limit(dev_config, aws, expected):
    lo, hi = aws.pop("min_instances"), aws.pop("max_instances")
    msg = _error(_deployment(dev_config, lo, hi, **aws))
    assert expected in msg, msg


def test_a_tag_without_a_digest_is_refused(dev_config):
    dev_config["genai-endpoints:runtime"] = {"image": f"{ECR}:v1"}
    msg = _error(dev_config)
    assert msg.startswith(f"genai-endpoints:runtime.image='{ECR}:v1': not pinned by a digest")
    assert "allowed: REGISTRY/REPO@sha256:<64 hex>" in msg


def test_sagemaker_needs_ecr_in_its_region(dev_config):
    image = f"{ECR.replace('us-east-1', 'eu-west-1')}@{DIGEST}"
    dev_config["genai-endpoints:runtime"] = {"aws": image}
    msg = _error(dev_config)
    assert f"genai-endpoints:runtime.aws='{image}': SageMaker pulls" in msg
    assert "allowed: ACCOUNT.dkr.ecr.us-east-1.amazonaws.com/REPO@sha256:" in msg


def test_a_lock_that_differs_from_the_packages_is_refused(dev_config, tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(FIXTURE_PROJECT, project)
    (project / "runtime" / "serve.lock").write_text("diffusers==0.1\n")
    msg = _error(dev_config, project_dir=project)
    assert "built against runtime/serve.lock sha256" in msg and "rebuild the package" in msg
    (project / "runtime" / "Dockerfile").unlink()
    msg = _error(dev_config, project_dir=project)
    assert "runtime/Dockerfile does not exist" in msg and "runtime.aws" in msg
    # a pinned image needs neither: nothing is built
    dev_config["genai-endpoints:runtime"] = {"image": f"{ECR}@{DIGEST}"}
    result = run_config(dev_config, project_dir=project)
    assert not result.by_type("docker-build:index:Image")


def test_task_not_in_package(dev_config):
    dev_config["genai-endpoints:task"] = "text-to-video"
    dev_config["genai-endpoints:aws"] = dict(dev_config["genai-endpoints:aws"])
    msg = _error(dev_config)
    assert "genai-endpoints:task='text-to-video'" in msg and "supports only" in msg


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("genai-endpoints:task", "upscale", "genai-endpoints:task='upscale': Input should be"),
        ("genai-endpoints:tags", {"owner": "x"}, "genai-endpoints:tags.costCentre is required"),
        ("genai-endpoints:tags", "oops", "genai-endpoints:tags='oops': must be an object"),
        ("genai-endpoints:hubToken", "hf_plain", "hubToken is retired: containers never download"),
        ("genai-endpoints:gcp", {"enabled": True}, "genai-endpoints:gcp.project is required"),
    ],
)
def test_bad_top_level_values(dev_config, key, value, expected):
    dev_config[key] = value
    assert expected in _error(dev_config)


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        ({"kmsKey": "my-key"}, "aws.kmsKey='my-key': allowed: 'aws-managed', 'create'"),
        ({"region": "mars-1"}, "aws.region='mars-1'"),
        ({"network": {"subnetIds": ["subnet-0a1b2c3d"]}}, "allowed: both set"),
        ({"network": {"subnetIds": ["vpc-1"]}}, "'vpc-1' is not a subnet id"),
        ({"deployment": {"strategy": "yolo"}}, "aws.deployment.strategy='yolo'"),
        ({"deployment": {"stepPercent": 25}}, "unknown key genai-endpoints:aws.deployment.step"),
        ({"deployEndpoint": False}, "unknown key genai-endpoints:aws.deployEndpoint"),
        ({"alarms": {"topicArn": "my-topic"}}, "aws.alarms.topicArn='my-topic'"),
        (
            {"alarms": {"enabled": True}},
            "aws.alarms.enabled=True: no destination, every alarm would notify nobody; "
            "allowed: alarms.topicArn",
        ),
        ({"alarms": {"emails": ["oncall"]}}, "aws.alarms.emails=['oncall']: 'oncall' is not an"),
        (
            {"alarms": {"webhooks": ["http://h.example"]}},
            "aws.alarms.webhooks=['http://h.example']: 'http://h.example': allowed: an https://",
        ),
        (
            {"alarms": {"emails": ["oncall@example.com"]}},
            "kmsKey='aws-managed': CloudWatch alarms cannot publish to a topic encrypted with",
        ),
        (
            {"lifecycle": {"abortIncompleteUploadDays": 0}},
            "aws.lifecycle.abortIncompleteUploadDays=0: Input should be greater than or equal to 1",
        ),
        ({"enabled": False}, "no cloud enabled"),
    ],
)
def test_bad_aws_values(dev_config, aws, expected):
    assert expected in _error(_with(dev_config, **aws))


def test_network_isolation_is_allowed(dev_config):
    dev_config["genai-endpoints:gcp"] = {"enabled": False}
    result = run_config(_with(dev_config, network={"isolation": True}))
    model = result.by_type("aws:sagemaker/model:Model")[0]["inputs"]
    assert model["enableNetworkIsolation"] is True


def test_pulumi_runs_the_program_file_and_a_bad_config_is_one_clean_line(tmp_path):
    """As the language host does: run infra/ as a script (runpy) with PULUMI_CONFIG set."""
    config = stack_config("dev")
    config["genai-endpoints:aws"] = {
        **config["genai-endpoints:aws"],
        "instanceType": "ml.m5.xlarge",
    }
    from infra.synth import runtime_config

    values, _ = runtime_config(config)
    values["genai-endpoints:package"] = str(FIXTURE_PACKAGES)
    values["genai-endpoints:runtime"] = json.dumps({"image": f"{ECR}@{DIGEST}"})
    code = f"""
import runpy, sys
import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from infra_probe_mocks import Mocks
pulumi.runtime.set_mocks(Mocks(), project="genai-endpoints", stack="dev", preview=True)
program = {str(ROOT / "infra")!r}
try:
    _sync_await(run_pulumi_func(lambda: runpy.run_path(program, run_name="__main__")))
except pulumi.RunError as exc:
    print("RUNERROR:", exc)
    sys.exit(3)
print("OK")
"""
    (tmp_path / "infra_probe_mocks.py").write_text(
        "import pulumi\n"
        "class Mocks(pulumi.runtime.Mocks):\n"
        "    def new_resource(self, args):\n"
        "        return args.name + '-id', dict(args.inputs, arn='arn:aws:x:::y', name=args.name)\n"
        "    def call(self, args):\n"
        "        return {'accountId': '123456789012'}\n"
    )
    env = {
        "PULUMI_CONFIG": json.dumps(values),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "RUNERROR: genai-endpoints:aws.instanceType='ml.m5.xlarge'" in proc.stdout
    values["genai-endpoints:aws"] = json.dumps(stack_config("dev")["genai-endpoints:aws"])
    env["PULUMI_CONFIG"] = json.dumps(values)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr
