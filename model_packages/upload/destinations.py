"""Where a package goes: one URL form per store, parsed into a :class:`Destination`.

- ``s3://BUCKET[/PREFIX]``
- ``gs://BUCKET[/PREFIX]``
- ``az://ACCOUNT/CONTAINER[/PREFIX]``: a blob container of a storage account, reached at
  ``AZURE_STORAGE_CONNECTION_STRING`` when that is set (Azurite, sovereign clouds through its
  ``EndpointSuffix`` or ``BlobEndpoint``), else at ``https://ACCOUNT.blob.core.windows.net``;
- ``https://ACCOUNT.blob.SUFFIX/CONTAINER[/PREFIX]``: the container's own URL, any endpoint
  suffix (``core.usgovcloudapi.net``, ``core.chinacloudapi.cn``, ...), and the path-style
  ``http://127.0.0.1:PORT/ACCOUNT/CONTAINER[/PREFIX]`` of a local emulator (Azurite);
- ``azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PREFIX``
  (the long Azure ML datastore URI, usually the workspace's default datastore,
  ``workspaceblobstore``; ``/paths/PREFIX`` may be left out for the container's root), whose
  container Azure ML's management API names.

The same forms name the client's output cache (``genai_endpoints/client/cache.py``), so a
URL means the same place to every command. Prefixes are checked segment by segment: a key
built from one never holds an empty, ``.`` or ``..`` segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from model_packages.upload.errors import DestinationError

ACCEPTED_FORMS = (
    "s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], az://ACCOUNT/CONTAINER[/PREFIX], "
    "https://ACCOUNT.blob.SUFFIX/CONTAINER[/PREFIX], or "
    "azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PREFIX"
)

Scheme = Literal["s3", "gs", "az", "azureml"]

KEY_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=+,@~-]+")
"""What one ``/``-separated segment of an object key may hold."""

_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_AZ_NAME = re.compile(r"[A-Za-z0-9._()-]+")
# storage account: 3-24 lowercase letters and digits; container: 3-63 lowercase letters,
# digits and single hyphens, starting and ending with a letter or digit
# (https://learn.microsoft.com/en-us/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata)
_AZ_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_AZ_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_BLOB_HOST = re.compile(r"(?P<account>[^.]+)\.blob\.(?P<suffix>[a-z0-9.-]+[a-z0-9])(?::\d+)?")
_LOOPBACK = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?")
_AZURE = re.compile(
    r"azureml://subscriptions/(?P<sub>[^/]*)/resourcegroups/(?P<rg>[^/]*)"
    r"/workspaces/(?P<ws>[^/]*)/datastores/(?P<ds>[^/]*)(?:/paths(?:/(?P<path>.*))?)?",
    re.IGNORECASE | re.DOTALL,
)
_MAX_PREFIX = 512


@dataclass(frozen=True)
class Destination:
    """Where a package goes. ``bucket`` is the S3/GCS bucket, the blob container (``az``) or
    the Azure ML datastore name; ``prefix`` has no leading or trailing slash ('' for the
    bucket's root). An ``az`` destination names its storage ``account``, and its
    ``account_url`` when it was given as a URL (None: from the connection string, or public
    Azure's)."""

    scheme: Scheme
    bucket: str
    prefix: str = ""
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    account: str | None = None
    account_url: str | None = None

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a key below the prefix)."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def uri(self, relative: str = "") -> str:
        """The URI of ``relative`` (a key or key prefix below the prefix) in this scheme."""
        key = self.key(relative) if relative else self.prefix
        if self.scheme == "azureml":
            return (
                f"azureml://subscriptions/{self.subscription}/resourcegroups/"
                f"{self.resource_group}/workspaces/{self.workspace}/datastores/"
                f"{self.bucket}/paths/{key}"
            )
        if self.scheme == "az":
            root = self.account_url or f"az://{self.account}"
            return f"{root}/{self.bucket}/{key}"
        return f"{self.scheme}://{self.bucket}/{key}"


def _bad(url: object, why: str) -> DestinationError:
    return DestinationError(f"destination {url!r}: {why}; expected {ACCEPTED_FORMS}")


def _clean_prefix(url: str, raw: str) -> str:
    prefix = raw.rstrip("/")
    if not prefix:
        return ""
    if len(prefix) > _MAX_PREFIX:
        raise _bad(url, f"the prefix is longer than {_MAX_PREFIX} characters")
    for segment in prefix.split("/"):
        if not segment:
            raise _bad(url, "the prefix has an empty path segment ('//')")
        if segment in (".", ".."):
            raise _bad(url, f"the prefix may not contain a {segment!r} segment")
        if not KEY_SEGMENT.fullmatch(segment):
            raise _bad(
                url,
                f"prefix segment {segment!r} may hold only letters, digits and !_.*'()=+,@~-",
            )
    return prefix


def parse_destination(url: str) -> Destination:
    """Parse a --to URL; raises :class:`DestinationError` (naming the URL) for anything else."""
    if not isinstance(url, str):
        raise _bad(url, "not a string")
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("s3", "gs", "az", "https", "http", "azureml"):
        raise _bad(url, "unknown scheme" if sep else "not a URL")
    if any(c in rest for c in "?#"):
        raise _bad(url, "query strings and fragments are not allowed")
    if scheme == "azureml":
        return _parse_azureml(url, text)
    if scheme in ("az", "https", "http"):
        return _parse_blob(url, scheme, rest)
    bucket, _, raw_prefix = rest.partition("/")
    pattern, allowed = (
        (_S3_BUCKET, "lowercase letters, digits, '-' and '.'")
        if scheme == "s3"
        else (_GCS_BUCKET, "lowercase letters, digits, '-', '_' and '.'")
    )
    if not pattern.fullmatch(bucket) or ".." in bucket:
        raise _bad(
            url,
            f"{bucket!r} is not a valid bucket name ({allowed}, "
            "starting and ending with a letter or digit)",
        )
    return Destination(scheme=scheme, bucket=bucket, prefix=_clean_prefix(url, raw_prefix))


def _parse_azureml(url: str, text: str) -> Destination:
    match = _AZURE.fullmatch(text)
    if match is None:
        if text.lower().startswith("azureml://datastores/"):
            raise _bad(url, "use the long form, which names subscription, group and workspace")
        raise _bad(url, "not an Azure ML datastore URI")
    parts = {
        "subscription": match["sub"],
        "resource group": match["rg"],
        "workspace": match["ws"],
        "datastore": match["ds"],
    }
    for what, value in parts.items():
        if not _AZ_NAME.fullmatch(value):
            raise _bad(url, f"the {what} {value!r} is empty or has characters Azure does not allow")
    return Destination(
        scheme="azureml",
        bucket=match["ds"],
        prefix=_clean_prefix(url, match["path"] or ""),
        subscription=match["sub"],
        resource_group=match["rg"],
        workspace=match["ws"],
    )


def _parse_blob(url: str, scheme: str, rest: str) -> Destination:
    """``az://ACCOUNT/CONTAINER/P``, ``https://ACCOUNT.blob.SUFFIX/CONTAINER/P`` or the
    path-style ``http://127.0.0.1:PORT/ACCOUNT/CONTAINER/P`` of an emulator."""
    host, _, path = rest.partition("/")
    account_url = None
    if scheme == "az":
        account = host
    elif _LOOPBACK.fullmatch(host.lower()):
        account, _, path = path.partition("/")
        account_url = f"{scheme}://{host.lower()}/{account}"
    elif scheme == "https" and (match := _BLOB_HOST.fullmatch(host.lower())):
        account = match["account"]
        account_url = f"https://{host.lower()}"
    else:
        raise _bad(
            url,
            f"unknown scheme for host {host!r}: an http(s) URL must be a blob container's "
            "(https://ACCOUNT.blob.SUFFIX/CONTAINER, or http://127.0.0.1:PORT/ACCOUNT/CONTAINER "
            "for a local emulator)",
        )
    if not _AZ_ACCOUNT.fullmatch(account):
        raise _bad(
            url, f"{account!r} is not a storage account name (3-24 lowercase letters, digits)"
        )
    container, _, raw_prefix = path.partition("/")
    if not _AZ_CONTAINER.fullmatch(container):
        raise _bad(
            url,
            f"{container!r} is not a valid container name (3-63 lowercase letters, digits and "
            "single '-', starting and ending with a letter or digit)",
        )
    return Destination(
        scheme="az",
        bucket=container,
        prefix=_clean_prefix(url, raw_prefix),
        account=account,
        account_url=account_url,
    )
