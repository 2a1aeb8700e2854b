"""Each storage emulator serves the cloud's own SDK over HTTP: an object with metadata goes
in and comes back. If one of these fails, every storage test after it would too."""

from __future__ import annotations

import hashlib
import os

from tests.emulators import unique_name

BODY = b"genai" * 300_000  # 1.5 MB: more than one request on every SDK's default chunking
DIGEST = hashlib.sha256(BODY).hexdigest()


def test_moto_server_stores_an_s3_object_with_its_metadata(moto_server):
    import boto3

    with moto_server.environment():
        s3 = boto3.client("s3")
        bucket = unique_name()
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="a/b", Body=BODY, Metadata={"sha256": DIGEST})
        head = s3.head_object(Bucket=bucket, Key="a/b")
        got = s3.get_object(Bucket=bucket, Key="a/b")["Body"].read()
    assert head["Metadata"] == {"sha256": DIGEST} and got == BODY


def test_fake_gcs_server_stores_a_gcs_object_with_its_metadata(fake_gcs_server):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with fake_gcs_server.environment():
        client = storage.Client(project="test", credentials=AnonymousCredentials())
        bucket = client.create_bucket(unique_name())
        blob = bucket.blob("a/b")
        blob.metadata = {"sha256": DIGEST}
        blob.upload_from_string(BODY)
        again = bucket.get_blob("a/b")
        assert again.metadata == {"sha256": DIGEST}
        assert again.download_as_bytes() == BODY


def test_azurite_stores_a_blob_with_its_metadata(azurite):
    from azure.storage.blob import BlobServiceClient

    with azurite.environment():
        service = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
        container = service.create_container(unique_name())
        container.upload_blob("a/b", BODY, metadata={"sha256": DIGEST})
        blob = container.get_blob_client("a/b")
        assert blob.get_blob_properties().metadata == {"sha256": DIGEST}
        assert blob.download_blob().readall() == BODY
