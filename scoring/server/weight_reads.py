"""Read each weight file once: hash it in a thread while the heavy imports run, keep the
bytes, and hand those same bytes to safetensors when the library loads the file.

Verifying and then loading used to read every weight twice, one after the other, and
only after torch and diffusers had imported. Here every listed file is read and hashed on
a small thread pool (hashlib and file reads release the GIL) from the moment the package's
list is known; the loader waits for all of them before any module loads, so no weight that
fails its hash is ever used, and the error names the file relative to the model folder.
While the engine loads, ``safetensors.torch.load_file`` (diffusers' reader for every
diffusers module, LoRA and shard) is served from the verified bytes, as tensors that are
views of them (no copy), and transformers modules get their state dict the same way
(``scoring.checkpoint.PRELOADED``). A file a library opens by another route (a sharded
transformers checkpoint) was verified all the same, and is read again from the page cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scoring.errors import ModelNotReady

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
KEPT = (".safetensors",)  # the files a loader asks safetensors for; others are only hashed


def check_present(model_dir: Path, files: tuple[dict[str, Any], ...]) -> None:
    """Missing and wrong-sized files fail before a byte is read (a stat each)."""
    for entry in files:
        path = model_dir / entry["path"]
        if not path.is_file():
            raise ModelNotReady(f"weights: {entry['path']} is missing from {model_dir}")
        size = path.stat().st_size
        if size != entry["size"]:
            raise ModelNotReady(
                f"weights: {entry['path']} has {size} bytes, the package says {entry['size']}"
            )


def read_and_hash(path: Path, size: int, rel: str) -> tuple[str, Any]:
    """The file's sha256 and its bytes, from one pass over it: a thread hashes each chunk
    as soon as it has landed in the buffer the tensors will then be views of, so reading
    and hashing a large file take the longer of the two, not their sum. The buffer is
    left uninitialised (numpy ``empty``): every byte of it is then read from the file."""
    import numpy as np

    digest = hashlib.sha256()
    data = np.empty(size, dtype=np.uint8)
    view = memoryview(data)
    landed: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()

    def hash_landed() -> None:
        while (part := landed.get()) is not None:
            digest.update(view[part[0] : part[1]])

    hasher = threading.Thread(target=hash_landed, name="verify-hash", daemon=True)
    hasher.start()
    done = 0
    try:
        with path.open("rb", buffering=0) as fh:
            while done < size and (n := fh.readinto(view[done : done + CHUNK])):
                landed.put((done, done + n))
                done += n
            grew = bool(fh.read(1))
    finally:
        landed.put(None)
        hasher.join()
    if done != size or grew:
        raise ModelNotReady(f"weights: {rel} changed size while it was read")
    return digest.hexdigest(), data


def tensors_from(data) -> dict[str, Any]:
    """A safetensors file's tensors as views of its verified bytes (no copy): the format
    is an 8-byte header length, a JSON header of dtype, shape and byte offsets, then the
    data (https://github.com/huggingface/safetensors#format). A dtype this does not know
    goes through ``safetensors.torch.load``, which copies."""
    import torch

    dtypes = {
        "F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
        "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
        "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    }  # fmt: skip
    length = int.from_bytes(bytes(data[:8]), "little")
    header = json.loads(bytes(data[8 : 8 + length]))
    header.pop("__metadata__", None)
    if any(entry["dtype"] not in dtypes for entry in header.values()):
        import safetensors.torch

        return safetensors.torch.load(bytes(data))
    tensors = {}
    for name, entry in header.items():
        dtype = dtypes[entry["dtype"]]
        start, end = entry["data_offsets"]
        count = (end - start) // dtype.itemsize
        flat = (
            torch.frombuffer(data, dtype=dtype, count=count, offset=8 + length + start)
            if count
            else torch.empty(0, dtype=dtype)
        )
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def hash_streamed(path: Path) -> str:
    """The sha256 of a file that is not kept, in chunks (no whole copy in memory)."""
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class VerifiedReads:
    """The listed files of one package, read and hashed in parallel; ``wait`` raises for
    the first file that failed, ``serving`` lends the verified bytes to safetensors.
    ``files``: ``PackageInfo.files``, whose paths ``PackageInfo.read`` already checked
    to be relative and inside the folder."""

    def __init__(
        self, model_dir: Path, files: tuple[dict[str, Any], ...], *, keep: bool = True
    ) -> None:
        check_present(model_dir, files)
        self.model_dir = model_dir
        self.keep = keep
        self.started = time.monotonic()
        self.finished = self.started
        self._bytes: dict[str, Any] = {}
        self._closed = False  # after a failure or the load: a late read keeps nothing
        self._lock = threading.Lock()
        workers = max(1, min(4, os.cpu_count() or 1, len(files)))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="verify")
        # largest first: the longest hash starts at once, the small ones fill in around it
        ordered = sorted(files, key=lambda e: -int(e["size"]))
        self._jobs: list[tuple[str, Future]] = [
            (
                str(e["path"]),
                self._pool.submit(self._one, model_dir / e["path"], e),
            )
            for e in ordered
        ]
        self._pool.shutdown(wait=False)

    def _one(self, path: Path, entry: dict[str, Any]) -> None:
        if self.keep and path.suffix in KEPT:
            sha, data = read_and_hash(path, int(entry["size"]), str(entry["path"]))
        else:
            sha, data = hash_streamed(path), None
        if sha != entry["sha256"]:
            raise ModelNotReady(f"weights: {entry['path']} is corrupted (sha256 mismatch)")
        with self._lock:
            self.finished = max(self.finished, time.monotonic())
            if self.keep and path.suffix in KEPT and not self._closed:
                self._bytes[os.path.realpath(path)] = data

    def wait(self) -> float:
        """Block until every file is hashed; the first failure (in list order of size)
        raises, and no bytes are kept. Returns the seconds the hashing took (from the
        first read to the last hash, whatever ran beside it)."""
        try:
            for rel, job in self._jobs:
                try:
                    job.result()
                except ModelNotReady:
                    raise
                except OSError as exc:
                    raise ModelNotReady(f"weights: cannot read {rel}: {exc}") from None
        except BaseException:
            for _rel, job in self._jobs:  # files not started are not read at all
                job.cancel()
            self.close()
            raise
        seconds = self.finished - self.started
        log.info("verified %d files in %s in %.2f s", len(self._jobs), self.model_dir, seconds)
        return seconds

    def take(self, filename: str | os.PathLike) -> Any:
        """The verified bytes of ``filename``, once: a second call reads the disk."""
        with self._lock:
            return self._bytes.pop(os.path.realpath(filename), None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._bytes.clear()

    def state_dict(self, folder: Path, variant: str | None) -> dict | None:
        """A transformers module's weights (one unsharded ``model[.variant].safetensors``)
        from the verified bytes; None where they are not held (the library reads them)."""
        name = f"model.{variant}.safetensors" if variant else "model.safetensors"
        data = self.take(folder / name)
        return None if data is None else tensors_from(data)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """While the engine loads, ``safetensors.torch.load_file`` of a verified file (how
        diffusers reads its modules, shards and LoRAs) returns views of the bytes already
        read instead of reading the file again, and transformers modules get their state dict
        from them (``scoring.checkpoint.PRELOADED``)."""
        import safetensors.torch as st

        from scoring.checkpoint import PRELOADED

        original = st.load_file

        def load_file(filename, device="cpu"):
            data = self.take(filename) if str(device) == "cpu" else None
            if data is None:
                return original(filename, device=device)
            return tensors_from(data)

        st.load_file = load_file
        token = PRELOADED.set(self.state_dict)
        try:
            yield
        finally:
            PRELOADED.reset(token)
            st.load_file = original
            self.close()
