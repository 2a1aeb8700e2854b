"""``<cloud>.speed`` reaches each cloud's container as GENAI_* variables; a bad value
stops the plan with one line; the catalog's speed figures come from infra/benchmarks.json
where it has them, and only then does it answer images/hour or $/1000 images."""

from __future__ import annotations

import copy
import json

import pytest

from infra import catalog
from infra.serving import EngineSpeed
from infra.synth import SynthError
from tests.infra.helpers import run_config, stack_config

SPEED = {
    "compile": True,
    "compileMode": "max-autotune",
    "fuseQkv": True,
    "warmupSizes": ["1024x1024", "768x1344"],
    "batchWindowMs": 25,
}
EXPECTED = {
    "GENAI_COMPILE": "true",
    "GENAI_COMPILE_MODE": "max-autotune",
    "GENAI_FUSE_QKV": "true",
    "GENAI_WARMUP_SIZES": "1024x1024,768x1344",
    "GENAI_BATCH_WINDOW_MS": "25",
}


def with_speed(config: dict, speed: dict, clouds=("aws", "gcp", "azure")) -> dict:
    config = copy.deepcopy(config)
    for cloud in clouds:
        config[f"genai-endpoints:{cloud}"]["speed"] = speed
    return config


@pytest.mark.slow
def test_speed_settings_reach_every_clouds_container():
    result = run_config(with_speed(stack_config("staging"), SPEED), stack="staging")
    (model,) = result.by_type("aws:sagemaker/model:Model")
    envs = {"aws": model["inputs"]["primaryContainer"]["environment"]}
    (vertex,) = result.by_type("pulumi-python:dynamic/vertex:ModelDeployment")
    spec = vertex["inputs"]["model"]["containerSpec"]
    envs["gcp"] = {e["name"]: e["value"] for e in spec["env"]}
    deployments = [
        r for r in result.resources if "environmentVariables" in r["inputs"].get("properties", {})
    ]
    assert deployments
    for i, dep in enumerate(deployments):
        envs[f"azure{i}"] = dep["inputs"]["properties"]["environmentVariables"]
    for cloud, env in envs.items():
        speed = {k: v for k, v in env.items() if k in EXPECTED}
        assert speed == EXPECTED, cloud
        assert "GENAI_WARMUP" not in env  # keys the stack does not set: the image's defaults


def test_a_stack_without_speed_keeps_its_environment():
    assert EngineSpeed().env() == {}
    assert EngineSpeed.model_validate({"warmup": True}).env() == {"GENAI_WARMUP": "true"}


def test_the_env_names_are_the_engines_settings():
    """Every key the stack can set is a field the engine reads (GENAI_ + upper case)."""
    from scoring.settings import EngineSettings

    engine_fields = set(EngineSettings.model_fields)
    for name in EngineSpeed.model_fields:
        assert name in engine_fields, name
    env = EngineSpeed.model_validate(SPEED).env()
    parsed = EngineSettings(**{k.removeprefix("GENAI_").lower(): v for k, v in env.items()})
    assert parsed.compile and parsed.compile_mode == "max-autotune" and parsed.fuse_qkv
    assert parsed.warmup_shapes == [(1024, 1024), (768, 1344)] and parsed.batch_window_ms == 25


@pytest.mark.parametrize(
    ("speed", "words"),
    [
        ({"compile": "maybe"}, "genai-endpoints:aws.speed.compile='maybe'"),
        ({"compileMode": "fastest"}, "genai-endpoints:aws.speed.compileMode='fastest'"),
        ({"compile": True, "warmup": False}, "genai-endpoints:aws.speed.warmup=False"),
        ({"warmupSizes": ["1000x7"]}, "'1000x7': allowed: WIDTHxHEIGHT, multiples of 8"),
        ({"batchWindowMs": 5000}, "genai-endpoints:aws.speed.batchWindowMs=5000"),
        ({"maxBatch": 0}, "genai-endpoints:aws.speed.maxBatch=0"),
        ({"compiled": True}, "unknown key genai-endpoints:aws.speed.compiled; allowed keys:"),
    ],
)
def test_a_bad_speed_value_is_one_line_naming_the_key(speed, words):
    config = with_speed(stack_config("dev"), speed, clouds=("aws",))
    with pytest.raises(SynthError) as info:
        run_config(config)
    message = str(info.value)
    assert "\n" not in message and words in message, message


# --------------------------------------------------------------------------- catalog


@pytest.fixture
def figures(tmp_path, monkeypatch):
    """A benchmarks.json with one measured A100 figure, as benchmarks/gpu.py writes it."""
    path = tmp_path / "benchmarks.json"
    entry = {
        "gpu_class": "A100",
        "device": "NVIDIA A100-SXM4-80GB",
        "model": "sdxl-1024",
        "variant": "engine",
        "steps": 30,
        "s_per_image": 3.0,
        "s_per_step": 0.09,
        "images_per_hour": 1200.0,
        "peak_gib": 10.5,
        "date": "2030-01-01",
        "torch": "2.13.0",
    }
    compiled = {**entry, "variant": "engine+compile", "s_per_step": 0.07, "images_per_hour": 1500}
    path.write_text(json.dumps({"schema_version": 1, "entries": [entry, compiled]}))
    monkeypatch.setattr(catalog, "BENCHMARKS_FILE", path)
    catalog.measured.cache_clear()
    yield path
    catalog.measured.cache_clear()


def test_the_committed_file_holds_no_invented_figures():
    data = json.loads(catalog.BENCHMARKS_FILE.read_text())
    assert data["schema_version"] == 1
    for entry in data["entries"]:  # only what benchmarks/gpu.py wrote on a GPU
        assert entry["device"] and catalog.gpu_class(entry["device"]) == entry["gpu_class"]


def test_step_seconds_use_a_measured_figure_where_one_exists(figures):
    a100 = catalog.gpu_instance("azureml", "Standard_NC24ads_A100_v4")
    assert catalog.step_seconds(a100.gpu) == (
        0.09,
        "measured on NVIDIA A100-SXM4-80GB (engine, 2030-01-01)",
    )
    assert catalog.step_seconds(a100.gpu, compiled=True)[0] == 0.07
    assert catalog.step_seconds("NVIDIA T4") == (1.5, "rough public figure")
    assert catalog.images_per_hour(a100) == 1200.0
    assert catalog.usd_per_1000_images(a100) == round(a100.usd_per_hour / 1200 * 1000, 4)
    l4 = catalog.gpu_instance("sagemaker", "ml.g6.xlarge")
    assert catalog.images_per_hour(l4) is None and catalog.usd_per_1000_images(l4) is None


def test_azure_sizes_its_timeout_from_the_measured_figure(figures):
    from infra.azure.config import Workload, step_seconds

    a100 = catalog.gpu_instance("azureml", "Standard_NC24ads_A100_v4")
    assert step_seconds(a100, Workload()) == 0.09
    assert step_seconds(a100, Workload.model_validate({"secondsPerStep": 0.5})) == 0.5


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA A10", "A10G"),
        ("NVIDIA A100-SXM4-40GB", "A100"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H100 NVL", "H100"),
        ("Tesla T4", "T4"),
        ("NVIDIA H200", None),
    ],
)
def test_gpu_classes_from_catalog_and_cuda_names(name, cls):
    assert catalog.gpu_class(name) == cls
