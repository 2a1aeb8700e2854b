"""boto3 clients and botocore errors, the same way for SageMaker and Bedrock.

botocore's own retries are off (one attempt): ``retry.py`` honours the service's answer
and the time budget instead. Credentials come from boto3's default chain.
"""

from __future__ import annotations

from genai_endpoints.client.errors import CallError, ConfigError, parse_retry_after


def boto_client(service: str, region: str | None, timeout: float):
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.session.Session().client(service, region_name=region, config=config)


def boto_error(exc: Exception, label: str) -> Exception:
    """A botocore failure as ``CallError`` (or ``ConfigError`` for missing credentials)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return ConfigError(f"{label}: no AWS credentials in boto3's default chain")
    if isinstance(exc, bx.NoRegionError):
        return ConfigError(f"{label}: no AWS region (set region: or AWS_REGION)")
    if isinstance(exc, bx.ReadTimeoutError | bx.ConnectTimeoutError):
        return CallError(f"{label}: no answer in time", timeout=True)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionClosedError):
        return CallError(f"{label}: cannot connect", connection=True)
    if isinstance(exc, bx.ClientError):
        resp = exc.response
        err = resp.get("Error", {})
        code = err.get("Code", "")
        message = err.get("Message") or code
        meta = resp.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode")
        headers = meta.get("HTTPHeaders") or {}
        if code == "ModelError" and resp.get("OriginalStatusCode"):
            # the container answered: its own status decides retry and fallback
            status = int(resp["OriginalStatusCode"])
            message = resp.get("OriginalMessage") or message
        elif code in ("ThrottlingException", "ModelNotReadyException", "TooManyRequestsException"):
            status = 429
        elif code in ("ServiceUnavailable", "ServiceUnavailableException"):
            status = 503
        elif code in ("ModelTimeoutException",):
            return CallError(f"{label}: {code}: {message}", timeout=True)
        return CallError(
            f"{label}: {code or status}: {_short(message)}",
            status=status,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    if isinstance(exc, bx.BotoCoreError):
        return CallError(f"{label}: {type(exc).__name__}", connection=True)
    return exc


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:297] + "..."


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ConfigError(f"not an s3:// location: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
