"""The registry of clouds: adding a cloud adds its folder and one line here.

Each entry names the cloud's config section (a ``CloudSection`` model), the function that
checks it against the manifest and catalog into a plan, and the function that creates
its component and exports its outputs. Imports of provider SDKs stay inside ``deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.aws import config as aws_config
from infra.azure import config as azure_config
from infra.gcp import config as gcp_config


@dataclass(frozen=True)
class Cloud:
    section: type
    plan: Callable[..., Any]  # (settings, stack, project_dir, package_dir) -> plan
    deploy: Callable[..., None]  # (stack config, plan) -> None


def _deploy(module: str) -> Callable[..., None]:
    def run(cfg: Any, plan: Any) -> None:
        import importlib

        importlib.import_module(module).deploy(cfg, plan)

    return run


CLOUDS: dict[str, Cloud] = {
    "aws": Cloud(aws_config.AwsSection, aws_config.plan, _deploy("infra.aws.program")),
    "gcp": Cloud(gcp_config.GcpSection, gcp_config.plan, _deploy("infra.gcp.program")),
    "azure": Cloud(azure_config.AzureSection, azure_config.plan, _deploy("infra.azure.program")),
}
