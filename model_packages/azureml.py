"""Azure ML package: a code folder with ``score.py``, a pinned environment, the weights.

``model/`` becomes the model asset (AZUREML_MODEL_DIR), ``code/`` the code configuration,
and ``environment/conda.yaml`` with the base image the environment asset. The conda pip
section installs at image build time in the workspace's registry, so the running
deployment needs no egress.
"""

from __future__ import annotations

from model_packages.layout import requirements
from model_packages.manifest import CloudLimit
from model_packages.spec import CloudSpec

# Azure ML's curated GPU inference base image, pinned by tag.
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:20250601.v1"
TORCH = "torch==2.5.1"
TRANSFORMERS = "transformers==4.51.3"

ENTRY = '''"""Azure ML entry point: the inference server calls init() once and run() per request."""

from pathlib import Path

from scoring.adapters import azureml


def init():
    azureml.init(info_file=Path(__file__).with_name("genai_package.json"))


run = azureml.run
'''


def conda_yaml() -> str:
    pins = [TORCH, TRANSFORMERS, "azureml-inference-server-http==1.4.1", *requirements()]
    lines = ["name: genai-endpoints", "channels:", "  - conda-forge", "dependencies:"]
    lines += ["  - python=3.11", "  - pip", "  - pip:"]
    lines += [f"      - {pin}" for pin in pins]
    return "\n".join(lines) + "\n"


def spec() -> CloudSpec:
    return CloudSpec(
        cloud="azureml",
        code_folder="code",
        entry_name="score.py",
        entry_source=ENTRY,
        image=BASE_IMAGE,
        image_note="Azure ML OpenMPI CUDA 11.8 base; conda.yaml adds torch and the engine",
        env={"HF_HUB_OFFLINE": "1"},
        port=5001,
        health_route="/",
        predict_route="/score",
        limits=[
            CloudLimit(
                name="managed",
                max_request_bytes=100_000_000,
                max_response_bytes=None,
                timeout_s=180,
            ),
        ],
        extra_files={"environment/conda.yaml": conda_yaml()},
    )
