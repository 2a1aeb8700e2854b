"""The Azure blob store against in-memory fakes of azure-storage-blob (and the real SDK over
a fake Blob REST API), and the datastore resolver against a fake azure-ai-ml."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

import pytest

from model_packages.upload.destinations import parse_destination
from model_packages.upload.errors import HashMismatchError
from model_packages.upload.plan import plan_upload
from model_packages.upload.stores.azure import AzureBlobStore, AzureMLDatastore
from model_packages.upload.sync import upload_package
from tests.model_packages.upload.helpers import (
    AZ_URL,
    BIG,
    PART,
    THRESHOLD,
    MiB,
    expected_keys,
    item_for,
    prefix_of,
)


@dataclass
class FakeBlobProperties:
    size: int
    metadata: dict


class FakeBlobClient:
    def __init__(self, container: FakeContainerClient, name: str):
        self.container = container
        self.name = name

    def get_blob_properties(self):
        from azure.core.exceptions import ResourceNotFoundError

        if self.name not in self.container.blobs:
            raise ResourceNotFoundError("The specified blob does not exist.")
        data, metadata = self.container.blobs[self.name]
        return FakeBlobProperties(len(data), metadata)

    def download_blob(self):
        from azure.core.exceptions import ResourceNotFoundError

        if self.name not in self.container.blobs:
            raise ResourceNotFoundError("The specified blob does not exist.")
        data = self.container.blobs[self.name][0]
        return type("Downloader", (), {"readall": lambda _self: data})()

    def upload_blob(
        self, data, length=None, overwrite=False, metadata=None, max_concurrency=1,
        progress_hook=None,
    ):  # fmt: skip
        # like azure-storage-blob: one read up to max_single_put_size, else staged blocks
        # that become the blob only when the block list is committed
        assert overwrite
        c = self.container
        if isinstance(data, bytes):  # a small object, one Put Blob
            c.uploads.append((self.name, 1))
            c.blobs[self.name] = (data, dict(metadata))
            return
        step = length if length <= c.max_single_put_size else c.max_block_size
        blocks = []
        while sum(map(len, blocks)) < length:
            blocks.append(data.read(min(step, length - sum(map(len, blocks)))))
            progress_hook(sum(map(len, blocks)), length)
        c.uploads.append((self.name, len(blocks)))
        c.blobs[self.name] = (b"".join(blocks), dict(metadata))  # commit


class FakeContainerClient:
    def __init__(self, max_single_put_size: int, max_block_size: int):
        self.blobs: dict[str, tuple[bytes, dict]] = {}
        self.uploads: list[tuple[str, int]] = []
        self.max_single_put_size = max_single_put_size
        self.max_block_size = max_block_size

    def get_blob_client(self, name):
        return FakeBlobClient(self, name)


def test_azure_store_layout_metadata_blocks_and_skip(package):
    container = FakeContainerClient(max_single_put_size=THRESHOLD, max_block_size=MiB)
    dest = parse_destination(AZ_URL)
    store = AzureBlobStore(container)
    seen: list[int] = []
    report = upload_package(package, dest, store=store)

    assert set(container.blobs) == expected_keys(package, "genai")
    for item in plan_upload(package):
        data, metadata = container.blobs[f"genai/{item.key}"]
        assert metadata == {"sha256": item.sha256} and len(data) == item.size
        assert hashlib.sha256(data).hexdigest() == item.sha256
    blocks = dict(container.uploads)
    assert max(blocks.values()) == 6 and sorted(blocks.values())[-2] == 1  # big one in blocks
    assert report.weights_uri == f"{AZ_URL}/{prefix_of(package)}"

    container.uploads.clear()
    again = upload_package(package, dest, store=store)
    assert again.uploaded_files == 0 and container.uploads == []

    key = f"genai/{prefix_of(package)}{BIG}"
    data, metadata = container.blobs[key]
    container.blobs[key] = (data[:-1], metadata)  # a size mismatch is uploaded again
    third = upload_package(package, dest, store=store)
    assert third.replaced == [key] and [n for n, _ in container.uploads] == [key]

    index = item_for(package, "model_index.json")
    store.put("x", index.local_path, index.sha256, index.size, seen.append)
    assert sum(seen) == (package / "model" / "model_index.json").stat().st_size


def test_azure_store_mismatch_commits_nothing(package):
    container = FakeContainerClient(max_single_put_size=THRESHOLD, max_block_size=MiB)
    store = AzureBlobStore(container)
    big = package / "model" / BIG
    big.write_bytes(b"\x00" + big.read_bytes()[1:])
    with pytest.raises(HashMismatchError, match=r"diffusion_pytorch_model\.safetensors"):
        upload_package(package, AZ_URL, store=store)
    assert not any(k.endswith(BIG) for k in container.blobs)


class FakeBlobService:
    """Just enough of the Blob REST API (HEAD, Put Blob, Put Block, Put Block List) to run
    the real azure-storage-blob client over ``responses``: blocks are invisible until their
    block list is committed, as on Azure."""

    def __init__(self):
        self.blobs: dict[str, tuple[bytes, dict]] = {}
        self.staged: dict[tuple[str, str], bytes] = {}
        self.log: list[tuple[str, str | None]] = []
        self.commits: list[int] = []  # blocks named by each Put Block List

    def __call__(self, request):
        from urllib.parse import parse_qs, urlparse

        url = urlparse(request.url)
        name = url.path.split("/", 2)[2]
        comp = parse_qs(url.query).get("comp", [None])[0]
        self.log.append((request.method, comp))
        if request.method == "GET" and comp == "blocklist":  # the uncommitted blocks
            ids = [i for (n, i) in self.staged if n == name]
            xml = "".join(f"<Block><Name>{i}</Name><Size>1</Size></Block>" for i in ids)
            body = (
                '<?xml version="1.0" encoding="utf-8"?><BlockList><CommittedBlocks/>'
                f"<UncommittedBlocks>{xml}</UncommittedBlocks></BlockList>"
            )
            return 200, {"Content-Type": "application/xml"}, body.encode()
        if request.method == "DELETE":
            self.blobs.pop(name, None)
            return 202, {}, b""
        if request.method == "HEAD":
            if name not in self.blobs:
                return 404, {"x-ms-error-code": "BlobNotFound"}, b""
            data, meta = self.blobs[name]
            headers = {"Content-Length": str(len(data)), "x-ms-blob-type": "BlockBlob"}
            return 200, headers | {f"x-ms-meta-{k}": v for k, v in meta.items()}, b""
        body = request.body.read() if hasattr(request.body, "read") else request.body or b""
        body = body.encode() if isinstance(body, str) else body
        meta = {
            k.lower().removeprefix("x-ms-meta-"): v
            for k, v in request.headers.items()
            if k.lower().startswith("x-ms-meta-")
        }
        if comp == "block":
            block_id = parse_qs(url.query)["blockid"][0]
            self.staged[(name, block_id)] = body
        elif comp == "blocklist":
            ids = re.findall(rb"<(?:Latest|Uncommitted|Committed)>([^<]+)<", body)
            data = b"".join(self.staged[(name, i.decode())] for i in ids)
            self.blobs[name] = (data, meta)
            self.commits.append(len(ids))
            self.staged = {k: v for k, v in self.staged.items() if k[0] != name}
        else:
            self.blobs[name] = (body, meta)
        return 201, {}, b""


def test_azure_store_with_the_real_sdk_over_a_fake_blob_service(package):
    """The real ContainerClient: one Put Blob up to max_single_put_size, else staged blocks
    and one commit; a mismatching file stages blocks but never commits a blob."""
    import responses
    from azure.storage.blob import ContainerClient

    service = FakeBlobService()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        blob_url = re.compile(r"https://acct\.blob\.core\.windows\.net/ctr/.*")
        mock.add_callback(responses.HEAD, blob_url, callback=service)
        mock.add_callback(responses.PUT, blob_url, callback=service)
        mock.add_callback(responses.GET, blob_url, callback=service)
        mock.add_callback(responses.DELETE, blob_url, callback=service)
        container = ContainerClient(
            "https://acct.blob.core.windows.net",
            "ctr",
            max_single_put_size=THRESHOLD,
            max_block_size=MiB,
        )
        store = AzureBlobStore(container)
        report = upload_package(package, AZ_URL, store=store)

        assert set(service.blobs) == expected_keys(package, "genai")
        for item in plan_upload(package):
            data, meta = service.blobs[f"genai/{item.key}"]
            assert meta == {"sha256": item.sha256}
            assert hashlib.sha256(data).hexdigest() == item.sha256
        ops = Counter(service.log)
        assert ops[("PUT", "blocklist")] == 1  # the big file: blocks, then one commit
        assert ops[("PUT", "block")] == -(-(PART + 300_000) // MiB)
        assert ops[("PUT", None)] == report.uploaded_files - 1

        service.log.clear()
        again = upload_package(package, AZ_URL, store=store)
        assert again.uploaded_files == 0 and {m for m, _ in service.log} == {"HEAD"}

        big = package / "model" / BIG
        want = next(i for i in plan_upload(package) if i.local_path == big)
        big.write_bytes(big.read_bytes()[:-1] + b"\x00")  # same size, other bytes
        service.log.clear()
        service.commits.clear()
        with pytest.raises(HashMismatchError, match=r"diffusion_pytorch_model\.safetensors"):
            store.put("genai/bad", big, want.sha256, want.size, lambda n: None)
        assert "genai/bad" not in service.blobs
        # blocks were staged, never committed as a blob: the only block list is the empty
        # one that discards them, and the empty blob it makes is deleted
        assert ("PUT", "block") in service.log and service.commits == [0]
        assert ("DELETE", None) in service.log and not service.staged


@dataclass
class FakeDatastore:  # the attributes azure-ai-ml's AzureBlobDatastore carries
    name: str
    account_name: str
    container_name: str | None = None
    endpoint: str = "core.windows.net"
    protocol: str = "https"


@pytest.fixture
def fake_ml_client(monkeypatch):
    """``azure.ai.ml.MLClient`` replaced: ``datastores.get`` answers from a dict. (A fake
    module, so these tests run even where azure-ai-ml itself does not import.)"""
    import sys
    import types

    import azure.identity

    stores: dict = {}
    made: list[dict] = []

    class FakeMLClient:
        def __init__(self, credential, **kwargs):
            made.append(kwargs)
            self.datastores = self

        def get(self, name):
            value = stores[name]
            if isinstance(value, Exception):
                raise value
            return value

    module = types.ModuleType("azure.ai.ml")
    module.MLClient = FakeMLClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.ai.ml", module)

    class FakeCredential:  # a TokenCredential that is never asked for a token here
        def get_token(self, *scopes, **kwargs):
            raise AssertionError("no network in tests")

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", FakeCredential)
    return stores, made


def test_azure_store_resolves_the_datastore_to_its_container(fake_ml_client):
    stores, made = fake_ml_client
    stores["workspaceblobstore"] = FakeDatastore(
        "workspaceblobstore", account_name="acct123", container_name="azureml-blobstore-x"
    )
    dest = parse_destination(AZ_URL)
    datastore = AzureMLDatastore(
        dest.subscription, dest.resource_group, dest.workspace, dest.bucket,
    )  # fmt: skip
    store = datastore.store(max_single_put_size=THRESHOLD, max_block_size=MiB)
    container = store.container  # real azure-storage-blob clients; nothing is called yet
    assert made == [
        {
            "subscription_id": "00000000-1111-2222-3333-444444444444",
            "resource_group_name": "rg-ml",
            "workspace_name": "ws-dev",
        }
    ]
    assert container.container_name == "azureml-blobstore-x"
    assert container.url.startswith("https://acct123.blob.core.windows.net/azureml-blobstore-x")
    assert container._config.max_single_put_size == THRESHOLD
    assert container._config.max_block_size == MiB


def test_azure_store_turns_sdk_failures_into_one_line_errors(fake_ml_client):
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    from model_packages.upload.errors import CredentialsError, StoreError

    stores, _ = fake_ml_client
    stores["nologin"] = ClientAuthenticationError("DefaultAzureCredential failed to retrieve")
    stores["missing"] = ResourceNotFoundError("not found")
    stores["files"] = FakeDatastore("files", account_name="a")  # a file share: no container
    with pytest.raises(CredentialsError, match="no usable Azure credentials"):
        AzureMLDatastore("s", "rg", "ws", "nologin").store()
    with pytest.raises(StoreError, match="datastore 'missing' of workspace 'ws' not found"):
        AzureMLDatastore("s", "rg", "ws", "missing").store()
    with pytest.raises(StoreError, match="FakeDatastore; only blob and ADLS Gen2"):
        AzureMLDatastore("s", "rg", "ws", "files").store()


def test_azure_store_small_objects_for_the_cache():
    """The output cache's reads and writes: whole blobs, sha256 recorded, None when absent."""
    container = FakeContainerClient(max_single_put_size=THRESHOLD, max_block_size=MiB)
    store = AzureBlobStore(container)
    assert store.get_bytes("c/entries/x.json") is None
    store.put_bytes("c/entries/x.json", b"{}")
    assert store.get_bytes("c/entries/x.json") == b"{}"
    assert container.blobs["c/entries/x.json"] == (
        b"{}",
        {"sha256": hashlib.sha256(b"{}").hexdigest()},
    )


def test_azure_store_from_a_container_url_needs_no_datastore():
    """What the weights step of `pulumi up` builds: the account and container it knows."""

    class Credential:  # a TokenCredential that is never asked for a token here
        def get_token(self, *scopes, **kwargs):
            raise AssertionError("no network in tests")

    store = AzureBlobStore.from_url(
        "https://acct.blob.core.windows.net", "packages", credential=Credential(),
        max_single_put_size=THRESHOLD, max_block_size=MiB,
    )  # fmt: skip
    assert store.container.url == "https://acct.blob.core.windows.net/packages"
    assert store.container._config.max_single_put_size == THRESHOLD
    assert store.container._config.max_block_size == MiB
    assert store.where == "container 'packages' of https://acct.blob.core.windows.net"
