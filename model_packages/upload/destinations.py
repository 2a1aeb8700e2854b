"""Where a package goes: one URL form per cloud, parsed into a :class:`Destination`.

- ``s3://BUCKET[/PREFIX]``
- ``gs://BUCKET[/PREFIX]``
- ``azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PREFIX``
  (the long Azure ML datastore URI, usually the workspace's default datastore,
  ``workspaceblobstore``; ``/paths/PREFIX`` may be left out for the container's root).

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
    "s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], or "
    "azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PREFIX"
)

Scheme = Literal["s3", "gs", "azureml"]

KEY_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=+,@~-]+")
"""What one ``/``-separated segment of an object key may hold."""

_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_AZ_NAME = re.compile(r"[A-Za-z0-9._()-]+")
_AZURE = re.compile(
    r"azureml://subscriptions/(?P<sub>[^/]*)/resourcegroups/(?P<rg>[^/]*)"
    r"/workspaces/(?P<ws>[^/]*)/datastores/(?P<ds>[^/]*)(?:/paths(?:/(?P<path>.*))?)?",
    re.IGNORECASE | re.DOTALL,
)
_MAX_PREFIX = 512


@dataclass(frozen=True)
class Destination:
    """Where a package goes. ``bucket`` is the S3/GCS bucket or the Azure ML datastore name;
    ``prefix`` has no leading or trailing slash ('' for the bucket's root)."""

    scheme: Scheme
    bucket: str
    prefix: str = ""
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None

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
    if not sep or scheme not in ("s3", "gs", "azureml"):
        raise _bad(url, "unknown scheme" if sep else "not a URL")
    if any(c in rest for c in "?#"):
        raise _bad(url, "query strings and fragments are not allowed")
    if scheme == "azureml":
        return _parse_azureml(url, text)
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
