"""The ``aws`` stack output: what ``infra/aws/program.py`` exports, what the client reads."""

from __future__ import annotations

from typing import Literal

from infra.outputs import StackOutput


class AwsOutputs(StackOutput):
    endpoint_name: str
    region: str
    mode: Literal["realtime", "async"] = "realtime"
    endpoint_arn: str | None = None
    instance_type: str | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    bucket: str | None = None
    weights_uri: str | None = None
    timeout_s: int | None = None
    invoke: str | None = None  # a copy-paste CLI call
    # async endpoints only
    async_input_uri: str | None = None
    async_output_uri: str | None = None
    async_failure_uri: str | None = None
    async_invocation_timeout_s: int | None = None
    success_topic_arn: str | None = None
    error_topic_arn: str | None = None
