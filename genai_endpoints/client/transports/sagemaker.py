"""Our SageMaker endpoint: real-time ``InvokeEndpoint`` and asynchronous
``InvokeEndpointAsync`` (input uploaded to S3, then the output or failure object awaited).

Async completion is found by polling S3 for ``OutputLocation`` / ``FailureLocation`` with a
growing interval; the stack's SNS topics would need a subscribed queue the client does not
own, so they are not used. The input object is deleted afterwards (best effort).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid

from genai_endpoints.client.errors import CallError
from genai_endpoints.client.outputs import AwsOutputs
from genai_endpoints.client.transports.aws import boto_client, boto_error, split_s3
from genai_endpoints.client.transports.base import (
    Answer,
    Progress,
    Transport,
    envelope,
    error_message,
    parse_contract_answer,
)
from scoring.schema import GenerationRequest
from scoring.server.contracts import CONTRACTS

# InvocationTimeoutSeconds' maximum: the async mode's time limit
ASYNC_MAX_TIMEOUT_S = CONTRACTS["sagemaker"].limit("async").timeout_s


class SageMakerRealtime(Transport):
    kind = "sagemaker"

    def __init__(self, section: AwsOutputs, runtime=None) -> None:
        self.section = section
        self.identity = f"sagemaker:{section.region}/{section.endpoint_name}"
        self.model_id = section.model_id
        self.model_revision = section.model_revision
        self.label = f"sagemaker endpoint {section.endpoint_name}"
        self._runtime = runtime
        self._timeout: float | None = None

    def runtime(self, timeout: float):
        if self._runtime is None or (self._timeout is not None and self._timeout != timeout):
            self._runtime = boto_client("sagemaker-runtime", self.section.region, timeout)
            self._timeout = timeout
        return self._runtime

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        from botocore.exceptions import BotoCoreError, ClientError

        body = json.dumps(envelope("sagemaker", req)).encode()
        try:
            resp = self.runtime(timeout).invoke_endpoint(
                EndpointName=self.section.endpoint_name,
                Body=body,
                ContentType="application/json",
                Accept="application/json",
            )
            data = resp["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise boto_error(exc, self.label) from None
        try:
            payload = json.loads(data)
        except ValueError:
            raise CallError(f"{self.label}: the answer is not JSON", status=502) from None
        return parse_contract_answer(payload, self.label)


class SageMakerAsync(Transport):
    kind = "sagemaker-async"

    def __init__(self, section: AwsOutputs, poll_s: float = 2.0, runtime=None, s3=None) -> None:
        self.section = section
        self.identity = f"sagemaker-async:{section.region}/{section.endpoint_name}"
        self.model_id = section.model_id
        self.model_revision = section.model_revision
        self.label = f"sagemaker async endpoint {section.endpoint_name}"
        self.poll_s = poll_s
        self._runtime = runtime
        self._s3 = s3
        self.sleep = time.sleep

    def clients(self, timeout: float):
        if self._runtime is None:
            self._runtime = boto_client("sagemaker-runtime", self.section.region, 60)
        if self._s3 is None:
            self._s3 = boto_client("s3", self.section.region, 60)
        return self._runtime, self._s3

    def input_location(self) -> tuple[str, str]:
        base = self.section.async_input_uri or f"s3://{self.section.bucket}/async/inputs/"
        bucket, prefix = split_s3(base)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return bucket, f"{prefix}{uuid.uuid4().hex}.json"

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        from botocore.exceptions import BotoCoreError, ClientError

        runtime, s3 = self.clients(timeout)
        bucket, key = self.input_location()
        body = json.dumps(envelope("sagemaker", req)).encode()
        start = time.monotonic()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
            try:
                resp = runtime.invoke_endpoint_async(
                    EndpointName=self.section.endpoint_name,
                    InputLocation=f"s3://{bucket}/{key}",
                    ContentType="application/json",
                    Accept="application/json",
                    InvocationTimeoutSeconds=int(min(ASYNC_MAX_TIMEOUT_S, max(1, timeout))),
                )
                return self._await(s3, resp, start, timeout, progress)
            finally:
                # a bucket policy may forbid deletes; the stack's bucket lifecycle rule
                # expires async/ after aws.lifecycle.asyncExpirationDays (infra/aws/storage.py)
                with contextlib.suppress(ClientError, BotoCoreError):
                    s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise boto_error(exc, self.label) from None

    def _await(self, s3, resp: dict, start: float, timeout: float, progress: Progress | None):
        output = resp["OutputLocation"]
        failure = resp.get("FailureLocation")
        interval = self.poll_s
        while True:
            data = _get_if_exists(s3, output)
            if data is not None:
                try:
                    payload = json.loads(data)
                except ValueError:
                    raise CallError(f"{self.label}: the output is not JSON", status=502) from None
                return parse_contract_answer(payload, self.label)
            if failure:
                error = _get_if_exists(s3, failure)
                if error is not None:
                    raise CallError(
                        f"{self.label}: failed: {error_message(error, 'see the failure object')}",
                        status=_failure_status(error),
                    )
            elapsed = time.monotonic() - start
            if elapsed + interval > timeout:
                raise CallError(
                    f"{self.label}: no output after {elapsed:.0f} s (timeout_s {timeout:g})",
                    timeout=True,
                )
            if progress:
                progress(f"waiting for the async output ({elapsed:.0f} s)")
            self.sleep(interval)
            interval = min(interval * 1.5, 15.0)


def _get_if_exists(s3, uri: str) -> bytes | None:
    from botocore.exceptions import ClientError

    bucket, key = split_s3(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def _failure_status(body: bytes) -> int:
    """The status our server put in its JSON error, else 500."""
    try:
        code = json.loads(body)["error"]["code"]
        return int(code) if 400 <= int(code) <= 599 else 500
    except (ValueError, KeyError, TypeError):
        return 500
