"""Azure: a blob container written through azure-storage-blob, and the Azure ML datastore
resolver that finds which container a datastore names.

The two are apart on purpose. :class:`AzureBlobStore` only needs a container client, so
the weights step of ``pulumi up`` (which knows its storage account and container) builds
one from their URL, while an ``azureml://`` destination first asks Azure ML's management
API for the datastore's account and container (:class:`AzureMLDatastore`) and then builds
the same plain store. A plain container (``az://ACCOUNT/CONTAINER``, or its URL) is
:meth:`AzureBlobStore.for_container`: azure-storage-blob reads no environment variable for
an endpoint, so, as its users expect, ``AZURE_STORAGE_CONNECTION_STRING`` (the Azure CLI's
name, https://learn.microsoft.com/en-us/cli/azure/storage) is honoured when set: it reaches
Azurite (``UseDevelopmentStorage=true`` or ``BlobEndpoint=``) and sovereign clouds
(``EndpointSuffix=core.usgovcloudapi.net``; https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string).

Block blobs: one PUT up to ``max_single_put_size``, else blocks of ``max_block_size`` that
become a blob only when the block list is committed, so a failed upload leaves nothing
visible. Each blob carries its sha256 as blob metadata ``sha256``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_packages.upload.errors import CredentialsError, StoreError, UploadError
from model_packages.upload.reading import VerifiedReader
from model_packages.upload.stores.base import (
    CHUNK_SIZE,
    MAX_CONCURRENCY,
    MULTIPART_THRESHOLD,
    ProgressCallback,
    RemoteObject,
)


def default_credential() -> Any:
    """``DefaultAzureCredential``, with azure-identity's log of every credential it tried
    silenced: its failure is answered in one line (:class:`CredentialsError`), so the log
    would only repeat it at length."""
    from azure.identity import DefaultAzureCredential

    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    return DefaultAzureCredential()


def azure_error(exc: Exception, where: str, key: str) -> UploadError | None:
    """An azure-core failure as a one-line :class:`UploadError` (None: not one of them)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
    )

    if isinstance(exc, ClientAuthenticationError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return CredentialsError(
            "no usable Azure credentials (DefaultAzureCredential: environment, "
            f"managed identity, az login, ...): {type(exc).__name__}: {first[:200]}"
        )
    if isinstance(exc, ResourceNotFoundError) and not key:
        return StoreError(f"{where} not found")
    if isinstance(exc, HttpResponseError):
        where = f"{where}, blob {key!r}" if key else where
        return StoreError(f"{where}: HTTP {exc.status_code}: {exc.reason or 'refused'}")
    return None


CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
PUBLIC_SUFFIX = "core.windows.net"
DEVSTORE_ACCOUNT = "devstoreaccount1"  # what UseDevelopmentStorage=true names (Azurite)


def connection_settings(connection: str) -> dict[str, str]:
    """A connection string's ``Key=Value`` pairs, keys lowercased (values may hold '=')."""
    pairs = (part.partition("=") for part in connection.split(";") if part.strip())
    return {key.strip().lower(): value.strip() for key, _, value in pairs}


def connection_account(connection: str) -> str:
    """The storage account a connection string names (Azurite's for development storage)."""
    settings = connection_settings(connection)
    if settings.get("usedevelopmentstorage", "").lower() == "true":
        return settings.get("accountname", DEVSTORE_ACCOUNT)
    return settings.get("accountname", "")


def connection_credential(connection: str) -> Any:
    """The key or SAS token a connection string holds (None: neither)."""
    settings = connection_settings(connection)
    if settings.get("accountkey"):
        return {
            "account_name": connection_account(connection),
            "account_key": settings["accountkey"],
        }
    return settings.get("sharedaccesssignature") or None


class AzureBlobStore:
    """A blob container through azure-storage-blob. ``container_client`` is an
    ``azure.storage.blob.ContainerClient`` (or a fake); ``where`` names the container in
    error messages."""

    def __init__(
        self,
        container_client: Any,
        *,
        where: str = "the blob container",
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        self.container = container_client
        self.where = where
        self.max_concurrency = max_concurrency

    @classmethod
    def from_url(
        cls,
        account_url: str,
        container: str,
        *,
        credential: Any = None,
        where: str | None = None,
        max_single_put_size: int = MULTIPART_THRESHOLD,
        max_block_size: int = CHUNK_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> AzureBlobStore:
        """The container ``container`` of the account at ``account_url``
        (``https://ACCOUNT.blob.core.windows.net``); ``credential`` defaults to
        :func:`default_credential`. Nothing is sent until the first request."""
        from azure.storage.blob import ContainerClient

        client = ContainerClient(
            account_url,
            container,
            credential=credential if credential is not None else default_credential(),
            max_single_put_size=max_single_put_size,
            max_block_size=max_block_size,
        )
        where = where or f"container {container!r} of {account_url}"
        return cls(client, where=where, max_concurrency=max_concurrency)

    @classmethod
    def for_container(
        cls,
        account: str,
        container: str,
        account_url: str | None = None,
        **options: int,
    ) -> AzureBlobStore:
        """Container ``container`` of storage account ``account``: at ``account_url`` when
        given (``https://ACCOUNT.blob.SUFFIX``, an emulator's ``http://127.0.0.1:PORT/ACCOUNT``),
        else where ``AZURE_STORAGE_CONNECTION_STRING`` points (its account must be
        ``account``), else at public Azure's ``https://ACCOUNT.blob.core.windows.net``. The
        key or SAS of a connection string for the same account is the credential; otherwise
        :func:`default_credential`. ``options``: :meth:`from_url`'s sizes."""
        import os

        connection = os.environ.get(CONNECTION_STRING, "").strip()
        named = connection_account(connection) if connection else ""
        if connection and account_url is None:
            if named != account:
                raise CredentialsError(
                    f"az://{account}/{container}: {CONNECTION_STRING} is for account "
                    f"{named or '(none named)'!r}, not {account!r}; unset it, or name its "
                    "account in the URL"
                )
            return cls._from_connection_string(connection, container, **options)
        credential = connection_credential(connection) if connection and named == account else None
        return cls.from_url(
            account_url or f"https://{account}.blob.{PUBLIC_SUFFIX}",
            container,
            credential=credential,
            where=f"container {container!r} of account {account!r}",
            **options,
        )

    @classmethod
    def _from_connection_string(
        cls,
        connection: str,
        container: str,
        *,
        max_single_put_size: int = MULTIPART_THRESHOLD,
        max_block_size: int = CHUNK_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> AzureBlobStore:
        from azure.storage.blob import ContainerClient

        try:
            client = ContainerClient.from_connection_string(
                connection,
                container,
                max_single_put_size=max_single_put_size,
                max_block_size=max_block_size,
            )
        except ValueError as exc:
            raise CredentialsError(f"{CONNECTION_STRING} is not usable: {exc}") from None
        where = f"container {container!r} of {client.primary_endpoint.rsplit('/', 1)[0]}"
        return cls(client, where=where, max_concurrency=max_concurrency)

    def _translate(self, exc: Exception, key: str) -> UploadError | None:
        return azure_error(exc, self.where, key)

    def head(self, key: str) -> RemoteObject | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self.container.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except UploadError:
            raise
        except Exception as exc:
            raise self._translate(exc, key) or exc from None
        metadata = {k.lower(): v for k, v in (props.metadata or {}).items()}
        return RemoteObject(int(props.size), metadata.get("sha256"))

    def put(
        self, key: str, path: Path, sha256: str, size: int, progress_cb: ProgressCallback
    ) -> None:
        sent = 0

        def hook(current: int, total: int | None) -> None:
            nonlocal sent
            if current != sent:
                progress_cb(current - sent)
                sent = current

        blob = self.container.get_blob_client(key)
        try:
            with VerifiedReader(path, sha256, size) as reader:
                blob.upload_blob(
                    reader,
                    length=size,
                    overwrite=True,
                    metadata={"sha256": sha256},
                    max_concurrency=self.max_concurrency,
                    progress_hook=hook,
                )
        except BaseException as exc:  # KeyboardInterrupt (SIGINT, SIGTERM) included
            _discard_staged_blocks(blob)
            if isinstance(exc, UploadError) or not isinstance(exc, Exception):
                raise
            raise self._translate(exc, key) or exc from None

    def stream_sha256(self, key: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        digest = hashlib.sha256()
        try:
            downloader = self.container.get_blob_client(key).download_blob(
                max_concurrency=self.max_concurrency
            )
            for chunk in downloader.chunks():
                digest.update(chunk)
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise self._translate(exc, key) or exc from None
        return digest.hexdigest()

    def get_bytes(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container.get_blob_client(key).download_blob().readall()
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise self._translate(exc, key) or exc from None

    def put_bytes(self, key: str, data: bytes) -> None:
        metadata = {"sha256": hashlib.sha256(data).hexdigest()}
        try:
            self.container.get_blob_client(key).upload_blob(data, overwrite=True, metadata=metadata)
        except Exception as exc:
            raise self._translate(exc, key) or exc from None


def _discard_staged_blocks(blob: Any) -> None:
    """After a failed or interrupted block upload, drop the blocks it staged when the blob
    has no committed version: Azure has no call that aborts staged blocks (they are
    garbage-collected a week after the last Put Block,
    https://learn.microsoft.com/en-us/rest/api/storageservices/put-block), but a Put Block
    List discards every uncommitted block it does not name
    (https://learn.microsoft.com/en-us/rest/api/storageservices/put-block-list), so an
    empty list and a delete leave nothing. A blob that was already there is left as it was
    (its staged blocks go with the next upload, or that week). Best effort: the upload's own
    error is what the caller sees."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        try:
            blob.get_blob_properties()
            return  # a committed blob: never replaced by an empty one here
        except ResourceNotFoundError:
            pass
        _, uncommitted = blob.get_block_list("uncommitted")
        if uncommitted:
            blob.commit_block_list([])
            blob.delete_blob()
    except Exception:  # cleanup must not hide the upload's failure
        logging.getLogger(__name__).debug("could not discard staged blocks", exc_info=True)


@dataclass(frozen=True)
class AzureMLDatastore:
    """An Azure ML datastore, named as in its ``azureml://`` URI. :meth:`store` asks the
    workspace (``MLClient(...).datastores.get(name)``, azure-ai-ml) for the storage account
    and container behind it and returns the plain :class:`AzureBlobStore` over them."""

    subscription: str
    resource_group: str
    workspace: str
    name: str

    @property
    def where(self) -> str:
        return f"datastore {self.name!r} of workspace {self.workspace!r}"

    def store(
        self,
        *,
        max_single_put_size: int = MULTIPART_THRESHOLD,
        max_block_size: int = CHUNK_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> AzureBlobStore:
        """The datastore's container as a store; a failure is one :class:`UploadError`."""
        try:
            account_url, container, credential = self._locate()
            return AzureBlobStore.from_url(
                account_url,
                container,
                credential=credential,
                where=self.where,
                max_single_put_size=max_single_put_size,
                max_block_size=max_block_size,
                max_concurrency=max_concurrency,
            )
        except UploadError:
            raise
        except Exception as exc:
            raise azure_error(exc, self.where, "") or exc from None

    def _locate(self) -> tuple[str, str, Any]:
        """(account URL, container, credential) of this datastore."""
        try:
            from azure.ai.ml import MLClient
            from azure.identity import DefaultAzureCredential  # noqa: F401 - checked here
            from azure.storage.blob import ContainerClient  # noqa: F401 - checked here
        except ImportError as exc:
            raise UploadError(
                "azureml:// destinations need azure-ai-ml, azure-identity and "
                f"azure-storage-blob importable; importing them failed: {exc}"
            ) from None

        credential = default_credential()
        ml_client = MLClient(
            credential,
            subscription_id=self.subscription,
            resource_group_name=self.resource_group,
            workspace_name=self.workspace,
        )
        store = ml_client.datastores.get(self.name)
        # AzureBlobDatastore has container_name, AzureDataLakeGen2Datastore filesystem
        # (the blob API writes to both); a file share or Gen1 store has neither
        container = getattr(store, "container_name", None) or getattr(store, "filesystem", None)
        if not container:
            raise StoreError(
                f"{self.where} is a {type(store).__name__}; "
                "only blob and ADLS Gen2 datastores can take a package"
            )
        account_url = f"{store.protocol or 'https'}://{store.account_name}.blob.{store.endpoint}"
        return account_url, container, credential
