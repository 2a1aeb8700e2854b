"""The Pulumi program: read config once → one component per enabled cloud → outputs.

``pulumi up`` runs this file as a script (``main: infra/`` in ``Pulumi.yaml``);
``infra.synth`` imports it and calls :func:`main` under the mock runtime. A config mistake
stops the program with one message and no traceback (``pulumi.RunError``).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script by the Pulumi language host
    sys.path.insert(0, str(PROJECT_DIR))

import pulumi  # noqa: E402

from infra.config import ConfigError, StackConfig, load  # noqa: E402


def _aws(cfg: StackConfig) -> None:
    from infra.aws import SageMakerEndpoint, SageMakerEndpointArgs

    plan = cfg.aws
    assert plan is not None
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


def main(project_dir: Path | None = None, package_dir: Path | None = None) -> None:
    """Compose the stack. ``package_dir`` overrides ``genai-endpoints:package``."""
    try:
        cfg = load(project_dir or PROJECT_DIR, package_dir)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("environment", cfg.environment)
    pulumi.export("task", cfg.settings.task)
    if cfg.aws is not None:
        _aws(cfg)


if __name__ == "__main__":
    main()
