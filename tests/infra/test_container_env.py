"""The container environment's device: a plan on a GPU instance asks for CUDA outright
(``GENAI_DEVICE=cuda``), so the server never serves on the CPU there (issue 19)."""

from __future__ import annotations

from pathlib import Path

from infra.manifest import load_manifest
from infra.serving import container_env

PACKAGES = Path(__file__).parent / "fixtures" / "packages"


def env(gpu: bool) -> dict[str, str]:
    manifest, _ = load_manifest(PACKAGES, "sagemaker")
    return container_env(
        manifest, "sagemaker", task="text-to-image", timeout_s=60, max_request_bytes=None, gpu=gpu
    )


def test_a_gpu_plan_asks_for_cuda():
    assert env(gpu=True)["GENAI_DEVICE"] == "cuda"


def test_a_plan_without_a_gpu_leaves_the_device_to_the_server():
    assert "GENAI_DEVICE" not in env(gpu=False)


def test_the_package_cannot_turn_cuda_off():
    manifest, _ = load_manifest(PACKAGES, "sagemaker")
    manifest.runtime.env["GENAI_DEVICE"] = "cpu"
    got = container_env(
        manifest, "sagemaker", task="text-to-image", timeout_s=60, max_request_bytes=None, gpu=True
    )
    assert got["GENAI_DEVICE"] == "cuda"
