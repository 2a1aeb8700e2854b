"""``genai-endpoints synth``: the offline plan of a stack, under Pulumi's mock runtime.

Registered in ``cli.py`` with ``app.command("synth")(synth)``. Imports pulumi and the
provider SDKs only when run, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

# Per resource type: the inputs worth a column in the table (the JSON has all of them).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket", "forceDestroy"),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("key",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("versioningConfiguration",),
    "aws:sagemaker/model:Model": ("primaryContainer.image", "enableNetworkIsolation"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "productionVariants",
        "asyncInferenceConfig",
    ),
    "aws:sagemaker/endpoint:Endpoint": ("name", "deploymentConfig.blueGreenUpdatePolicy"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", "metricName", "threshold"),
    "aws:appautoscaling/target:Target": ("minCapacity", "maxCapacity"),
    "aws:appautoscaling/policy:Policy": ("policyType",),
    "aws:kms/key:Key": ("enableKeyRotation",),
    "pulumi:providers:aws": ("region",),
    "gcp:storage/bucket:Bucket": ("name", "uniformBucketLevelAccess", "publicAccessPrevention"),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("region", "dedicatedEndpointEnabled"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("role", "member"),
    "pulumi-python:dynamic/vertex:ModelDeployment": ("machineType", "acceleratorType"),
    "azure-native:machinelearningservices:OnlineEndpoint": ("endpointName",),
    "azure-native:machinelearningservices:OnlineDeployment": ("deploymentName", "sku"),
    "azure-native:authorization:RoleAssignment": ("roleDefinitionId",),
    "azure-native:monitor:AutoscaleSetting": ("name",),
}


def _pick(inputs: dict[str, Any], dotted: str) -> Any:
    value: Any = inputs
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _summary(resource: dict[str, Any]) -> str:
    keys = KEY_INPUTS.get(resource["type"], ())
    parts = []
    for key in keys:
        value = _pick(resource["inputs"], key)
        if value is not None:
            text = json.dumps(value, sort_keys=True, default=str)
            parts.append(f"{key}={text if len(text) <= 120 else text[:117] + '...'}")
    return "\n".join(parts)


def synth(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml.")
    ],
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Stack file to read instead of Pulumi.<stack>.yaml."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help='Print a JSON list of {"type", "name", "inputs"}.')
    ] = False,
    package: Annotated[
        Path | None,
        typer.Option(
            "--package", help="Package folder (holding <cloud>/manifest.json); overrides config."
        ),
    ] = None,
) -> None:
    """Plan a stack offline: every resource it would create, with no cloud and no Pulumi CLI."""
    err = Console(stderr=True)
    from infra.synth import SynthError
    from infra.synth import synth as run_synth

    try:
        result = run_synth(stack, config_file, package_dir=package)
    except SynthError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if json_out:
        data = [
            {"type": r["type"], "name": r["name"], "inputs": r["inputs"]} for r in result.resources
        ]
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    out = Console()
    table = Table(title=f"{result.project} / {result.stack}: {len(result.resources)} resources")
    table.add_column("type", overflow="fold")
    table.add_column("name", overflow="fold")
    table.add_column("key inputs", overflow="fold")
    for r in result.resources:
        table.add_row(r["type"], r["name"], _summary(r))
    out.print(table)
    for cloud in ("aws", "gcp", "azure"):
        o = result.outputs.get(cloud)
        if isinstance(o, dict):
            out.print(
                f"{cloud}: {o.get('endpoint_name')} ≈ ${o.get('usd_per_hour_min')}/h at min, "
                f"${o.get('usd_per_hour_max')}/h at max ({o.get('price_note', 'estimate')})",
                highlight=False,
            )
