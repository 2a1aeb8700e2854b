"""The workspace's container registry and the runtime image pushed to it by digest
(:mod:`infra.runtime`), with push credentials from :mod:`infra.azure.registry`.

The registry has no admin user and no anonymous pull. With ``publicNetworkAccess:
Disabled`` it is Premium (private link and network rules need it) and accepts only the
deploying runner's addresses (``deployerIpRanges``), or nobody outside the VNet.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.containerregistry as containerregistry

from infra.azure.registry import ACR_TOKEN_USER, exchange_token
from infra.azure.scope import Scope
from infra.runtime import IMAGE_NAME, pushed_image


def container_registry(scope: Scope) -> containerregistry.Registry:
    plan = scope.plan
    access = plan.settings.public_network_access
    allow_list = list(plan.settings.deployer_ip_ranges)
    return containerregistry.Registry(
        f"{scope.name}-registry",
        registry_name=plan.registry_name,
        resource_group_name=plan.resource_group_name,
        location=plan.settings.location,
        # private link and network rules need Premium
        sku=containerregistry.SkuArgs(name="Premium" if access == "Disabled" else "Standard"),
        admin_user_enabled=False,
        anonymous_pull_enabled=False,
        public_network_access=scope.data_access,
        network_rule_set=(
            containerregistry.NetworkRuleSetArgs(
                default_action="Deny",
                ip_rules=[
                    containerregistry.IPRuleArgs(i_p_address_or_range=r, action="Allow")
                    for r in allow_list
                ],
            )
            if allow_list
            else None
        ),
        tags=scope.tags,
        opts=scope.in_group(),
    )


def runtime_image(scope: Scope, registry: containerregistry.Registry) -> pulumi.Output[str]:
    """``repo@sha256:…``: built and pushed to the registry, or the pinned reference."""
    plan = scope.plan
    if not plan.image.built:
        return pulumi.Output.from_input(plan.image.pinned)
    import pulumi_docker_build as docker_build

    aad = authorization.get_client_token_output(opts=scope.invoke())
    password = pulumi.Output.all(registry.login_server, scope.tenant, aad.token).apply(
        lambda v: "" if pulumi.runtime.is_dry_run() else exchange_token(*v)
    )
    return pushed_image(
        f"{scope.name}-image",
        plan.image,
        registry.login_server.apply(lambda s: f"{s}/{IMAGE_NAME}"),
        docker_build.RegistryArgs(
            address=registry.login_server,
            username=ACR_TOKEN_USER,
            password=pulumi.Output.secret(password),
        ),
        {"genai-endpoints.engine-version": plan.manifest.engine_version},
        scope.child(depends_on=[registry]),
    )
