"""Typed stack config, parsed once from ``pulumi.Config("genai-endpoints")``.

Every key under the ``genai-endpoints:`` namespace is read here and nowhere else. Any bad
key or value raises :class:`ConfigError` whose message names the key, the value and what
is allowed; ``infra.__main__`` turns it into one line and no traceback. Each cloud's
section and its checks live in that cloud's folder (``infra/<cloud>/config.py``) and are
composed here through ``infra.clouds``.

Stack file shape (``Pulumi.<stack>.yaml``)::

    config:
      genai-endpoints:package: build/packages     # folder holding <cloud>/manifest.json
      genai-endpoints:task: text-to-image
      genai-endpoints:environment: dev            # default: the stack name
      genai-endpoints:tags: {owner: ml-platform, costCentre: cc-1234}
      genai-endpoints:runtime: {image: REGISTRY/REPO@sha256:...}   # optional: built elsewhere
      genai-endpoints:engine: {scheduler: euler, safety: blur, denyTerms: [...]}  # optional
      genai-endpoints:aws: {enabled: true, region: us-east-1, instanceType: ml.g5.xlarge, ...}
      genai-endpoints:gcp: {enabled: false}
      genai-endpoints:azure: {enabled: false}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, ValidationError, create_model

from infra.clouds import CLOUDS
from infra.common import (  # noqa: F401 - re-exported: the config API in one place
    CROSS_FIELD,
    LONG_TASKS,
    NAMESPACE,
    TASKS,
    ConfigError,
    Section,
    Tags,
    Task,
)
from infra.settings import CommonSettings

# keys earlier versions read, refused with what to do instead
RETIRED_KEYS = {
    "hubToken": "containers never download from the Hub (the weights are in the package); "
    "for a gated model set HF_TOKEN in your shell when you run `genai-endpoints package "
    "--model-id`, and remove the key with `pulumi config rm genai-endpoints:hubToken`",
}
OBJECT_KEYS = ("tags", "runtime", "engine", *CLOUDS)


# one field per cloud, from the registry: a new cloud adds no line here
StackSettings = create_model(
    "StackSettings",
    __base__=CommonSettings,
    **{name: (cloud.section, cloud.section()) for name, cloud in CLOUDS.items()},
)

ALLOWED_TOP_KEYS = tuple(f.alias or n for n, f in StackSettings.model_fields.items())


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    settings: CommonSettings  # a StackSettings: these keys and one section per cloud
    plans: dict[str, Any] = field(default_factory=dict)  # cloud name → that cloud's plan

    @property
    def environment(self) -> str:
        return self.settings.environment or self.stack

    def tags(self) -> dict[str, str]:
        """Tags for every taggable resource."""
        return {
            "project": self.project,
            "stack": self.stack,
            "environment": self.environment,
            "owner": self.settings.tags.owner,
            "cost-centre": self.settings.tags.cost_centre,
        }


# --------------------------------------------------------------------------- reading


def _raw_keys() -> dict[str, Any]:
    """Every ``genai-endpoints:*`` key the engine passed in, with its raw string value.

    ``pulumi.Config`` cannot enumerate keys, and refusing unknown keys needs that: the
    runtime keeps them in ``pulumi.runtime.config`` (set by the mocks) and the language host
    passes them in ``PULUMI_CONFIG``.
    """
    merged: dict[str, Any] = {}
    merged.update(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    prefix = NAMESPACE + ":"
    return {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)}


def _loc_key(loc: tuple[Any, ...]) -> str:
    return f"{NAMESPACE}:" + ".".join(str(p) for p in loc)


def _allowed_at(loc: tuple[Any, ...]) -> list[str]:
    cls: Any = StackSettings
    for part in loc:
        fields = {f.alias or n: f for n, f in cls.model_fields.items()}
        field = fields.get(part)
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        cls = ann
    return [f.alias or n for n, f in cls.model_fields.items()]


def _format(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = _loc_key(loc)
        if e["type"] == "extra_forbidden":
            allowed = _allowed_at(loc[:-1])
            parts.append(f"unknown key {key}; allowed keys: {', '.join(allowed)}")
        elif e["type"] == "missing":
            parts.append(f"{key} is required")
        elif isinstance(e.get("ctx", {}).get("error"), ConfigError):  # a section's own check
            parts.append(str(e["ctx"]["error"]))
        elif e["type"] == CROSS_FIELD:
            parts.append(e["msg"])
        else:
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{key}={e['input']!r}: {msg}")
    return "; ".join(parts)


def read_settings() -> StackSettings:
    """Parse and validate every key in the namespace (no manifest or catalog checks yet)."""
    raw = _raw_keys()
    for key, why in RETIRED_KEYS.items():
        if key in raw:
            raise ConfigError(f"{NAMESPACE}:{key} is retired: {why}")
    unknown = sorted(set(raw) - set(ALLOWED_TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {NAMESPACE}:{unknown[0]}; allowed keys: {', '.join(ALLOWED_TOP_KEYS)}"
        )
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if key in OBJECT_KEYS:
            try:
                parsed = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                parsed = value
            if not isinstance(parsed, dict):
                raise ConfigError(
                    f"{NAMESPACE}:{key}={value!r}: must be an object; allowed keys: "
                    f"{', '.join(_allowed_at((key,)))} (set one with "
                    f"`pulumi config set --path {NAMESPACE}:{key}.<name> <value>`)"
                )
            data[key] = parsed
        else:
            data[key] = value
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
    return settings


def load(project_dir: Path, package_dir: Path | None = None) -> StackConfig:
    """Read the whole stack config once, check each enabled cloud against manifest and catalog."""
    settings = read_settings()
    enabled = [name for name in CLOUDS if getattr(settings, name).enabled]
    if not enabled:
        keys = ", ".join(f"{NAMESPACE}:{name}.enabled" for name in CLOUDS)
        raise ConfigError(f"no cloud enabled; allowed: set one of {keys} to true")
    stack = pulumi.get_stack()
    plans = {name: CLOUDS[name].plan(settings, stack, project_dir, package_dir) for name in enabled}
    return StackConfig(
        project=pulumi.get_project(),
        stack=stack,
        settings=settings,
        plans=plans,
    )
