"""A content-addressed cache of generated outputs.

Key = sha256 of (target identity, model id, model revision, the canonical request incl. its
seed). A request without a seed is never cached (its output is random by design), nor is a
target whose model revision is unknown or that drops the seed. Blobs are stored once under
their own sha256 and checked on read; an entry (JSON) is written after its blobs, so a
half-written entry is never served. Locations: a local folder (default), or a bucket named
as ``genai-endpoints upload`` names one (``s3://BUCKET/PREFIX``, ``gs://BUCKET/PREFIX``, a
blob container ``az://ACCOUNT/CONTAINER/PREFIX`` or its https URL, or an Azure ML datastore
URI ``azureml://subscriptions/…/datastores/NAME/paths/PREFIX``),
through the same store classes (``model_packages.upload.stores``) and each SDK's default
credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from genai_endpoints.client.errors import ConfigError
from genai_endpoints.client.transports.base import Answer, Output, Transport
from scoring.schema import GenerationRequest

if TYPE_CHECKING:
    from model_packages.upload import BytesStore, Destination

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


class BucketStore:
    """A cache in a bucket: each ``name`` is an object below the location's prefix, read and
    written through that cloud's store from ``model_packages.upload`` (the stores and URL
    forms that ``genai-endpoints upload`` uses), opened on first use."""

    def __init__(self, destination: Destination, objects: BytesStore | None = None) -> None:
        self.destination = destination
        self.location = destination.uri()
        self._objects = objects

    @property
    def objects(self) -> BytesStore:
        if self._objects is None:
            from model_packages.upload import store_for

            self._objects = store_for(self.destination)
        return self._objects

    def read(self, name: str) -> bytes | None:
        return self.objects.get_bytes(self.destination.key(name))

    def write(self, name: str, data: bytes) -> None:
        self.objects.put_bytes(self.destination.key(name), data)


def open_store(location: str) -> Store:
    """A store for a folder path, or for a bucket URL in one of the forms ``upload`` takes:
    ``s3://``, ``gs://``, ``az://`` or ``https://`` blob containers, ``azureml://`` datastores."""
    _, sep, _ = location.partition("://")
    if not sep:
        return LocalStore(Path(location).expanduser())
    from model_packages.upload import DestinationError, parse_destination

    try:
        return BucketStore(parse_destination(location))
    except DestinationError as exc:  # names the URL, what is wrong and every accepted form
        raise ConfigError(f"cache: {exc.message}; or a folder") from None


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


@dataclass
class CacheStats:
    """What this cache did since it was opened. ``damaged``: reads that found an entry whose
    blob was missing or did not match its sha256, or whose JSON was unreadable (each is a
    miss); ``healed``: writes that replaced such damaged data with the live answer."""

    hits: int = 0
    misses: int = 0
    damaged: int = 0
    healed: int = 0


class Cache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.stats = CacheStats()
        self._damaged: dict[str, str] = {}  # key → why its entry was a miss, until healed

    @classmethod
    def at(cls, location: str) -> Cache:
        return cls(open_store(location))

    def get(self, key: str) -> CachedAnswer | None:
        """The entry, or None: absent, or damaged (counted, and rewritten by the next
        :meth:`put` of this key)."""
        found, damage = self._read(key)
        if found is not None:
            self.stats.hits += 1
            self._damaged.pop(key, None)
            return found
        self.stats.misses += 1
        if damage:
            self.stats.damaged += 1
            self._damaged[key] = damage
        return None

    def damage(self, key: str) -> str:
        """Why the last :meth:`get` of ``key`` was a miss on a damaged entry ("" if not)."""
        return self._damaged.get(key, "")

    def _read(self, key: str) -> tuple[CachedAnswer | None, str]:
        """(the entry, "") or (None, what was damaged; "" when simply absent)."""
        raw = self.store.read(_entry_name(key))
        if raw is None:
            return None, ""
        try:
            entry = json.loads(raw)
            outputs = []
            for out in entry["outputs"]:
                data = self.store.read(_blob_name(out["sha256"]))
                if data is None:
                    return None, f"blob {out['sha256'][:12]} missing"
                if hashlib.sha256(data).hexdigest() != out["sha256"]:
                    # never wrong bytes: a miss, healed by the next put
                    return None, f"blob {out['sha256'][:12]} does not match its sha256"
                outputs.append(Output(data, out["content_type"], out.get("seed")))
        except (ValueError, KeyError, TypeError):
            return None, "entry unreadable"
        answer = Answer(
            outputs, entry.get("model_id"), entry.get("model_revision"), entry.get("server_s")
        )
        return CachedAnswer(answer, float(entry.get("created", 0))), ""

    def put(self, key: str, transport: Transport, req: GenerationRequest, answer: Answer) -> bool:
        """Store ``answer`` under ``key``; True when this replaced damaged data. A blob is
        written unless one with the right bytes is there: a damaged or missing blob is
        rewritten, never trusted because its name exists."""
        healed = self._damaged.pop(key, "") != ""
        outputs = []
        for out in answer.outputs:
            digest = hashlib.sha256(out.data).hexdigest()
            name = _blob_name(digest)
            present = self.store.read(name)
            if present is None or hashlib.sha256(present).hexdigest() != digest:
                healed = healed or present is not None
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
        self.store.write(_entry_name(key), json.dumps(entry, indent=1).encode())
        self.stats.healed += healed
        return healed


def _readable(request: dict) -> dict:
    """The request as stored in an entry: input images by digest, not by content."""
    for name in ("image", "mask"):
        if name in request:
            request[name] = "sha256:" + hashlib.sha256(request[name].encode()).hexdigest()
    return request


def _entry_name(key: str) -> str:
    return f"entries/{key[:2]}/{key}.json"


def _blob_name(digest: str) -> str:
    return f"blobs/{digest[:2]}/{digest}"
