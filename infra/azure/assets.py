"""The workspace assets a deployment names: the model version (the weights folder in the
packages datastore) and the environment version (the runtime image with its routes).

Both are immutable and content-addressed (weights digest, image digest) and shared by
every deployment, so they are retained on delete.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_azure_native.machinelearningservices as ml

from infra.azure.config import AzurePlan
from infra.azure.scope import Scope

KEEP = dict(retain_on_delete=True)  # versions are content-addressed and shared


def asset_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-")[:200] or "model"


def inference_config(plan: AzurePlan) -> ml.InferenceContainerPropertiesArgs:
    """The custom container's routes (docs/architecture.md, azureml): no scoring script,
    no conda."""
    rt = plan.manifest.runtime
    return ml.InferenceContainerPropertiesArgs(
        liveness_route=ml.RouteArgs(path=rt.health_route, port=rt.port),
        readiness_route=ml.RouteArgs(path=rt.readiness_route, port=rt.port),
        scoring_route=ml.RouteArgs(path=rt.predict_route, port=rt.port),
    )


def model_version(
    scope: Scope,
    datastore_uri: pulumi.Output[str],
    depends_on: list[pulumi.Resource],
) -> ml.ModelVersion:
    """The weights folder (Azure mounts it under ``AZUREML_MODEL_DIR``)."""
    manifest = scope.plan.manifest
    prefix = manifest.weights.key_prefix
    return ml.ModelVersion(
        f"{scope.name}-model",
        name=asset_name(manifest.model.id),
        version=manifest.weights.digest[:16],
        properties=ml.ModelVersionPropertiesArgs(
            model_uri=datastore_uri.apply(lambda u: f"{u}/paths/{prefix}"),
            model_type="custom_model",
            description=f"{manifest.model.id}@{manifest.model.revision}",
            properties={
                "weights_digest": manifest.weights.digest,
                "revision": manifest.model.revision,
            },
            tags={**scope.tags, "weights-digest": manifest.weights.digest[:16]},
        ),
        opts=scope.child(depends_on=depends_on, **KEEP),
        **scope.in_workspace,
    )


def environment_version(
    scope: Scope, image: pulumi.Output[str], workspace: ml.Workspace
) -> ml.EnvironmentVersion:
    """The image as ``repo@sha256:…`` with its ``inferenceConfig``."""
    return ml.EnvironmentVersion(
        f"{scope.name}-environment",
        name="genai-runtime",
        version=image.apply(lambda ref: ref.rsplit("sha256:", 1)[-1][:16]),
        properties=ml.EnvironmentVersionPropertiesArgs(
            image=image,
            inference_config=inference_config(scope.plan),
            os_type="Linux",
            description=(
                f"the genai-endpoints runtime image, engine {scope.plan.manifest.engine_version}"
            ),
            tags=scope.tags,
        ),
        opts=scope.child(depends_on=[workspace], **KEEP),
        **scope.in_workspace,
    )
