"""The resource group and the Azure ML workspace with what it needs: key vault, Log
Analytics + Application Insights, and (made elsewhere) its storage account and registry.

With ``publicNetworkAccess: Disabled`` the workspace and the vault are closed (the vault
then also keeps purge protection on).
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native.applicationinsights as appinsights
import pulumi_azure_native.containerregistry as containerregistry
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage

from infra.azure.scope import Scope


def resource_group(scope: Scope) -> list[pulumi.Resource]:
    """The group, when the stack creates it: what every child of the group waits for."""
    plan = scope.plan
    if not plan.settings.resource_group.create:
        return []
    group = resources.ResourceGroup(
        f"{scope.name}-rg",
        resource_group_name=plan.resource_group_name,
        location=plan.settings.location,
        tags=scope.tags,
        opts=scope.child(),
    )
    return [group]


def vault(scope: Scope) -> keyvault.Vault:
    plan, access = scope.plan, scope.plan.settings.public_network_access
    return keyvault.Vault(
        f"{scope.name}-vault",
        vault_name=plan.vault_name,
        resource_group_name=plan.resource_group_name,
        location=plan.settings.location,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=scope.tenant,
            sku=keyvault.SkuArgs(family="A", name="standard"),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=90,
            enable_purge_protection=access == "Disabled" or None,
            public_network_access=access,
        ),
        tags=scope.tags,
        opts=scope.in_group(),
    )


def insights(scope: Scope) -> appinsights.Component:
    """Application Insights over its own Log Analytics workspace."""
    plan = scope.plan
    ws_name, rg_name, location = (
        plan.workspace_name,
        plan.resource_group_name,
        plan.settings.location,
    )
    logs = operationalinsights.Workspace(
        f"{scope.name}-logs",
        workspace_name=f"{ws_name}-logs",
        resource_group_name=rg_name,
        location=location,
        sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
        retention_in_days=30,
        tags=scope.tags,
        opts=scope.in_group(),
    )
    return appinsights.Component(
        f"{scope.name}-insights",
        resource_name_=f"{ws_name}-insights",
        resource_group_name=rg_name,
        location=location,
        kind="web",
        application_type="web",
        ingestion_mode="LogAnalytics",
        workspace_resource_id=logs.id,
        tags=scope.tags,
        opts=scope.in_group(),
    )


def workspace(
    scope: Scope,
    account: storage.StorageAccount,
    key_vault: keyvault.Vault,
    app_insights: appinsights.Component,
    registry: containerregistry.Registry,
) -> ml.Workspace:
    plan = scope.plan
    ws_name = plan.workspace_name
    return ml.Workspace(
        f"{scope.name}-workspace",
        workspace_name=ws_name,
        resource_group_name=plan.resource_group_name,
        location=plan.settings.location,
        friendly_name=ws_name,
        description=f"genai-endpoints {scope.stack}",
        identity=ml.ManagedServiceIdentityArgs(type="SystemAssigned"),
        storage_account=account.id,
        key_vault=key_vault.id,
        application_insights=app_insights.id,
        container_registry=registry.id,
        public_network_access=plan.settings.public_network_access,
        v1_legacy_mode=False,
        sku=ml.SkuArgs(name="Basic", tier="Basic"),
        tags=scope.tags,
        opts=scope.in_group(),
    )
