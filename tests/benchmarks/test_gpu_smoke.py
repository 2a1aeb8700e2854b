"""benchmarks/gpu.py: its --smoke run (the GPU code path on CPU with the tiny model), its
real-size architectures (parameter counts of the published checkpoints), its prices (the
catalog's) and what it writes for the catalog."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = module
    spec.loader.exec_module(module)
    return module


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_smoke_runs_every_variant_through_the_same_code(tmp_path):
    proc = run("--smoke", "--json", "--requests", "2", "--work", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)
    gpu = bench()
    assert [r["variant"] for r in rows] == list(gpu.SMOKE_VARIANTS)
    for r in rows:
        assert r["device"] == "cpu" and r["model"] == "tiny-64" and r["steps"] == 2
        assert r["s_per_image"] > 0 and r["it_per_s"] > 0 and r["s_per_step"] > 0
        assert r["images_per_hour"] == pytest.approx(3600 / r["s_per_image"], rel=1e-3)
        assert r["first_image_s"] >= r["request_1_s"] > 0
        assert r["usd_per_1000"] is None and r["peak_gib"] is None  # no GPU: no price, no memory
    by_name = {r["variant"]: r for r in rows}
    assert by_name["seed"]["speedup_vs_seed"] == 1.0
    assert by_name["engine+batch2"]["batch"] == 2
    assert by_name["engine+fuse_qkv"]["settings"] == {"fuse_qkv": "True"}


def test_gpu_runs_refuse_without_a_gpu_in_one_line(tmp_path):
    proc = run("--model", "sd15", "--work", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("benchmarks/gpu.py: no CUDA GPU")
    proc = run("--smoke", "--write-catalog", str(tmp_path / "b.json"))
    assert proc.returncode == 2 and "GPU figures only" in proc.stderr
    assert not (tmp_path / "b.json").exists()


def test_unknown_variant_is_named():
    gpu = bench()
    with pytest.raises(SystemExit, match="unknown setting 'turbo'"):
        gpu.parse_variant("engine+turbo")
    assert gpu.parse_variant("engine+compile+batch4") == (
        {"compile": True, "batch_window_ms": 1, "max_batch": 4},
        4,
    )


@pytest.mark.slow
def test_real_size_architectures_match_the_published_checkpoints():
    """Parameter counts of runwayml/stable-diffusion-v1-5 and stable-diffusion-xl-base-1.0
    (UNet, VAE, CLIP-L, OpenCLIP-bigG), built on the meta device: no memory, no weights."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from scoring.tiny import char_vocab

    gpu = bench()
    tok = CLIPTokenizer(vocab=char_vocab(), merges=[], model_max_length=77)

    def count(module):
        return sum(p.numel() for p in module.parameters())

    with torch.device("meta"):
        assert count(UNet2DConditionModel(**gpu.sd15_unet_config())) == 859_520_964
        assert count(UNet2DConditionModel(**gpu.sdxl_unet_config())) == 2_567_463_684
        assert count(AutoencoderKL(**gpu.vae_config(1024, 0.13025, True))) == 83_653_863
        assert count(CLIPTextModel(gpu.clip_config(tok, big=False))) == 123_060_480
        assert count(CLIPTextModelWithProjection(gpu.clip_config(tok, big=True))) == 694_659_840


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        ("L4", "ml.g6.xlarge"),
        ("A10G", "ml.g5.xlarge"),
        ("L40S", "ml.g6e.xlarge"),
        ("A100", "Standard_NC24ads_A100_v4"),
        ("H100", "Standard_NC40ads_H100_v5"),
    ],
)
def test_prices_are_the_catalogs_cheapest_single_gpu_instance(cls, name):
    assert bench().cheapest_instance(cls).name == name


def test_written_figures_round_trip_through_the_catalog(tmp_path, monkeypatch):
    """What --write-catalog writes is what infra.catalog reads (rows made up here, in a
    temporary file: the committed infra/benchmarks.json only ever gets GPU-measured ones)."""
    from infra import catalog

    gpu = bench()
    common = dict(model="sdxl-1024", device="NVIDIA A100-SXM4-80GB", steps=30, size=1024)
    rows = [
        gpu.Row(variant=v, batch=1, s_per_image=s, it_per_s=30 / s, s_per_step=s / 33,
                peak_gib=9.0, first_image_s=40.0, first_measured_from="process launch",
                request_1_s=s, request_10_s=s, images_per_hour=3600 / s, **common)
        for v, s in (("seed", 4.0), ("engine", 3.0), ("engine+compile", 2.5))
    ]  # fmt: skip
    gpu.price_rows(rows)
    assert rows[1].speedup_vs_seed == pytest.approx(4 / 3, rel=1e-3)
    path = tmp_path / "benchmarks.json"
    assert gpu.write_catalog(rows, path) == 2  # the seed's recipe is not the engine
    monkeypatch.setattr(catalog, "BENCHMARKS_FILE", path)
    catalog.measured.cache_clear()
    try:
        a100 = catalog.gpu_instance("vertex", "a2-highgpu-1g")
        assert catalog.step_seconds(a100.gpu)[0] == 3.0 / 33
        assert catalog.images_per_hour(a100, compiled=True) == round(3600 / 2.5, 1)
    finally:
        catalog.measured.cache_clear()
