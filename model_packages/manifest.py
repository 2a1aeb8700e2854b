"""``manifest.json``: what a package holds and was built for, read by ``infra`` as data.

The infra layer never imports this module (it parses the JSON with its own reader), so
this schema is the contract between the two: add fields freely, never repurpose one, and
bump ``schema_version`` for a change a reader must know about.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
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


class WeightsSection(_Strict):
    folder: str = Field(description="the weights folder inside the package, e.g. 'model'")
    key_prefix: str = Field(
        description="where `genai-endpoints upload` puts the weights in the bucket: "
        "'models/<digest>/'. Uploaded once, referenced by infra, never archived by Pulumi."
    )


class CodeSection(_Strict):
    folder: str = Field(description="the small code folder inside the package, e.g. 'code'")
    digest: str
    files: list[FileEntry]


class ServingSection(_Strict):
    image: str = Field(description="pinned serving container image URI for this cloud")
    image_note: str = ""
    env: dict[str, str] = Field(description="environment the container must be given")
    port: int
    health_route: str
    predict_route: str
    requirements: list[str] = Field(description="pip pins installed at container start")
    needs_egress: bool = Field(description="True if container start downloads packages")


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
    code: CodeSection
    serving: ServingSection
    limits: list[CloudLimit]
