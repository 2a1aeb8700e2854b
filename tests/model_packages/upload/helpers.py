"""Builders and fakes the upload tests share: a valid package folder, its expected keys, the
S3 store the tests use, and the smallest in-memory ObjectStore."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

from model_packages.manifest import Manifest
from model_packages.upload.plan import UploadItem, plan_upload
from model_packages.upload.reading import VerifiedReader
from model_packages.upload.stores.base import RemoteObject
from model_packages.upload.stores.s3 import S3Store

MiB = 1024 * 1024
THRESHOLD = 1 * MiB  # the tests' multipart threshold
PART = 5 * MiB  # S3's smallest part (moto enforces it)
BIG = "unet/diffusion_pytorch_model.safetensors"
BUCKET = "pkg-bucket"

AZ_URL = (
    "azureml://subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/rg-ml"
    "/workspaces/ws-dev/datastores/workspaceblobstore/paths/genai"
)


def _entry(rel: str, data: bytes) -> dict:
    return {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _digest(entries: list[dict]) -> str:
    lines = "\n".join(f"{e['path']} {e['sha256']} {e['size']}" for e in entries)
    return hashlib.sha256(lines.encode()).hexdigest()


def write_package(root: Path, weights: dict[str, bytes], *, cloud: str = "azureml") -> Path:
    """A package folder valid against ``Manifest``, laid out like the builders': model/
    (the weights and genai_package.json) and manifest.json; ``key_prefix`` is the digest
    of the whole model folder."""
    info = json.dumps({"files": sorted(weights)}).encode()
    folder = {**weights, "genai_package.json": info}
    for rel, data in folder.items():
        path = root / "model" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    w_entries = sorted((_entry(r, d) for r, d in weights.items()), key=lambda e: e["path"])
    f_entries = sorted((_entry(r, d) for r, d in folder.items()), key=lambda e: e["path"])
    digest, folder_digest = _digest(w_entries), _digest(f_entries)
    manifest = Manifest.model_validate(
        {
            "cloud": cloud,
            "engine_version": "0.2.0",
            "model": {
                "id": "tiny/t2i",
                "revision": "local-" + digest[:12],
                "digest": digest,
                "size_bytes": sum(e["size"] for e in w_entries),
                "tasks": ["text-to-image"],
                "files": w_entries,
            },
            "weights": {
                "folder": "model",
                "key_prefix": f"models/{folder_digest}/",
                "digest": folder_digest,
                "size_bytes": sum(e["size"] for e in f_entries),
                "files": f_entries,
            },
            "runtime": {
                "dockerfile": "runtime/Dockerfile",
                "lock": "runtime/serve.lock",
                "lock_sha256": "0" * 64,
                "contract": cloud,
                "env": {"GENAI_CONTRACT": cloud},
                "port": 5001,
                "health_route": "/",
                "readiness_route": "/ready",
                "predict_route": "/score",
                "args": [],
            },
            "limits": [
                {
                    "name": "managed",
                    "max_request_bytes": 100_000_000,
                    "max_response_bytes": None,
                    "timeout_s": 180,
                }
            ],
        }
    )
    (root / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    return root


def read_manifest(pkg: Path) -> dict:
    return json.loads((pkg / "manifest.json").read_text())


def rewrite_weight(pkg: Path, rel: str, data: bytes) -> None:
    """Change one weights file and its manifest entry, keeping the model digest/prefix."""
    (pkg / "model" / rel).write_bytes(data)
    manifest = read_manifest(pkg)
    for entry in manifest["model"]["files"] + manifest["weights"]["files"]:
        if entry["path"] == rel:
            entry.update(_entry(rel, data))
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2))


def expected_keys(pkg: Path, prefix: str = "") -> set[str]:
    m = read_manifest(pkg)
    p = f"{prefix}/" if prefix else ""
    weights = f"{p}{m['weights']['key_prefix']}"
    keys = {f"{weights}{e['path']}" for e in m["weights"]["files"]}
    keys.add(f"{p}manifests/{m['cloud']}/{m['weights']['digest']}.json")
    return keys


def item_for(pkg: Path, rel: str) -> UploadItem:
    return next(i for i in plan_upload(pkg) if i.key.endswith("/" + rel))


def prefix_of(pkg: Path) -> str:
    return read_manifest(pkg)["weights"]["key_prefix"]


def s3_store(client) -> S3Store:
    return S3Store(BUCKET, client=client, multipart_threshold=THRESHOLD, multipart_chunksize=PART)


def sent(calls: Counter[str]) -> int:
    return sum(calls[op] for op in ("PutObject", "UploadPart", "CreateMultipartUpload"))


class MemoryStore:
    """The smallest ObjectStore: what any new store must do for the uploader."""

    def __init__(self):
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.puts: list[str] = []

    def head(self, key):
        if key not in self.objects:
            return None
        data, sha = self.objects[key]
        return RemoteObject(len(data), sha)

    def put(self, key, path, sha256, size, progress_cb):
        buf = io.BytesIO()
        with VerifiedReader(path, sha256, size) as reader:
            while chunk := reader.read(64 * 1024):
                buf.write(chunk)
                progress_cb(len(chunk))
        self.objects[key] = (buf.getvalue(), sha256)
        self.puts.append(key)
