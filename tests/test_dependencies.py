"""The pinned set must import: a lock that resolves but can't import is a broken lock."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "azure.ai.ml",
        "azure.storage.blob",
        "google.cloud.storage",
        "boto3",
        "sagemaker.core.image_uris",
        "pulumi_aws.sagemaker",
        "pulumi_gcp.vertex",
        "pulumi_azure_native.machinelearningservices",
        "uvicorn",
        "starlette",
        "diffusers",
        "imageio_ffmpeg",
    ],
)
def test_core_and_serving_modules_import(module):
    importlib.import_module(module)
