"""The endpoint's identity and its least-privilege role assignments.

A *system-assigned* endpoint identity is granted AcrPull, Storage Blob Data Reader and
AzureML Metrics Writer by Azure ML itself when the endpoint is created — creating the same
assignments again fails with ``RoleAssignmentExists`` — so the stack creates them only for
a *user-assigned* identity (one it creates, or ``userAssignedId``), scoped to the registry,
the packages container and the workspace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.managedidentity as managedidentity

from infra.azure.scope import Scope

# Built-in role definition ids (the same in every subscription).
ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}
# Role assignment names are GUIDs derived from what they grant: the same on every run.
NAMESPACE_ID = uuid.UUID("6f1c3c1e-8a39-4f3e-9a55-0c1f4e2f9b10")


def role_id(subscription: pulumi.Output[str], role: str) -> pulumi.Output[str]:
    return subscription.apply(
        lambda s: (
            f"/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"
        )
    )


@dataclass(frozen=True)
class EndpointIdentity:
    args: ml.ManagedServiceIdentityArgs  # the endpoint's ``identity``
    principal: pulumi.Input[str] | None  # a user-assigned identity's: it gets the roles
    created: list[pulumi.Resource]  # the identity the stack made, if any: the endpoint waits


def endpoint_identity(scope: Scope) -> EndpointIdentity:
    ident = scope.plan.settings.identity
    if ident.type != "UserAssigned":
        return EndpointIdentity(ml.ManagedServiceIdentityArgs(type="SystemAssigned"), None, [])
    created: list[pulumi.Resource] = []
    if ident.user_assigned_id:
        uai_id: pulumi.Input[str] = ident.user_assigned_id
        parts = ident.user_assigned_id.split("/")
        principal: pulumi.Input[str] = managedidentity.get_user_assigned_identity_output(
            resource_group_name=parts[4],
            resource_name=parts[-1],
            opts=scope.invoke(),
        ).principal_id
    else:
        uai = managedidentity.UserAssignedIdentity(
            f"{scope.name}-identity",
            resource_name_=f"{scope.plan.endpoint_name}-id",
            resource_group_name=scope.plan.resource_group_name,
            location=scope.plan.settings.location,
            tags=scope.tags,
            opts=scope.in_group(),
        )
        uai_id, principal, created = uai.id, uai.principal_id, [uai]
    args = ml.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[uai_id])
    return EndpointIdentity(args, principal, created)


def grant_roles(
    scope: Scope,
    principal: pulumi.Input[str],
    scopes: dict[str, pulumi.Input[str]],
    endpoint: ml.OnlineEndpoint,
) -> list[authorization.RoleAssignment]:
    """AcrPull on the registry (the runtime image), Storage Blob Data Reader on the packages
    container (the weights), AzureML Metrics Writer on the workspace. ``scopes`` maps
    ``registry``, ``packages`` and ``workspace`` to their resource ids."""
    plan = scope.plan
    grants = [
        ("acr-pull", "AcrPull", scopes["registry"]),
        ("packages-read", "Storage Blob Data Reader", scopes["packages"]),
        ("metrics", "AzureML Metrics Writer (preview)", scopes["workspace"]),
    ]
    where = f"{plan.resource_group_name}/{plan.workspace_name}/{plan.endpoint_name}"
    return [
        authorization.RoleAssignment(
            f"{scope.name}-{short}",
            role_assignment_name=str(uuid.uuid5(NAMESPACE_ID, f"{where}/{short}")),
            principal_id=principal,
            principal_type="ServicePrincipal",
            role_definition_id=role_id(scope.subscription, role),
            scope=resource_id,
            description=f"{plan.endpoint_name}: {role}",
            opts=scope.child(depends_on=[endpoint]),
        )
        for short, role, resource_id in grants
    ]
