"""Build one package per cloud from a staged model, and its manifest.json.

A package is data: ``model/`` holds the weights (hard links to the staged files) and
``genai_package.json``; that folder is uploaded as is under a content-addressed prefix.
The code that serves it is the runtime image's, so a code change never re-uploads weights.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import scoring
from model_packages import azureml, sagemaker, vertex
from model_packages.layout import (
    DOCKERFILE,
    PACKAGE_INFO,
    SERVE_LOCK,
    folder_files,
    lock_sha256,
    package_info,
    write_file,
)
from model_packages.manifest import (
    Manifest,
    ModelSection,
    RuntimeSection,
    WeightsSection,
)
from model_packages.spec import CloudSpec
from model_packages.staging import StagedModel, place, tree_digest

CLOUDS = ("sagemaker", "vertex", "azureml")
WEIGHTS_FOLDER = "model"


def spec_for(cloud: str) -> CloudSpec:
    return {"sagemaker": sagemaker.spec, "vertex": vertex.spec, "azureml": azureml.spec}[cloud]()


def build_package(staged: StagedModel, cloud: str, out: Path, tarball: bool = False) -> Manifest:
    """Write ``out/<cloud>/``; built aside and swapped in, so a failure keeps the old one."""
    spec = spec_for(cloud)
    out.mkdir(parents=True, exist_ok=True)
    final = out / cloud
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{cloud}-") as tmp:
        pkg = Path(tmp) / cloud
        weights = pkg / WEIGHTS_FOLDER
        place(staged, weights)
        # hash only what was just written: the weights were hashed once, while staged
        info = write_file(weights / PACKAGE_INFO, package_info(staged))
        files = sorted([*folder_files(staged), info], key=lambda f: f.path)
        digest = tree_digest(files)
        manifest = Manifest(
            cloud=cloud,
            engine_version=scoring.__version__,
            model=ModelSection(
                id=staged.model_id,
                revision=staged.revision,
                digest=staged.digest,
                size_bytes=staged.size_bytes,
                tasks=list(staged.tasks),
                files=list(staged.files),
                variant=getattr(staged, "variant", None),
                family=getattr(staged, "family", None),
                loras=list(staged.loras),
                safety_checker=staged.safety_checker,
                deny_terms=staged.deny_terms,
            ),
            weights=WeightsSection(
                folder=WEIGHTS_FOLDER,
                key_prefix=f"models/{digest}/",
                digest=digest,
                size_bytes=sum(f.size for f in files),
                files=files,
            ),
            runtime=RuntimeSection(
                dockerfile=DOCKERFILE,
                lock=SERVE_LOCK,
                lock_sha256=lock_sha256(),
                contract=spec.contract,
                env={
                    **spec.env,
                    "GENAI_CONTRACT": spec.contract,
                    "GENAI_MODEL_ID": staged.model_id,
                    "GENAI_MODEL_REVISION": staged.revision,
                },
                port=spec.port,
                health_route=spec.health_route,
                readiness_route=spec.readiness_route,
                predict_route=spec.predict_route,
                args=spec.args,
            ),
            limits=spec.limits,
        )
        text = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        write_file(pkg / "manifest.json", text.encode())
        if tarball and cloud == "sagemaker":
            sagemaker.write_tarball(weights, pkg / "model.tar.gz")
        if final.exists():
            shutil.rmtree(final)
        pkg.rename(final)
    return manifest


def build_packages(
    staged: StagedModel, clouds: list[str], out: Path, tarball: bool = False
) -> dict[str, Manifest]:
    return {cloud: build_package(staged, cloud, out, tarball) for cloud in clouds}
