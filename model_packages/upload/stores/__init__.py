"""One store class per cloud, and :func:`store_for` that picks it for a destination.

Every store answers :class:`ObjectStore` (what the uploader needs: ``head``, a verified
``put``) and :class:`BytesStore` (what the client's output cache needs: ``get_bytes``,
``put_bytes``). A new cloud is one module here and one branch in :func:`store_for`.
"""

from __future__ import annotations

from model_packages.upload.destinations import Destination
from model_packages.upload.stores.azure import AzureBlobStore, AzureMLDatastore
from model_packages.upload.stores.base import (
    CHUNK_SIZE,
    MAX_CONCURRENCY,
    MULTIPART_THRESHOLD,
    READ_CHUNK,
    BytesStore,
    HashingStore,
    ObjectStore,
    ProgressCallback,
    RemoteObject,
)
from model_packages.upload.stores.gcs import GCSStore
from model_packages.upload.stores.s3 import S3Store

__all__ = [
    "CHUNK_SIZE",
    "MAX_CONCURRENCY",
    "MULTIPART_THRESHOLD",
    "READ_CHUNK",
    "AzureBlobStore",
    "AzureMLDatastore",
    "BytesStore",
    "GCSStore",
    "HashingStore",
    "ObjectStore",
    "ProgressCallback",
    "RemoteObject",
    "S3Store",
    "store_for",
]


def store_for(destination: Destination) -> S3Store | GCSStore | AzureBlobStore:
    """The store for a destination, with credentials from the SDK's default chain (for
    ``az://``, ``AZURE_STORAGE_CONNECTION_STRING`` first). An ``azureml://`` destination is
    resolved to its container here (one management call)."""
    if destination.scheme == "s3":
        return S3Store(destination.bucket)
    if destination.scheme == "gs":
        return GCSStore(destination.bucket)
    if destination.scheme == "az":
        assert destination.account
        return AzureBlobStore.for_container(
            destination.account, destination.bucket, destination.account_url
        )
    assert destination.subscription and destination.resource_group and destination.workspace
    datastore = AzureMLDatastore(
        destination.subscription,
        destination.resource_group,
        destination.workspace,
        destination.bucket,
    )
    return datastore.store()
