"""One bucket on each real storage emulator (moto server, fake-gcs-server, Azurite), seen
through the cloud's own SDK: what the upload tests need to set up a bucket, damage an object
and look for leftovers, whatever the cloud."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.emulators import AZURITE_ACCOUNT, Emulator, unique_name


@dataclass
class Bucket:
    """A fresh bucket (container) on one emulator. ``url`` is the ``--to`` URL of its root;
    use it (and the project's stores) inside :meth:`environment`."""

    cloud: str  # s3 | gs | az
    emulator: Emulator
    name: str

    @property
    def url(self) -> str:
        if self.cloud == "az":
            return f"az://{AZURITE_ACCOUNT}/{self.name}"
        return f"{self.cloud}://{self.name}"

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        with self.emulator.environment():
            yield

    def env(self) -> dict[str, str]:
        """The environment of a child process that talks to this emulator."""
        return {**os.environ, **self.emulator.env}

    # the cloud's own SDK, over the emulator ---------------------------------------------
    def _sdk(self) -> Any:
        with self.environment():
            if self.cloud == "s3":
                import boto3

                return boto3.session.Session().client("s3")  # not the default session
            if self.cloud == "gs":
                from google.cloud import storage

                return storage.Client().bucket(self.name)
            from azure.storage.blob import ContainerClient

            return ContainerClient.from_connection_string(
                os.environ["AZURE_STORAGE_CONNECTION_STRING"], self.name
            )

    def create(self) -> Bucket:
        sdk = self._sdk()
        if self.cloud == "s3":
            sdk.create_bucket(Bucket=self.name)
        elif self.cloud == "gs":
            sdk.client.create_bucket(self.name)
        else:
            sdk.create_container()
        return self

    def objects(self) -> dict[str, bytes]:
        """Every complete object in the bucket, with its bytes."""
        sdk = self._sdk()
        if self.cloud == "s3":
            listed = sdk.list_objects_v2(Bucket=self.name).get("Contents", [])
            return {
                o["Key"]: sdk.get_object(Bucket=self.name, Key=o["Key"])["Body"].read()
                for o in listed
            }
        if self.cloud == "gs":
            return {b.name: b.download_as_bytes() for b in sdk.client.list_blobs(self.name)}
        return {b.name: sdk.download_blob(b.name).readall() for b in sdk.list_blobs()}

    def write(self, key: str, data: bytes, sha256: str | None = None) -> None:
        """Put an object as another tool would, with ``sha256`` metadata (default: the
        data's own digest)."""
        metadata = {"sha256": sha256 or hashlib.sha256(data).hexdigest()}
        sdk = self._sdk()
        if self.cloud == "s3":
            sdk.put_object(Bucket=self.name, Key=key, Body=data, Metadata=metadata)
        elif self.cloud == "gs":
            blob = sdk.blob(key)
            blob.metadata = metadata
            blob.upload_from_string(data)
        else:
            sdk.upload_blob(key, data, overwrite=True, metadata=metadata)

    def unfinished(self) -> list[str]:
        """Uploads begun and never finished that the store keeps: S3's multipart uploads,
        Azure's uncommitted blocks (GCS keeps none that a client can list: a resumable
        session that is never finalized makes no object)."""
        sdk = self._sdk()
        if self.cloud == "s3":
            uploads = sdk.list_multipart_uploads(Bucket=self.name).get("Uploads", [])
            return [u["Key"] for u in uploads]
        if self.cloud == "az":
            blobs = sdk.list_blobs(include=["uncommittedblobs"])
            committed = set(self.objects())
            return [b.name for b in blobs if b.name not in committed]
        return []


def new_bucket(cloud: str, emulator: Emulator) -> Bucket:
    return Bucket(cloud, emulator, unique_name()).create()
