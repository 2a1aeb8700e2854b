"""The output cache's locations: a folder, or a bucket named as `upload --to` names one and
read and written through the upload's stores (one store and one URL form per cloud)."""

from __future__ import annotations

import hashlib
import os

import pytest

from genai_endpoints.client.cache import BucketStore, Cache, LocalStore, open_store
from genai_endpoints.client.errors import ConfigError
from genai_endpoints.client.transports.base import Answer, Output
from genai_endpoints.client.transports.contracts import ContractHttp
from model_packages.upload.destinations import parse_destination
from model_packages.upload.stores import AzureBlobStore, GCSStore, S3Store
from scoring.schema import GenerationRequest
from tests.emulators import unique_name

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
DATASTORE = (
    "azureml://subscriptions/s-1/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore"
)


class MemoryBytes:
    """The smallest BytesStore: objects in a dict, keyed by full object key."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_bytes(self, key):
        return self.objects.get(key)

    def put_bytes(self, key, data):
        self.objects[key] = data


def _put_and_get(cache: Cache) -> None:
    t = ContractHttp("sagemaker", "http://127.0.0.1:1", "m", "r")
    req = GenerationRequest(prompt="x", seed=1)
    cache.put("k" * 64, t, req, Answer([Output(PNG, "image/png", 1)]))
    assert cache.get("k" * 64).answer.outputs[0].data == PNG
    assert cache.get("z" * 64) is None


def test_cache_locations():
    with pytest.raises(ConfigError, match=r"cache: destination 'ftp://x/y': unknown scheme.*s3://"):
        open_store("ftp://x/y")
    # the forms `upload --to` takes: a blob container needs its container, and the message
    # says what is wrong, not that az:// is unknown
    with pytest.raises(ConfigError, match=r"'az://account'.*az://ACCOUNT/CONTAINER.*azureml://"):
        open_store("az://account")
    with pytest.raises(ConfigError, match="cache: destination 's3://': '' is not a valid bucket"):
        open_store("s3://")
    assert isinstance(open_store("some/folder"), LocalStore)


@pytest.mark.parametrize(
    ("location", "kind", "prefix", "uri"),
    [
        ("s3://cache-bucket/genai/", S3Store, "genai", "s3://cache-bucket/genai"),
        ("gs://cache-bucket", GCSStore, "", "gs://cache-bucket/"),
        (f"{DATASTORE}/paths/team/cache", AzureBlobStore, "team/cache", None),
    ],
)
def test_bucket_locations_use_the_upload_stores(location, kind, prefix, uri, monkeypatch):
    import model_packages.upload as up

    opened = []
    monkeypatch.setattr(up, "store_for", lambda d: opened.append(d) or MemoryBytes())
    store = open_store(location)
    assert isinstance(store, BucketStore) and opened == []  # nothing opened before first use
    assert store.destination.prefix == prefix
    assert store.location == (uri or f"{DATASTORE}/paths/{prefix}")
    store.write("entries/ab/x.json", b"{}")
    key = f"{prefix}/entries/ab/x.json" if prefix else "entries/ab/x.json"
    assert store.objects.objects == {key: b"{}"} and store.read("entries/ab/x.json") == b"{}"
    assert store.read("missing") is None and len(opened) == 1
    real = up.stores.store_for  # the store each form gets, without a cloud call for S3/GCS
    if kind is not AzureBlobStore:
        assert isinstance(real(store.destination), kind)


def test_cache_in_a_bucket_keeps_its_semantics():
    store = BucketStore(parse_destination("gs://bkt/p"), MemoryBytes())
    _put_and_get(Cache(store))
    assert all(k.startswith("p/") for k in store.objects.objects)
    assert len(store.objects.objects) == 2  # one blob, one entry


def test_s3_cache_store(tmp_path, monkeypatch):
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)

    with mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket="cache-bucket")
        cache = Cache.at("s3://cache-bucket/genai")
        assert isinstance(cache.store.objects, S3Store)
        t = ContractHttp("sagemaker", "http://127.0.0.1:1", "m", "r")
        req = GenerationRequest(prompt="x", seed=1)
        cache.put("k" * 64, t, req, Answer([Output(PNG, "image/png", 1)]))
        assert cache.get("k" * 64).answer.outputs[0].data == PNG
        keys = [
            o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="cache-bucket")["Contents"]
        ]
        assert all(k.startswith("genai/") for k in keys) and len(keys) == 2
        assert cache.get("z" * 64) is None


# -- hit, miss, damaged → miss → heal → hit, on each kind of store, the buckets on the real
# emulators (tests/emulators.py) --------------------------------------------------------
@pytest.fixture
def local_store(tmp_path):
    yield LocalStore(tmp_path / "cache")


@pytest.fixture
def s3_store(moto_server):
    import boto3

    with moto_server.environment():
        bucket = unique_name("cache")
        boto3.client("s3").create_bucket(Bucket=bucket)
        store = open_store(f"s3://{bucket}/genai")
        assert isinstance(store.objects, S3Store)
        yield store


@pytest.fixture
def gcs_store(fake_gcs_server):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with fake_gcs_server.environment():
        client = storage.Client(project="test", credentials=AnonymousCredentials())
        bucket = client.create_bucket(unique_name("cache"))
        store = open_store(f"gs://{bucket.name}/genai")  # the SDK finds the emulator itself
        assert isinstance(store.objects, GCSStore)
        yield store


@pytest.fixture
def azure_store(azurite):
    # the container client straight from Azurite's connection string: an azureml:// location
    # would first ask Azure ML's management API which container its datastore names
    from azure.storage.blob import ContainerClient

    with azurite.environment():
        container = ContainerClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"], unique_name("cache")
        )
        container.create_container()
        yield BucketStore(parse_destination(f"{DATASTORE}/paths/genai"), AzureBlobStore(container))


@pytest.mark.parametrize("kind", ["local_store", "s3_store", "gcs_store", "azure_store"])
def test_a_damaged_entry_is_a_miss_then_healed_by_the_next_put(kind, request):
    store = request.getfixturevalue(kind)
    cache = Cache(store)
    t = ContractHttp("sagemaker", "http://127.0.0.1:1", "m", "r")
    req, key = GenerationRequest(prompt="x", seed=1), "k" * 64
    answer = Answer([Output(PNG, "image/png", 1)])

    assert cache.get(key) is None  # miss: absent
    first = cache.put(key, t, req, answer)
    assert cache.get(key).answer.outputs[0].data == PNG  # hit

    blob = f"blobs/{hashlib.sha256(PNG).hexdigest()[:2]}/{hashlib.sha256(PNG).hexdigest()}"
    store.write(blob, b"damaged")  # the blob's bytes no longer match its name
    assert cache.get(key) is None  # a miss, never the damaged bytes
    healed = cache.put(key, t, req, answer)  # the live answer rewrites it
    assert store.read(blob) == PNG
    assert cache.get(key).answer.outputs[0].data == PNG  # hit again
    assert (first, healed) == (False, True) and cache.damage(key) == ""

    # a truncated blob (an interrupted write) heals the same way
    store.write(blob, b"")
    assert cache.get(key) is None and "does not match its sha256" in cache.damage(key)
    assert cache.put(key, t, req, answer) is True and cache.get(key) is not None
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.damaged, stats.healed) == (3, 3, 2, 2)
