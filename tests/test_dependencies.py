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
        "azureml_inference_server_http",
        "diffusers",
        "imageio_ffmpeg",
    ],
)
def test_core_and_serving_modules_import(module):
    importlib.import_module(module)


def test_sagemaker_image_resolves_offline():
    from model_packages.sagemaker import serving_image

    assert serving_image("eu-west-1").startswith("763104351884.dkr.ecr.eu-west-1.amazonaws.com/")
