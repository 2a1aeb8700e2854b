"""AWS in the program: the SageMaker component and its stack outputs."""

from __future__ import annotations

import pulumi

from infra.aws.config import AwsPlan
from infra.aws.endpoint import SageMakerEndpoint, SageMakerEndpointArgs
from infra.config import StackConfig


def deploy(cfg: StackConfig, plan: AwsPlan) -> None:
    """Create the SageMaker component and export the ``aws`` stack output."""
    component = SageMakerEndpoint(
        "sagemaker",
        SageMakerEndpointArgs(
            plan=plan, task=cfg.settings.task, tags=cfg.tags(), hub_token=cfg.hub_token
        ),
    )
    inst = plan.instance
    if plan.mode == "async":
        invoke = (
            f"aws s3 cp request.json s3://<bucket>/async/inputs/request.json && "
            f"aws sagemaker-runtime invoke-endpoint-async --region {plan.settings.region} "
            f"--endpoint-name {plan.endpoint_name} --content-type application/json "
            "--input-location s3://<bucket>/async/inputs/request.json"
        )
    else:
        invoke = (
            f"aws sagemaker-runtime invoke-endpoint --region {plan.settings.region} "
            f"--endpoint-name {plan.endpoint_name} --content-type application/json "
            "--body fileb://request.json response.json"
        )
    invoke_out = component.bucket_name.apply(lambda b: invoke.replace("<bucket>", b))
    pulumi.export(
        "aws",
        {
            "endpoint_name": component.endpoint_name,
            "endpoint_arn": component.endpoint_arn,
            "region": plan.settings.region,
            "mode": plan.mode,
            "instance_type": inst.name,
            "min_instances": plan.settings.min_instances,
            "max_instances": plan.settings.max_instances,
            "bucket": component.bucket_name,
            "weights_uri": component.bucket_name.apply(
                lambda b: f"s3://{b}/{plan.manifest.weights.key_prefix}"
            ),
            "invoke": invoke_out,
            "usd_per_hour_min": plan.cost_min,
            "usd_per_hour_max": plan.cost_max,
            "price_note": f"on-demand list price, {inst.region}, {inst.price_date}; estimate",
        },
    )
