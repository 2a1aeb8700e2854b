"""The workspace storage account, its private ``genai-packages`` container registered as
the identity-based datastore ``genai_packages``, and the weights uploaded into it.

The weights go to ``<weights.key_prefix>`` of that container (:mod:`infra.weights`,
content-addressed), written by the deploying identity; the model version names that folder
and Azure mounts it under ``AZUREML_MODEL_DIR``. With ``deployerIpRanges`` the account
accepts only those addresses; with ``publicNetworkAccess: Disabled`` and no ranges, nobody
outside the VNet.
"""

from __future__ import annotations

import uuid

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.storage as storage

from infra.azure.config import PACKAGES_CONTAINER, PACKAGES_DATASTORE
from infra.azure.identity import NAMESPACE_ID, role_id
from infra.azure.scope import Scope
from infra.weights import WeightsUpload


def account(scope: Scope) -> storage.StorageAccount:
    plan = scope.plan
    allow_list = list(plan.settings.deployer_ip_ranges)
    return storage.StorageAccount(
        f"{scope.name}-storage",
        account_name=plan.storage_account_name,
        resource_group_name=plan.resource_group_name,
        location=plan.settings.location,
        kind="StorageV2",
        sku=storage.SkuArgs(name="Standard_LRS"),
        allow_blob_public_access=False,
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_2",
        public_network_access=scope.data_access,
        network_rule_set=(
            storage.NetworkRuleSetArgs(
                default_action="Deny",
                bypass="AzureServices",
                ip_rules=[
                    storage.IPRuleArgs(i_p_address_or_range=r.removesuffix("/32"))
                    for r in allow_list
                ],
            )
            if allow_list
            else None
        ),
        encryption=storage.EncryptionArgs(
            key_source="Microsoft.Storage",
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                file=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
            ),
        ),
        tags=scope.tags,
        opts=scope.in_group(),
    )


def packages_container(scope: Scope, in_account: storage.StorageAccount) -> storage.BlobContainer:
    return storage.BlobContainer(
        f"{scope.name}-packages",
        account_name=scope.plan.storage_account_name,
        resource_group_name=scope.plan.resource_group_name,
        container_name=PACKAGES_CONTAINER,
        public_access="None",
        opts=scope.child(depends_on=[in_account]),
    )


def datastore(
    scope: Scope, workspace: ml.Workspace, container: storage.BlobContainer
) -> ml.Datastore:
    """The container as a datastore the workspace reads with its own identity (no keys)."""
    return ml.Datastore(
        f"{scope.name}-datastore",
        name=PACKAGES_DATASTORE,
        properties=ml.AzureBlobDatastoreArgs(
            datastore_type="AzureBlob",
            credentials=ml.NoneDatastoreCredentialsArgs(credentials_type="None"),
            account_name=scope.plan.storage_account_name,
            container_name=PACKAGES_CONTAINER,
            service_data_access_auth_identity="WorkspaceSystemAssignedIdentity",
            description="genai-endpoints packages: weights, content-addressed",
            tags=scope.tags,
        ),
        opts=scope.child(depends_on=[workspace, container]),
        **scope.in_workspace,
    )


def datastore_uri(scope: Scope) -> pulumi.Output[str]:
    rg_name, ws_name = scope.plan.resource_group_name, scope.plan.workspace_name
    return scope.subscription.apply(
        lambda s: (
            f"azureml://subscriptions/{s}/resourcegroups/{rg_name}/workspaces/"
            f"{ws_name}/datastores/{PACKAGES_DATASTORE}"
        )
    )


def upload_weights(scope: Scope, container: storage.BlobContainer) -> WeightsUpload:
    """The deploying identity writes the weights (a data-plane role; RBAC takes minutes to
    reach the blob service, which the upload step waits out)."""
    plan = scope.plan
    rg_name, ws_name = plan.resource_group_name, plan.workspace_name
    deployer_writes = authorization.RoleAssignment(
        f"{scope.name}-deployer-writes-packages",
        role_assignment_name=str(
            uuid.uuid5(NAMESPACE_ID, f"{rg_name}/{ws_name}/deployer/packages")
        ),
        principal_id=scope.client.object_id,
        role_definition_id=role_id(scope.subscription, "Storage Blob Data Contributor"),
        scope=container.id,
        description=f"{plan.endpoint_name}: `pulumi up` uploads the weights",
        opts=scope.child(depends_on=[container]),
    )
    prefix = plan.manifest.weights.key_prefix
    account_url = f"https://{plan.storage_account_name}.blob.core.windows.net"
    return WeightsUpload(
        f"{scope.name}-weights",
        store={
            "kind": "azureblob",
            "account_url": account_url,
            "container": PACKAGES_CONTAINER,
        },
        uri=f"{account_url}/{PACKAGES_CONTAINER}/{prefix}",
        manifest=plan.manifest,
        folder=str(plan.weights_dir.resolve()),
        project_dir=str(plan.project_dir.resolve()),
        opts=scope.child(depends_on=[container, deployer_writes]),
    )
