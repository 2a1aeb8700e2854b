"""The --to URL: one form per cloud, parsed or refused in one line naming the accepted forms."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_packages.upload.destinations import Destination, parse_destination
from model_packages.upload.errors import DestinationError

AZ_PUBLIC = "https://acct1.blob.core.windows.net"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://my-bucket", Destination("s3", "my-bucket")),
        ("s3://my-bucket/", Destination("s3", "my-bucket")),
        ("S3://my.bucket.1/a/b/", Destination("s3", "my.bucket.1", "a/b")),
        ("gs://my_bucket/envs/prod", Destination("gs", "my_bucket", "envs/prod")),
        (
            "azureml://subscriptions/sub-1/resourceGroups/rg_1/workspaces/ws-1"
            "/datastores/workspaceblobstore/paths/pkgs/v1/",
            Destination("azureml", "workspaceblobstore", "pkgs/v1", "sub-1", "rg_1", "ws-1"),
        ),
        (
            "azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/d",
            Destination("azureml", "d", "", "s", "r", "w"),
        ),
        ("az://acct1/pkgs/team/v1/", Destination("az", "pkgs", "team/v1", account="acct1")),
        ("AZ://acct1/pkgs", Destination("az", "pkgs", account="acct1")),
        (
            "https://acct1.blob.core.windows.net/pkgs/p",
            Destination("az", "pkgs", "p", account="acct1", account_url=AZ_PUBLIC),
        ),
        (  # a sovereign cloud: any endpoint suffix
            "https://acct1.blob.core.usgovcloudapi.net/pkgs",
            Destination(
                "az",
                "pkgs",
                account="acct1",
                account_url="https://acct1.blob.core.usgovcloudapi.net",
            ),
        ),
        (  # Azurite, path-style
            "http://127.0.0.1:10000/devstoreaccount1/pkgs/x",
            Destination(
                "az",
                "pkgs",
                "x",
                account="devstoreaccount1",
                account_url="http://127.0.0.1:10000/devstoreaccount1",
            ),
        ),
    ],
)
def test_parse_good_destinations(url, expected):
    assert parse_destination(url) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "not a URL"),
        ("my-bucket/path", "not a URL"),
        ("http://my-bucket/x", "unknown scheme"),
        ("s3://", "not a valid bucket name"),
        ("s3://My-Bucket", "not a valid bucket name"),
        ("s3://ab", "not a valid bucket name"),
        ("s3://a..b", "not a valid bucket name"),
        ("s3://my_bucket", "not a valid bucket name"),
        ("s3://bucket//x", "empty path segment"),
        ("s3://bucket/a/../b", "'..'"),
        ("gs://bucket/a b", "may hold only"),
        ("gs://bucket/x?y=1", "query strings"),
        ("azureml://datastores/workspaceblobstore/paths/x", "long form"),
        ("azureml://subscriptions/s/resourcegroups/r/workspaces/w", "not an Azure ML"),
        ("azureml://subscriptions//resourcegroups/r/workspaces/w/datastores/d", "subscription"),
        ("az://acct1", "not a valid container name"),
        ("az://Acct1/pkgs", "not a storage account name"),
        ("az://acct1/Pkgs", "not a valid container name"),
        ("az://acct1/a--b", "not a valid container name"),
        ("https://example.com/pkgs", "unknown scheme for host"),
        ("http://acct1.blob.core.windows.net/pkgs", "unknown scheme for host"),
        ("https://acct1.blob.core.windows.net/pkgs//x", "empty path segment"),
    ],
)
def test_parse_bad_destinations_name_the_url_and_the_forms(url, why):
    with pytest.raises(DestinationError) as info:
        parse_destination(url)
    assert why in info.value.message
    assert repr(url) in info.value.message
    assert "s3://BUCKET[/PREFIX]" in info.value.message


_schemes = st.sampled_from(
    [
        "",
        "s3://",
        "gs://",
        "azureml://",
        "S3://",
        "azureml://subscriptions/",
        "az://",
        "az://acct1/",
        "https://acct1.blob.core.windows.net/",
        "http://127.0.0.1:1/",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_schemes, tail=st.text(max_size=80))
def test_parse_destination_fuzz_raises_only_destination_error(head, tail):
    try:
        dest = parse_destination(head + tail)
    except DestinationError as exc:
        assert exc.message.startswith("destination ")
        return
    # whatever parses gives keys with no empty, '.' or '..' segments
    key = dest.key("models/x/")
    assert all(seg not in ("", ".", "..") for seg in key.split("/")[:-1])
    assert parse_destination(dest.uri()) == dest


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_parse_destination_rejects_non_strings(value):
    with pytest.raises(DestinationError):
        parse_destination(value)  # type: ignore[arg-type]


def test_blob_destinations_name_their_objects_in_the_form_they_came_in():
    assert parse_destination("az://acct1/pkgs/p").uri("models/d/") == "az://acct1/pkgs/p/models/d/"
    url = "https://acct1.blob.core.chinacloudapi.cn/pkgs/p"
    assert parse_destination(url).uri("k") == f"{url}/k"
