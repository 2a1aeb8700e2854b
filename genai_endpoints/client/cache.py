"""A content-addressed cache of generated outputs.

Key = sha256 of (target identity, model id, model revision, the canonical request incl. its
seed). A request without a seed is never cached (its output is random by design), nor is a
target whose model revision is unknown or that drops the seed. Blobs are stored once under
their own sha256 and checked on read; an entry (JSON) is written after its blobs, so a
half-written entry is never served. Locations: a local folder (default), ``s3://bucket/prefix``,
``gs://bucket/prefix`` or ``az://account/container/prefix`` through each cloud's SDK and
default credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from genai_endpoints.client.errors import ConfigError
from genai_endpoints.client.transports.base import Answer, Output, Transport
from scoring.schema import GenerationRequest

CACHE_VERSION = 1


class Store(Protocol):
    location: str

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


class S3Store:
    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3

        self.bucket, self.prefix = bucket, prefix
        self.location = f"s3://{bucket}/{prefix}"
        self.s3 = boto3.session.Session().client("s3")

    def read(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def write(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)


class GcsStore:
    def __init__(self, bucket: str, prefix: str) -> None:
        from google.cloud import storage

        self.prefix = prefix
        self.location = f"gs://{bucket}/{prefix}"
        self.bucket = storage.Client().bucket(bucket)

    def read(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.bucket.blob(self.prefix + name).download_as_bytes()
        except NotFound:
            return None

    def write(self, name: str, data: bytes) -> None:
        self.bucket.blob(self.prefix + name).upload_from_string(data)


class AzureBlobStore:
    def __init__(self, account: str, container: str, prefix: str) -> None:
        from azure.identity import DefaultAzureCredential
        from azure.storage.blob import BlobServiceClient

        self.prefix = prefix
        self.location = f"az://{account}/{container}/{prefix}"
        service = BlobServiceClient(
            f"https://{account}.blob.core.windows.net", credential=DefaultAzureCredential()
        )
        self.container = service.get_container_client(container)

    def read(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container.download_blob(self.prefix + name).readall()
        except ResourceNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        self.container.upload_blob(self.prefix + name, data, overwrite=True)


def open_store(location: str) -> Store:
    """A store for a folder path or an ``s3://``, ``gs://`` or ``az://`` URL."""
    scheme, sep, rest = location.partition("://")
    if not sep:
        return LocalStore(Path(location).expanduser())
    head, _, prefix = rest.partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if not head:
        raise ConfigError(f"cache: {location} names no bucket")
    if scheme == "s3":
        return S3Store(head, prefix)
    if scheme == "gs":
        return GcsStore(head, prefix)
    if scheme == "az":
        container, _, sub = prefix.partition("/")
        if not container:
            raise ConfigError("cache: az:// locations are az://ACCOUNT/CONTAINER[/PREFIX]")
        return AzureBlobStore(head, container, sub)
    raise ConfigError(f"cache: {scheme}:// is not supported; use a folder, s3://, gs:// or az://")


def canonical_request(req: GenerationRequest) -> dict:
    return req.model_dump(mode="json", exclude_none=True)


def cache_key(transport: Transport, req: GenerationRequest) -> tuple[str | None, str]:
    """The key, or None and the reason this call is not cacheable."""
    if req.seed is None:
        return None, "no seed: a random result is not cached"
    if not transport.seeded:
        return None, "this backend has no seed"
    if not transport.model_revision:
        return None, "model revision unknown (declare model_revision or package on the target)"
    material = {
        "v": CACHE_VERSION,
        "target": transport.identity,
        "model_id": transport.model_id,
        "model_revision": transport.model_revision,
        "request": canonical_request(req),
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), ""


@dataclass
class CachedAnswer:
    answer: Answer
    created: float


class Cache:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def at(cls, location: str) -> Cache:
        return cls(open_store(location))

    def get(self, key: str) -> CachedAnswer | None:
        raw = self.store.read(f"entries/{key[:2]}/{key}.json")
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            outputs = []
            for out in entry["outputs"]:
                data = self.store.read(_blob_name(out["sha256"]))
                if data is None or hashlib.sha256(data).hexdigest() != out["sha256"]:
                    return None  # a missing or damaged blob is a miss, never wrong bytes
                outputs.append(Output(data, out["content_type"], out.get("seed")))
        except (ValueError, KeyError, TypeError):
            return None
        answer = Answer(
            outputs, entry.get("model_id"), entry.get("model_revision"), entry.get("server_s")
        )
        return CachedAnswer(answer, float(entry.get("created", 0)))

    def put(self, key: str, transport: Transport, req: GenerationRequest, answer: Answer) -> None:
        outputs = []
        for out in answer.outputs:
            digest = hashlib.sha256(out.data).hexdigest()
            name = _blob_name(digest)
            if self.store.read(name) is None:
                self.store.write(name, out.data)
            outputs.append({"sha256": digest, "content_type": out.content_type, "seed": out.seed})
        entry = {
            "version": CACHE_VERSION,
            "target": transport.identity,
            "model_id": transport.model_id,
            "model_revision": transport.model_revision,
            "request": _readable(canonical_request(req)),
            "outputs": outputs,
            "server_s": answer.server_s,
            "created": time.time(),
        }
        self.store.write(f"entries/{key[:2]}/{key}.json", json.dumps(entry, indent=1).encode())


def _readable(request: dict) -> dict:
    """The request as stored in an entry: input images by digest, not by content."""
    for name in ("image", "mask"):
        if name in request:
            request[name] = "sha256:" + hashlib.sha256(request[name].encode()).hexdigest()
    return request


def _blob_name(digest: str) -> str:
    return f"blobs/{digest[:2]}/{digest}"
