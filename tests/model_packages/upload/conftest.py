"""Fixtures of the upload tests: a package with a multipart-sized file, and S3 in moto."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.model_packages.upload.helpers import BIG, BUCKET, PART, write_package


@pytest.fixture
def weights() -> dict[str, bytes]:
    rng = __import__("random").Random(7)
    return {
        "model_index.json": b'{"_class_name": "StableDiffusionPipeline", '
        b'"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}',
        "scheduler/scheduler_config.json": b'{"num_train_timesteps": 1000}',
        "text_encoder/model.safetensors": rng.randbytes(200_000),
        "vae/diffusion_pytorch_model.safetensors": rng.randbytes(300_000),
        BIG: rng.randbytes(PART + 300_000),  # > threshold: multipart, two parts
    }


@pytest.fixture
def package(tmp_path, weights) -> Path:
    return write_package(tmp_path / "out" / "azureml", weights)


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3(aws_env):
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        calls: Counter[str] = Counter()
        client.meta.events.register(
            "before-call.s3.*", lambda model, **_: calls.update([model.name])
        )
        client.calls = calls  # type: ignore[attr-defined]
        yield client


EMULATORS = {"s3": "moto_server", "gs": "fake_gcs_server", "az": "azurite"}


@pytest.fixture(params=sorted(EMULATORS))
def bucket(request):
    """A fresh bucket on each real emulator in turn: moto server (S3), fake-gcs-server (GCS)
    and Azurite (Azure Blob, named ``az://ACCOUNT/CONTAINER``)."""
    import boto3

    from tests.model_packages.upload.emulated import new_bucket

    yield new_bucket(request.param, request.getfixturevalue(EMULATORS[request.param]))
    boto3.DEFAULT_SESSION = None  # its credentials, cached, were the emulator's
