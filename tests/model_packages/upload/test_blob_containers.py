"""Plain blob containers (``az://ACCOUNT/CONTAINER``, a container URL): which endpoint and
credential each form gets, with and without ``AZURE_STORAGE_CONNECTION_STRING``, and a
package uploaded through each form to Azurite."""

from __future__ import annotations

import pytest

from model_packages.upload import (
    AzureBlobStore,
    CredentialsError,
    parse_destination,
    store_for,
    upload_package,
)
from tests.emulators import AZURITE_ACCOUNT, AZURITE_KEY, unique_name
from tests.model_packages.upload.helpers import expected_keys

CONNECTION = (
    "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey="
    + AZURITE_KEY
    + ";EndpointSuffix=core.usgovcloudapi.net"
)


@pytest.fixture
def no_connection(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)


def test_az_without_a_connection_string_is_public_azure_with_the_default_chain(no_connection):
    store = store_for(parse_destination("az://acct1/pkgs/p"))
    assert isinstance(store, AzureBlobStore)
    assert store.container.url == "https://acct1.blob.core.windows.net/pkgs"
    assert type(store.container.credential).__name__ == "DefaultAzureCredential"


def test_a_container_url_keeps_its_endpoint_suffix(no_connection):
    url = "https://acct1.blob.core.chinacloudapi.cn/pkgs/p"
    store = store_for(parse_destination(url))
    assert store.container.url == "https://acct1.blob.core.chinacloudapi.cn/pkgs"


def test_az_follows_the_connection_string_of_its_account(monkeypatch):
    """A sovereign cloud through the connection string's EndpointSuffix, its key as the
    credential; the string's own endpoint, never public Azure's."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", CONNECTION)
    store = store_for(parse_destination("az://acct1/pkgs"))
    assert store.container.url == "https://acct1.blob.core.usgovcloudapi.net/pkgs"
    assert store.container.credential.account_name == "acct1"


def test_az_for_another_account_than_the_connection_string_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", CONNECTION)
    with pytest.raises(CredentialsError, match="is for account 'acct1', not 'other1'"):
        store_for(parse_destination("az://other1/pkgs"))


def test_a_url_uses_the_connection_strings_key_only_for_its_account(monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", CONNECTION)
    same = store_for(parse_destination("https://acct1.blob.core.usgovcloudapi.net/pkgs"))
    assert same.container.credential.account_name == "acct1"
    other = store_for(parse_destination("https://other1.blob.core.windows.net/pkgs"))
    assert type(other.container.credential).__name__ == "DefaultAzureCredential"


@pytest.mark.parametrize("form", ["az", "url"])
def test_a_package_goes_to_azurite_through_each_form(azurite, package, form):
    from azure.storage.blob import ContainerClient

    container = unique_name()
    with azurite.environment():
        import os

        client = ContainerClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"], container
        )
        client.create_container()
        root = f"az://{AZURITE_ACCOUNT}" if form == "az" else azurite.url
        report = upload_package(package, f"{root}/{container}/team")
        assert {b.name for b in client.list_blobs()} == expected_keys(package, "team")
        assert report.weights_uri.startswith(f"{root}/{container}/team/models/")
        again = upload_package(package, f"{root}/{container}/team")
    assert again.uploaded_files == 0 and again.skipped_files == report.uploaded_files
