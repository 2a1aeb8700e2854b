"""SageMaker package: the Hugging Face PyTorch inference container's layout.

``model/`` is what SageMaker puts at /opt/ml/model: the weights, and ``code/`` with
``inference.py``, the engine and ``requirements.txt`` (the toolkit pip-installs it at
start, which needs egress unless the image already has the pins). It is meant for an
uncompressed S3 prefix (ModelDataSource S3DataType=S3Prefix, CompressionType=None);
``model.tar.gz`` is written only when asked.
"""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

from model_packages.layout import FIXED_MTIME
from model_packages.manifest import CloudLimit
from model_packages.spec import CloudSpec

# The image pin: resolved through the sagemaker SDK, for this region and framework versions.
HF_TRANSFORMERS_VERSION = "4.51.3"
HF_PYTORCH_VERSION = "2.6.0"
HF_PY_VERSION = "py312"
DEFAULT_REGION = "us-east-1"

ENTRY = '''"""SageMaker entry point: the toolkit calls these four functions."""

from scoring.adapters.sagemaker import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
'''


def serving_image(region: str = DEFAULT_REGION) -> str:
    from sagemaker.core import image_uris

    return image_uris.retrieve(
        "huggingface",
        region=region,
        version=HF_TRANSFORMERS_VERSION,
        base_framework_version=f"pytorch{HF_PYTORCH_VERSION}",
        py_version=HF_PY_VERSION,
        instance_type="ml.g5.xlarge",
        image_scope="inference",
    )


def spec(region: str = DEFAULT_REGION) -> CloudSpec:
    return CloudSpec(
        cloud="sagemaker",
        code_folder="model/code",
        entry_name="inference.py",
        entry_source=ENTRY,
        image=serving_image(region),
        image_note=(
            f"Hugging Face PyTorch inference DLC, transformers {HF_TRANSFORMERS_VERSION}, "
            f"PyTorch {HF_PYTORCH_VERSION}, {HF_PY_VERSION}, GPU, {region}; resolved with "
            "sagemaker.core.image_uris"
        ),
        env={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"},
        port=8080,
        health_route="/ping",
        predict_route="/invocations",
        limits=[
            CloudLimit(
                name="realtime",
                max_request_bytes=6_000_000,
                max_response_bytes=6_000_000,
                timeout_s=60,
            ),
            CloudLimit(
                name="async",
                max_request_bytes=1_000_000_000,
                max_response_bytes=None,
                timeout_s=3600,
            ),
        ],
    )


def write_tarball(model_dir: Path, out: Path) -> None:
    """model.tar.gz for the classic SageMaker path: sorted entries, fixed times, owners
    and a gzip header with no timestamp or file name, so a rebuild is byte-identical."""
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(model_dir.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(model_dir).as_posix())
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
