"""Vertex AI package: the Hugging Face inference container's custom-handler layout.

``model/`` is what ``AIP_STORAGE_URI`` points at: the weights with ``handler.py``, the
engine and ``requirements.txt`` beside them (the container installs it at start, which
needs egress unless the image has the pins).
"""

from __future__ import annotations

from model_packages.manifest import CloudLimit
from model_packages.spec import CloudSpec

# Google's Hugging Face PyTorch inference image on Vertex AI (Deep Learning Containers),
# pinned by its full tag. Check the current list before changing it:
# https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers
IMAGE = (
    "us-docker.pkg.dev/deeplearning-platform-release/gcr.io/"
    "huggingface-pytorch-inference-cu121.2-3.transformers.4-46.ubuntu2204.py311"
)

ENTRY = '''"""Vertex AI entry point: the Hugging Face container loads EndpointHandler."""

from scoring.adapters.vertex import EndpointHandler

__all__ = ["EndpointHandler"]
'''


def spec() -> CloudSpec:
    return CloudSpec(
        cloud="vertex",
        code_folder="model",
        entry_name="handler.py",
        entry_source=ENTRY,
        image=IMAGE,
        image_note="Hugging Face PyTorch inference DLC for Vertex AI, CUDA 12.1, py311",
        env={"HF_HUB_OFFLINE": "1"},
        port=8080,
        health_route="/health",
        predict_route="/predict",
        limits=[
            CloudLimit(
                name="shared",
                max_request_bytes=1_500_000,
                max_response_bytes=1_500_000,
                timeout_s=60,
            ),
            CloudLimit(
                name="dedicated",
                max_request_bytes=10_000_000,
                max_response_bytes=10_000_000,
                timeout_s=3600,
            ),
        ],
    )
