"""``manifest.json``: what a package holds and was built for, read by ``infra`` as data.

Version 2: the package is data only (weights and their file list); the scoring code and
server live in the runtime image, which ``runtime`` says how to build and start.

The infra layer never imports this module (it parses the JSON with its own reader), so
this schema is the contract between the two: add fields freely, never repurpose one, and
bump ``schema_version`` for a change a reader must know about.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 2
Cloud = Literal["sagemaker", "vertex", "azureml"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    path: str = Field(description="POSIX path relative to the weights (or code) folder")
    sha256: str
    size: int


class ModelSection(_Strict):
    id: str = Field(description="Hub id (org/name) or, for a local folder, its name")
    revision: str = Field(description="Hub commit sha; for a local folder, 'local-' + digest")
    digest: str = Field(description="sha256 of the sorted file list: the model's content address")
    size_bytes: int
    tasks: list[str]
    files: list[FileEntry]
    variant: str | None = Field(None, description="weight variant loaded, e.g. 'fp16'")
    family: str | None = Field(None, description="model family, from model_index.json")
    loras: list[str] = Field(
        default_factory=list, description="LoRA adapters shipped: weights loras/<name>.safetensors"
    )
    safety_checker: bool = Field(
        False, description="a safety checker is shipped (weights safety/), for GENAI_SAFETY"
    )
    deny_terms: int = Field(0, description="prompt deny-list terms in safety/deny_terms.txt")


class WeightsSection(_Strict):
    folder: str = Field(description="the folder inside the package that is uploaded: 'model'")
    key_prefix: str = Field(
        description="where the folder goes in the bucket: 'models/<digest>/'. Uploaded once, "
        "content-addressed, referenced by infra, never archived by Pulumi."
    )
    digest: str = Field(description="sha256 of the folder's sorted file list")
    size_bytes: int
    files: list[FileEntry] = Field(description="every file in the folder, with its sha256")


class RuntimeSection(_Strict):
    """How this cloud runs the one runtime image (built from ``dockerfile``) on the folder."""

    dockerfile: str = Field(description="the runtime image's Dockerfile, from the project root")
    lock: str = Field(description="the serving lock the image installs, from the project root")
    lock_sha256: str = Field(description="sha256 of that lock when the package was built")
    contract: str = Field(description="the server contract: sagemaker, vertex or azureml")
    env: dict[str, str] = Field(description="environment the container must be given")
    port: int
    health_route: str
    readiness_route: str
    predict_route: str
    args: list[str] = Field(description="arguments the cloud passes to the image")
    needs_egress: bool = Field(False, description="always false: nothing installs at start")


class CloudLimit(_Strict):
    name: str = Field(description="e.g. 'realtime', 'async', 'shared', 'dedicated', 'managed'")
    max_request_bytes: int
    max_response_bytes: int | None
    timeout_s: int


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    cloud: Cloud
    engine_version: str
    model: ModelSection
    weights: WeightsSection
    runtime: RuntimeSection
    limits: list[CloudLimit]
