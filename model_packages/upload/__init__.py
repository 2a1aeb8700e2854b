"""Upload a built package to S3, GCS or an Azure blob container, content-addressed.

``genai-endpoints upload --package OUT/<cloud> --to URL`` puts a package built by this
folder's builders where the cloud's serving stack reads it; the weights step of
``pulumi up`` (``infra/weights.py``) uploads a package's model folder through the same
code, and the client's output cache (``genai_endpoints/client/cache.py``) reads and writes
through the same stores and URLs. The parts, one module each:

- ``destinations.py``: the ``--to`` URL (``s3://``, ``gs://``, and for Azure ``az://``, a
  container's ``https://`` URL or ``azureml://``), parsed into a :class:`Destination`;
- ``plan.py``: which files a package uploads, under which keys, manifest last;
- ``reading.py``: :class:`VerifiedReader`, which checks each file's size and sha256 against
  the manifest while the SDK reads it, so bytes that differ never become an object;
- ``sync.py``: skip what is there with the same size and sha256, send the rest, report
  (progress through :class:`UploadProgress`; the library draws nothing);
- ``stores/``: one store per cloud (``s3.py``, ``gcs.py``, ``azure.py``) and
  :func:`store_for`.

``weights_uri`` in the :class:`UploadReport` (``s3://B/P/models/<digest>/`` and the like)
is what infra is given. Credentials come from each SDK's default chain (boto3's,
``google.auth.default``, ``AZURE_STORAGE_CONNECTION_STRING`` or ``DefaultAzureCredential``);
they are never taken as arguments and
never printed. The SDKs are imported inside the stores, so importing this package stays
light.
"""

from __future__ import annotations

from model_packages.upload.destinations import (
    ACCEPTED_FORMS,
    Destination,
    parse_destination,
)
from model_packages.upload.errors import (
    CredentialsError,
    DestinationError,
    HashMismatchError,
    PackageError,
    StoreError,
    UploadError,
)
from model_packages.upload.plan import UploadItem, plan_upload
from model_packages.upload.reading import VerifiedReader, sha256_of
from model_packages.upload.stores import (
    AzureBlobStore,
    AzureMLDatastore,
    BytesStore,
    GCSStore,
    HashingStore,
    ObjectStore,
    RemoteObject,
    S3Store,
    store_for,
)
from model_packages.upload.sync import (
    NoProgress,
    UploadProgress,
    UploadReport,
    upload_files,
    upload_package,
)

__all__ = [
    "ACCEPTED_FORMS",
    "AzureBlobStore",
    "AzureMLDatastore",
    "BytesStore",
    "CredentialsError",
    "Destination",
    "DestinationError",
    "GCSStore",
    "HashMismatchError",
    "HashingStore",
    "NoProgress",
    "ObjectStore",
    "PackageError",
    "RemoteObject",
    "S3Store",
    "StoreError",
    "UploadError",
    "UploadItem",
    "UploadProgress",
    "UploadReport",
    "VerifiedReader",
    "parse_destination",
    "plan_upload",
    "sha256_of",
    "store_for",
    "upload_files",
    "upload_package",
]
