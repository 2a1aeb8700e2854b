"""SageMaker: the package's ``model/`` is uploaded as an uncompressed S3 prefix
(ModelDataSource S3DataType=S3Prefix, CompressionType=None) that SageMaker places at
/opt/ml/model; the runtime image is started as ``<image> serve``. ``model.tar.gz`` is
written only when asked, for the classic ModelDataUrl path."""

from __future__ import annotations

import gzip
import tarfile
from dataclasses import asdict
from pathlib import Path

from model_packages.layout import FIXED_MTIME
from model_packages.manifest import CloudLimit
from model_packages.spec import CloudSpec, served_as
from scoring.server.contracts import sagemaker as contract


def spec() -> CloudSpec:
    return CloudSpec(
        cloud="sagemaker",
        contract=contract.NAME,
        **served_as(contract.contract(["serve"], {})),
        args=list(contract.DESCRIPTOR.args),
        limits=[CloudLimit(**asdict(limit)) for limit in contract.DESCRIPTOR.limits],
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
