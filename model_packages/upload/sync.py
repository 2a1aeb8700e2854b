"""Sync a plan to a store: skip what is there, send the rest verified, report what happened.

An object is skipped when it already exists with the same sha256 and size (a HEAD or
metadata read; nothing is downloaded); an existing object whose size or sha256 differs is
uploaded again and listed in ``UploadReport.replaced``. That trusts the object's ``sha256``
metadata, which is fast and right unless someone changed the bytes behind it; with
``verify=True`` (``upload --verify``) each object that would be skipped is read back,
streamed, and re-hashed, and one whose bytes differ is replaced too. Nothing is lost or
half-written on failure: each store makes an object visible only once complete, and the
manifest goes last.

Progress is reported, never drawn: the caller passes an :class:`UploadProgress` (the
``upload`` command draws a bar on the terminal, the weights step of ``pulumi up`` logs
tenths), so the library holds no console code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol, runtime_checkable

from model_packages.upload.destinations import Destination, parse_destination
from model_packages.upload.errors import PackageError, UploadError
from model_packages.upload.plan import plan_upload, read_package_manifest
from model_packages.upload.stores import HashingStore, ObjectStore, ProgressCallback, store_for

SyncStatus = Literal["skipped", "uploaded", "replaced"]


@runtime_checkable
class UploadProgress(Protocol):
    """What an upload tells whoever shows its progress. :class:`NoProgress` does nothing
    for each; a reporter that shows only some of it subclasses that. ``sent`` may be called
    from the SDK's worker threads."""

    def begin(self, files: int, total_bytes: int) -> None:
        """Before the first file: how many files and bytes the upload covers."""

    def file(self, key: str, size: int) -> None:
        """Before ``key`` (a full object key) is checked and, if need be, sent."""

    def sent(self, n: int) -> None:
        """``n`` bytes just sent (negative when the SDK rewinds for a retry)."""

    def synced(self, key: str, status: SyncStatus, size: int) -> None:
        """``key`` is in the store: skipped, uploaded or replaced."""

    def end(self) -> None:
        """After the last file, when every file is in the store."""


