"""The upload's user-facing errors: each is one line that the CLI prints before exiting 2."""

from __future__ import annotations


class UploadError(Exception):
    """A user-facing problem: the CLI prints its message on one line and exits 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DestinationError(UploadError, ValueError):
    """The --to URL is not one of the accepted forms."""


class PackageError(UploadError):
    """The package folder is missing, or its manifest is unreadable or inconsistent."""


class HashMismatchError(UploadError):
    """A local file's bytes do not match its manifest entry (size or sha256)."""


class CredentialsError(UploadError):
    """The cloud SDK found no usable credentials in its default chain."""


class StoreError(UploadError):
    """The store refused a request (no such bucket, access denied, ...)."""
