"""``genai-endpoints synth``: the offline plan of a stack, under Pulumi's mock runtime.

Registered in ``genai_endpoints/cli.py``. Imports pulumi and the
provider SDKs only when run, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from genai_endpoints.commands.consoles import fail

# Per resource type: the inputs worth a column in the table (the JSON has all of them).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket", "forceDestroy"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("versioningConfiguration",),
    "aws:ecr/repository:Repository": ("name", "imageTagMutability"),
    "aws:sagemaker/model:Model": ("primaryContainer.image", "enableNetworkIsolation"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "productionVariants",
        "asyncInferenceConfig",
    ),
    "pulumi-python:dynamic/sagemaker:Endpoint": (
        "endpoint_name",
        "deployment_config.BlueGreenUpdatePolicy",
        "wait_s",
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", "metricName", "threshold"),
    "aws:appautoscaling/target:Target": ("minCapacity", "maxCapacity"),
    "aws:appautoscaling/policy:Policy": ("policyType",),
    "aws:kms/key:Key": ("enableKeyRotation",),
    "pulumi:providers:aws": ("region",),
    "docker-build:index:Image": ("exports", "dockerfile.location", "platforms"),
    "pulumi-python:dynamic/weights:Upload": ("uri", "digest"),
    "gcp:storage/bucket:Bucket": ("name", "uniformBucketLevelAccess", "publicAccessPrevention"),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", "kmsKeyName"),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("region", "dedicatedEndpointEnabled"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("role", "member"),
    "pulumi-python:dynamic/vertex:ModelDeployment": (
        "model.containerSpec.imageUri",
        "model.artifactUri",
        "inference_timeout",
    ),
    "azure-native:machinelearningservices:EnvironmentVersion": ("properties.image",),
    "azure-native:machinelearningservices:ModelVersion": ("properties.modelUri",),
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
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            parts.append(f"{key}={text if len(text) <= 160 else text[:157] + '...'}")
    if resource.get("depends_on"):
        parts.append("after: " + ", ".join(resource["depends_on"]))
    return "\n".join(parts)


def as_json(result: Any) -> dict[str, Any]:
    """The plan as data: where it came from, every resource with what it waits for, the
    estimated cost per cloud and the stack outputs."""
    return {
        "project": result.project,
        "stack": result.stack,
        "project_dir": str(result.project_dir),
        "stack_file": str(result.stack_file),
        "resources": [
            {
                "type": r["type"],
                "name": r["name"],
                "parent": r.get("parent"),
                "depends_on": r.get("depends_on", []),
                "inputs": r["inputs"],
            }
            for r in result.resources
        ],
        "usd_per_hour": result.cost(),
        "outputs": result.outputs,
    }


def synth(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml.")
    ],
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Stack file to read instead of Pulumi.<stack>.yaml."),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: every resource with its inputs and dependencies, the "
            "estimated $/hour and the stack outputs.",
        ),
    ] = False,
    package: Annotated[
        Path | None,
        typer.Option(
            "--package", help="Package folder (holding <cloud>/manifest.json); overrides config."
        ),
    ] = None,
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project-dir",
            help="The project folder (holding Pulumi.yaml); default: the current folder or "
            "the nearest one above it.",
        ),
    ] = None,
) -> None:
    """Plan a stack offline: every resource it would create, with no cloud and no Pulumi CLI."""
    from infra.synth import SynthError
    from infra.synth import synth as run_synth

    try:
        result = run_synth(stack, config_file, package_dir=package, project_dir=project_dir)
    except SynthError as exc:
        fail(str(exc))
    if json_out:
        typer.echo(json.dumps(as_json(result), indent=2, sort_keys=True))
        return
    out = Console()
    if not out.is_terminal:  # piped or captured: no 80-column wrap of type tokens and URIs
        out = Console(width=200)
    out.print(
        f"project folder {result.project_dir}, stack file {result.stack_file}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    table = Table(title=f"{result.project} / {result.stack}: {len(result.resources)} resources")
    table.add_column("type", overflow="fold")
    table.add_column("name", overflow="fold")
    table.add_column("key inputs, and what it waits for", overflow="fold")
    for r in result.resources:
        table.add_row(escape(r["type"]), escape(r["name"]), escape(_summary(r)))
    out.print(table)
    for cloud in ("aws", "gcp", "azure"):
        o = result.outputs.get(cloud)
        if isinstance(o, dict):
            out.print(
                f"{cloud}: {o.get('endpoint_name')} ≈ ${o.get('usd_per_hour_min')}/h at min, "
                f"${o.get('usd_per_hour_max')}/h at max ({o.get('price_note', 'estimate')})",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            out.print(
                f"{cloud}: image {o.get('image')}", highlight=False, markup=False, soft_wrap=True
            )
