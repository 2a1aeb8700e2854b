"""Build one package per cloud from a staged model, and its manifest.json."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import scoring
from model_packages import azureml, sagemaker, vertex
from model_packages.layout import list_tree, write_code, write_file
from model_packages.manifest import (
    CodeSection,
    Manifest,
    ModelSection,
    ServingSection,
    WeightsSection,
)
from model_packages.spec import CloudSpec
from model_packages.staging import StagedModel, place, tree_digest

CLOUDS = ("sagemaker", "vertex", "azureml")


def spec_for(cloud: str) -> CloudSpec:
    return {"sagemaker": sagemaker.spec, "vertex": vertex.spec, "azureml": azureml.spec}[cloud]()


def build_package(staged: StagedModel, cloud: str, out: Path, tarball: bool = False) -> Manifest:
    """Write ``out/<cloud>/``; built aside and swapped in, so a failure keeps the old one."""
    spec = spec_for(cloud)
    out.mkdir(parents=True, exist_ok=True)
    final = out / cloud
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{cloud}-") as tmp:
        pkg = Path(tmp) / cloud
        weights = pkg / spec.weights_folder
        place(staged, weights)
        code = pkg / spec.code_folder
        write_code(code, spec.entry_name, spec.entry_source, staged)
        for rel, text in spec.extra_files.items():
            write_file(pkg / rel, text.encode())
        # hash only what was just written: the weights were hashed once, while staged
        weight_paths = {f.path for f in staged.files} if code == weights else set()
        code_files = list_tree(code, skip=weight_paths)
        serving_tree = list(staged.files)
        if code.is_relative_to(weights):  # SageMaker and Vertex: code inside the tree
            inside = code.relative_to(weights).as_posix()
            serving_tree += [
                f.model_copy(update={"path": f"{inside}/{f.path}".lstrip("./")})
                if inside != "."
                else f
                for f in code_files
            ]
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
            ),
            weights=WeightsSection(
                folder=spec.weights_folder,
                key_prefix=f"models/{tree_digest(serving_tree)}/",
            ),
            code=CodeSection(
                folder=spec.code_folder, digest=tree_digest(code_files), files=code_files
            ),
            serving=ServingSection(
                image=spec.image,
                image_note=spec.image_note,
                env={
                    **spec.env,
                    "GENAI_MODEL_ID": staged.model_id,
                    "GENAI_MODEL_REVISION": staged.revision,
                },
                port=spec.port,
                health_route=spec.health_route,
                predict_route=spec.predict_route,
                requirements=[line for line in (code / "requirements.txt").read_text().split()],
                needs_egress=cloud != "azureml",
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