class NoProgress:
    """An :class:`UploadProgress` that reports nowhere (the default)."""

    def begin(self, files: int, total_bytes: int) -> None:
        pass

    def file(self, key: str, size: int) -> None:
        pass

    def sent(self, n: int) -> None:
        pass

    def synced(self, key: str, status: SyncStatus, size: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class UploadReport:
    uploaded_files: int
    uploaded_bytes: int
    skipped_files: int
    skipped_bytes: int
    replaced: list[str] = field(default_factory=list)
    """Keys that existed with another size or sha256 (or, verified, other bytes) and were
    uploaded again."""
    verified_files: int = 0
    """Skipped objects whose bytes were read back and re-hashed (``verify=True``)."""
    verified_bytes: int = 0
    weights_uri: str = ""
    """The weights folder (``.../models/<digest>/``): what infra is given."""
    manifest_uri: str = ""
    uploaded_keys: list[str] = field(default_factory=list)


def upload_package(
    package_dir: Path,
    destination: Destination | str,
    store: ObjectStore | None = None,
    progress: UploadProgress | None = None,
    *,
    verify: bool = False,
) -> UploadReport:
    """Upload a package (the model folder, manifest last), skipping objects already present
    with the same size and sha256 (``verify``: and the same bytes, re-hashed). Raises
    :class:`UploadError` for a user's problem."""
    dest = parse_destination(destination) if isinstance(destination, str) else destination
    package_dir = Path(package_dir)
    manifest = read_package_manifest(package_dir)
    items = plan_upload(package_dir)
    store = store if store is not None else store_for(dest)
    progress = progress if progress is not None else NoProgress()

    tally = _Tally(verify=_check_verifiable(store, verify))
    progress.begin(len(items), sum(item.size for item in items))
    for item in items:
        key = dest.key(item.key)
        progress.file(key, item.size)
        status = _sync_one(
            store, key, item.local_path, item.sha256, item.size, progress.sent, tally
        )
        progress.synced(key, status, item.size)
    progress.end()

    return tally.report(
        weights_uri=dest.uri(manifest.weights.key_prefix.strip("/") + "/"),
        manifest_uri=dest.uri(items[-1].key),
    )


def upload_files(
    folder: Path,
    files: list[tuple[str, str, int]],
    key_prefix: str,
    store: ObjectStore,
    *,
    progress: UploadProgress | None = None,
    verify: bool = False,
) -> UploadReport:
    """Upload ``files`` — ``(path, sha256, size)`` below ``folder`` — to ``key_prefix`` in
    ``store``, skipping each object already there with the same size and sha256.

    This is what ``pulumi up`` runs for a package's weights folder (infra's upload step gets
    the manifest's file list, never the bytes). A file that must be uploaded is read through
    :class:`~model_packages.upload.reading.VerifiedReader`, so bytes that do not match the
    list never become an object. A file missing locally is fine when its object is already
    in the store. ``verify``: as for :func:`upload_package`.
    """
    folder = Path(folder)
    prefix = key_prefix.strip("/")
    progress = progress if progress is not None else NoProgress()
    tally = _Tally(verify=_check_verifiable(store, verify))
    progress.begin(len(files), sum(size for _, _, size in files))
    for path, sha256, size in sorted(files):
        if not path or PurePosixPath(path).is_absolute() or ".." in path.split("/"):
            raise PackageError(f"{path!r} is not a plain relative path")
        key = f"{prefix}/{path}" if prefix else path
        progress.file(key, size)
        status = _sync_one(store, key, folder / path, sha256, size, progress.sent, tally)
        progress.synced(key, status, size)
    progress.end()
    return tally.report()


def _check_verifiable(store: ObjectStore, verify: bool) -> bool:
    if verify and not isinstance(store, HashingStore):
        raise UploadError(f"{type(store).__name__} cannot read its objects back to verify them")
    return verify


@dataclass
class _Tally:
    """What one upload skipped, verified, sent and replaced, so far."""

    verify: bool = False
    verified_files: int = 0
    verified_bytes: int = 0
    uploaded_files: int = 0
    uploaded_bytes: int = 0
    skipped_files: int = 0
    skipped_bytes: int = 0
    replaced: list[str] = field(default_factory=list)
    uploaded_keys: list[str] = field(default_factory=list)

    def report(self, **uris: str) -> UploadReport:
        return UploadReport(
            uploaded_files=self.uploaded_files,
            uploaded_bytes=self.uploaded_bytes,
            skipped_files=self.skipped_files,
            skipped_bytes=self.skipped_bytes,
            replaced=self.replaced,
            verified_files=self.verified_files,
            verified_bytes=self.verified_bytes,
            uploaded_keys=self.uploaded_keys,
            **uris,
        )


def _sync_one(
    store: ObjectStore,
    key: str,
    local: Path,
    sha256: str,
    size: int,
    sent: ProgressCallback,
    tally: _Tally,
) -> SyncStatus:
    """Put ``local`` at ``key`` unless an object with the same size and sha256 is there
    (``tally.verify``: and its bytes hash to that sha256); returns "skipped", "uploaded" or
    "replaced". A file that must be sent but is not on disk is a :class:`PackageError` (a
    skipped one need not exist locally)."""
    sha256 = sha256.lower()
    remote = store.head(key)
    same = remote is not None and remote.size == size and remote.sha256 == sha256
    if same and (not tally.verify or _bytes_match(store, key, sha256, size, tally)):
        tally.skipped_files += 1
        tally.skipped_bytes += size
        return "skipped"
    if not local.is_file():
        raise PackageError(
            f"{local}: not in the folder and not yet at {key!r}; rebuild the package "
            "(or run from the machine that built it)"
        )
    store.put(key, local, sha256, size, sent)
    tally.uploaded_files += 1
    tally.uploaded_bytes += size
    tally.uploaded_keys.append(key)
    if remote is not None:
        tally.replaced.append(key)
        return "replaced"
    return "uploaded"


def _bytes_match(store: ObjectStore, key: str, sha256: str, size: int, tally: _Tally) -> bool:
    """Re-hash the object's bytes (streamed); counts it as verified when they match."""
    assert isinstance(store, HashingStore)
    if store.stream_sha256(key) != sha256:
        return False
    tally.verified_files += 1
    tally.verified_bytes += size
    return True
