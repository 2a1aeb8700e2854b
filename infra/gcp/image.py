"""The runtime image: built and pushed by digest to an Artifact Registry repository of the
stack (:mod:`infra.runtime`), or a pinned reference used as it is.

The Vertex AI service agent may pull from that one repository, nothing else.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_gcp.artifactregistry as artifactregistry
from pulumi_gcp.organizations import get_client_config_output

from infra.gcp.project import Agents
from infra.gcp.scope import Scope
from infra.runtime import IMAGE_NAME, pushed_image


def repository_id(stack: str) -> str:
    """Artifact Registry repository id: ``[a-z][a-z0-9-]*``, at most 63 characters."""
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", f"genai-{stack}".lower())).strip("-")
    return base[:63].rstrip("-")


def runtime_image(
    scope: Scope, agents: Agents, key_grants: list[pulumi.Resource]
) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
    """The image reference (``repo@sha256:…``) and what a deployment of it must wait for."""
    if not scope.plan.image.built:
        return pulumi.Output.from_input(scope.plan.image.pinned), []
    repo = repository(scope, key_grants)
    image = push(scope, repo)
    pull = artifactregistry.RepositoryIamMember(
        f"{scope.name}-agent-pulls-image",
        project=scope.plan.project,
        location=scope.plan.settings.region,
        repository=repo.name,
        role="roles/artifactregistry.reader",
        member=agents.vertex.member,
        opts=scope.child(),
    )
    return image, [pull]


def repository(scope: Scope, key_grants: list[pulumi.Resource]) -> artifactregistry.Repository:
    plan, cfg = scope.plan, scope.plan.settings
    return artifactregistry.Repository(
        f"{scope.name}-registry",
        project=plan.project,
        location=cfg.region,
        repository_id=repository_id(plan.stack),
        format="DOCKER",
        description=f"genai-endpoints {plan.stack}: the runtime image, by digest",
        docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
        kms_key_name=cfg.kms_key,
        labels=scope.labels,
        opts=scope.child(depends_on=[*scope.needs("artifactregistry.googleapis.com"), *key_grants]),
    )


def push(scope: Scope, repo: artifactregistry.Repository) -> pulumi.Output[str]:
    """Build and push with the deploying identity's access token (a secret, never stored)."""
    import pulumi_docker_build as docker_build

    plan = scope.plan
    host = f"{plan.settings.region}-docker.pkg.dev"
    project = plan.project
    repository = repo.repository_id.apply(lambda r: f"{host}/{project}/{r}/{IMAGE_NAME}")
    client = get_client_config_output(opts=scope.invoke())
    registry = docker_build.RegistryArgs(
        address=host,
        username="oauth2accesstoken",  # Artifact Registry's name for a bearer token
        password=pulumi.Output.secret(client.access_token),
    )
    return pushed_image(
        f"{scope.name}-image",
        plan.image,
        repository,
        registry,
        {"genai-endpoints.engine-version": plan.manifest.engine_version},
        scope.own(depends_on=[repo]),
    )
