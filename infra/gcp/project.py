"""What the project needs before the endpoint's own resources: APIs, agents, key grants.

A fresh project has no service agents until something creates them; the grants name them,
so they are created (after their API) instead of assumed. With a CMEK key, only the Cloud
Storage, Vertex AI and Artifact Registry service agents may use it, and only that one key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp.kms as kms
import pulumi_gcp.projects as projects
import pulumi_gcp.storage as storage

from infra.gcp.scope import Scope

BASE_APIS = (
    "aiplatform.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)
KEY_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class Agents:
    """The service agents the grants name."""

    vertex: projects.ServiceIdentity
    registry: projects.ServiceIdentity | None  # only to encrypt a built image's repository


def wanted_apis(scope: Scope) -> list[str]:
    """The APIs this stack's options use, each once, in a stable order."""
    plan, cfg = scope.plan, scope.plan.settings
    wanted = list(BASE_APIS)
    if plan.image.built:
        wanted.append("artifactregistry.googleapis.com")
    if cfg.kms_key:
        wanted.append("cloudkms.googleapis.com")
    if plan.bigquery_dataset:
        wanted.append("bigquery.googleapis.com")
    if cfg.network:
        wanted += ["compute.googleapis.com", "servicenetworking.googleapis.com"]
    if cfg.psc.enabled:
        wanted.append("compute.googleapis.com")
    return list(dict.fromkeys(wanted))


def enable_apis(scope: Scope) -> dict[str, projects.Service]:
    """Turn the APIs on (never off: other workloads in the project may use them)."""
    if not scope.plan.settings.enable_apis:
        return {}
    return {
        api: projects.Service(
            f"{scope.name}-api-{api.split('.')[0]}",
            project=scope.plan.project,
            service=api,
            disable_on_destroy=False,  # other workloads in the project may use it
            opts=scope.child(),
        )
        for api in wanted_apis(scope)
    }


def service_agents(scope: Scope) -> Agents:
    project, cfg = scope.plan.project, scope.plan.settings
    vertex_agent = projects.ServiceIdentity(
        f"{scope.name}-vertex-agent",
        project=project,
        service="aiplatform.googleapis.com",
        opts=scope.child(depends_on=scope.needs("aiplatform.googleapis.com")),
    )
    registry_agent = None
    if scope.plan.image.built and cfg.kms_key:
        registry_agent = projects.ServiceIdentity(
            f"{scope.name}-registry-agent",
            project=project,
            service="artifactregistry.googleapis.com",
            opts=scope.child(depends_on=scope.needs("artifactregistry.googleapis.com")),
        )
    return Agents(vertex=vertex_agent, registry=registry_agent)


def key_grants(scope: Scope, agents: Agents) -> list[pulumi.Resource]:
    """The CMEK key's grants to the agents that encrypt with it (none without a key)."""
    key = scope.plan.settings.kms_key
    if not key:
        return []
    gcs_agent = storage.get_project_service_account_output(
        project=scope.plan.project,
        opts=scope.invoke(depends_on=scope.needs("storage.googleapis.com")),
    )
    members = {"gcs": gcs_agent.member, "vertex": agents.vertex.member}
    if agents.registry is not None:
        members["registry"] = agents.registry.member
    return [
        kms.CryptoKeyIAMMember(
            f"{scope.name}-key-{agent}",
            crypto_key_id=key,
            role=KEY_ROLE,
            member=member,
            opts=scope.child(depends_on=scope.needs("cloudkms.googleapis.com")),
        )
        for agent, member in members.items()
    ]
