"""AWS in the program: the SageMaker component and its stack outputs (docs/pulumi.md)."""

from __future__ import annotations

import pulumi

from infra.aws.component import SageMakerEndpoint, SageMakerEndpointArgs
from infra.aws.config import SAGEMAKER_ASYNC_TIMEOUT_S, AwsPlan
from infra.aws.outputs import AwsOutputs
from infra.aws.storage import ASYNC_FAILURE_PREFIX, ASYNC_INPUT_PREFIX, ASYNC_OUTPUT_PREFIX
from infra.config import StackConfig


def invoke_command(plan: AwsPlan, bucket: str) -> str:
    """A copy-paste CLI call for the endpoint (async: with the 1 h invocation timeout,
    which InvokeEndpointAsync otherwise caps at 900 s)."""
    region, name = plan.settings.region, plan.endpoint_name
    if plan.mode == "async":
        key = f"s3://{bucket}/{ASYNC_INPUT_PREFIX}request.json"
        return (
            f"aws s3 cp request.json {key} && "
            f"aws sagemaker-runtime invoke-endpoint-async --region {region} "
            f"--endpoint-name {name} --content-type application/json "
            f"--invocation-timeout-seconds {plan.timeout_s} --input-location {key}"
        )
    return (
        f"aws sagemaker-runtime invoke-endpoint --region {region} --endpoint-name {name} "
        "--content-type application/json --body fileb://request.json response.json"
    )


def deploy(cfg: StackConfig, plan: AwsPlan) -> None:
    """Create the SageMaker component and export the ``aws`` stack output (its keys:
    :class:`infra.aws.outputs.AwsOutputs`)."""
    component = SageMakerEndpoint(
        "sagemaker",
        SageMakerEndpointArgs(plan=plan, task=cfg.settings.task, tags=cfg.tags()),
    )
    inst = plan.instance
    bucket = component.bucket_name
    out: dict[str, pulumi.Input] = {
        "endpoint_name": component.endpoint_name,
        "endpoint_arn": component.endpoint_arn,
        "region": plan.settings.region,
        "mode": plan.mode,
        "instance_type": inst.name,
        "min_instances": plan.settings.min_instances,
        "max_instances": plan.settings.max_instances,
        "bucket": bucket,
        "weights_uri": bucket.apply(lambda b: f"s3://{b}/{plan.manifest.weights.key_prefix}"),
        "image": component.image,
        "model_id": plan.manifest.model.id,
        "model_revision": plan.manifest.model.revision,
        "timeout_s": plan.timeout_s,
        "invoke": bucket.apply(lambda b: invoke_command(plan, b)),
        "usd_per_hour_min": plan.cost_min,
        "usd_per_hour_max": plan.cost_max,
        "price_note": f"on-demand list price, {inst.region}, {inst.price_date}; estimate",
    }
    if plan.mode == "async":
        out.update(
            async_input_uri=bucket.apply(lambda b: f"s3://{b}/{ASYNC_INPUT_PREFIX}"),
            async_output_uri=bucket.apply(lambda b: f"s3://{b}/{ASYNC_OUTPUT_PREFIX}"),
            async_failure_uri=bucket.apply(lambda b: f"s3://{b}/{ASYNC_FAILURE_PREFIX}"),
            async_invocation_timeout_s=SAGEMAKER_ASYNC_TIMEOUT_S,
            success_topic_arn=component.success_topic_arn,
            error_topic_arn=component.error_topic_arn,
        )
    pulumi.export("aws", AwsOutputs.export(**out))
