"""The SageMaker inference AMI each production variant asks for: its NVIDIA driver runs the
serving lock's CUDA build, the table agrees with botocore's own service model, and a stack
that asks for an AMI whose driver is too old stops at plan time with one line."""

from __future__ import annotations

import copy
import html
import re

import pytest
from botocore.loaders import Loader

from infra.aws import ami
from infra.synth import SynthError
from scoring.cuda_drivers import driver_runs, lock_cuda_version
from tests.infra.helpers import ROOT, one, run_config, stack_config, stack_result

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
STACKS = ("dev", "staging", "prod")


def sagemaker_shapes() -> dict:
    return Loader().load_service_model("sagemaker", "service-2")["shapes"]


def documented_amis(doc: str) -> dict[str, list[str]]:
    """botocore's documentation of an AMI field, ``<dt>version</dt><dd><p>fact</p>…</dd>``:
    each version's facts (``"NVIDIA driver version: 580"``, …)."""
    return {
        html.unescape(version).strip(): [
            html.unescape(f).strip() for f in re.findall(r"<p>([^<]+)</p>", body)
        ]
        for version, body in re.findall(r"<dt>([^<]+)</dt>\s*<dd>(.*?)</dd>", doc, re.S)
    }


def fact(facts: list[str], key: str) -> str | None:
    return next((f.split(":", 1)[1].strip() for f in facts if f.startswith(f"{key}:")), None)


def test_the_lock_is_the_cuda_13_build_and_the_plan_picks_a_driver_that_runs_it():
    """The fast twin of the image test's check: lock → CUDA build → AMI, one table each."""
    cuda = lock_cuda_version((ROOT / "runtime" / "serve.lock").read_text())
    assert cuda == ami.serving_cuda() == "13.0"
    chosen = ami.inference_ami(None, cuda)
    assert chosen.version == "al2023-ami-sagemaker-inference-gpu-4-1"
    assert chosen.driver_branch is not None and driver_runs(chosen.driver_branch, cuda)


def test_the_chosen_ami_is_a_value_botocore_accepts():
    enum = sagemaker_shapes()["ProductionVariantInferenceAmiVersion"]["enum"]
    assert ami.inference_ami(None, ami.serving_cuda()).version in enum


def test_the_table_is_botocores_list_with_its_drivers():
    """Every InferenceAmiVersion botocore knows is in the table, with the NVIDIA driver
    and CUDA version its documentation gives (a new AMI fails here until it is added)."""
    shapes = sagemaker_shapes()
    enum = shapes["ProductionVariantInferenceAmiVersion"]["enum"]
    doc = shapes["ProductionVariant"]["members"]["InferenceAmiVersion"]["documentation"]
    documented = documented_amis(doc)
    assert set(ami.INFERENCE_AMIS) == set(enum) == set(documented)
    for version, entry in ami.INFERENCE_AMIS.items():
        facts = documented[version]
        driver = fact(facts, "NVIDIA driver version")
        assert entry.driver_branch == (int(driver.split(".")[0]) if driver else None), version
        assert entry.cuda == fact(facts, "CUDA version"), version
        disabled = "NVIDIA Container Toolkit with disabled CUDA-compat mounting" in facts
        assert entry.compat_mounting is not disabled, version


def test_batch_transform_offers_no_driver_for_the_lock():
    """Known limit for a batch feature (docs/pulumi.md): TransformAmiVersion documents 470
    and 535 only, and the lock's CUDA 13 build needs 580."""
    doc = sagemaker_shapes()["TransformResources"]["members"]["TransformAmiVersion"]
    documented = documented_amis(doc["documentation"]).values()
    drivers = [int(fact(facts, "NVIDIA driver version")) for facts in documented]
    assert drivers and not any(driver_runs(d, ami.serving_cuda()) for d in drivers)


def test_a_cuda_12_lock_would_get_the_oldest_driver_that_runs_it_without_compat_mounts():
    chosen = ami.inference_ami(None, "12.8")
    assert chosen.version == "al2-ami-sagemaker-inference-gpu-2-1"


def test_a_lock_no_ami_runs_is_one_line(monkeypatch):
    import scoring.cuda_drivers

    monkeypatch.setitem(scoring.cuda_drivers.MIN_DRIVER_BRANCH, 14, 600)  # a future CUDA
    with pytest.raises(ami.AmiError) as info:
        ami.inference_ami(None, "14.0")
    msg = str(info.value)
    assert "no SageMaker inference AMI runs CUDA 14.0 (driver ≥ 600)" in msg
    assert "allowed:" in msg and "\n" not in msg


@pytest.mark.parametrize("stack", STACKS)
def test_every_example_stack_asks_for_the_ami_the_lock_needs(stack):
    variant = one(stack_result(stack), CONFIG)["productionVariants"][0]
    assert variant["inferenceAmiVersion"] == "al2023-ami-sagemaker-inference-gpu-4-1"


def _with_ami(value):
    config = copy.deepcopy(stack_config("dev"))
    config["genai-endpoints:aws"]["inferenceAmiVersion"] = value
    return config


def _error(config) -> str:
    with pytest.raises(SynthError) as info:
        run_config(config)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("al2-ami-sagemaker-inference-gpu-3-1", "NVIDIA driver 550 runs CUDA 12 at most"),
        ("al2-ami-sagemaker-inference-gpu-2", "NVIDIA driver 535 runs CUDA 12 at most"),
        ("al2-ami-sagemaker-inference-neuron-2", "not an NVIDIA GPU AMI"),
        ("al2-ami-sagemaker-inference-gpu-9", "not a SageMaker inference AMI version"),
    ],
)
def test_an_ami_whose_driver_cannot_run_the_lock_is_refused_at_plan_time(value, expected):
    msg = _error(_with_ami(value))
    assert f"genai-endpoints:aws.inferenceAmiVersion={value!r}" in msg
    assert expected in msg
    assert "allowed: al2023-ami-sagemaker-inference-gpu-4-1" in msg


def test_asking_for_the_ami_the_plan_would_choose_is_fine():
    result = run_config(_with_ami("al2023-ami-sagemaker-inference-gpu-4-1"))
    variant = one(result, CONFIG)["productionVariants"][0]
    assert variant["inferenceAmiVersion"] == "al2023-ami-sagemaker-inference-gpu-4-1"
