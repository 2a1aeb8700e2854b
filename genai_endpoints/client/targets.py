"""The targets file: every endpoint or managed API the client may call, typed.

```yaml
targets:
  - name: sm-local
    kind: sagemaker          # sagemaker | sagemaker-async | vertex | azureml
    url: http://127.0.0.1:8080
  - name: aws-prod
    kind: sagemaker
    stack: prod              # endpoint, region, $/hour from the stack's outputs
  - name: nova
    kind: bedrock            # bedrock | imagen | azure-openai: managed APIs
    model: amazon.nova-canvas-v1:0
```

``quality_score`` is the team's own judgement of a target's output (0-100); nothing in the
client measures image quality. Relative paths are read from the file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, model_validator

from genai_endpoints.client.errors import ConfigError
from scoring.schema import Task

OUR_KINDS = ("sagemaker", "sagemaker-async", "vertex", "azureml")
MANAGED_KINDS = ("bedrock", "imagen", "azure-openai")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class TargetBase(BaseModel):
    """What every target has: a name, limits on each call, and what the team declares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    timeout_s: float = Field(120.0, gt=0, le=3600, description="longest single call")
    retry_budget_s: float = Field(
        60.0, ge=0, le=3600, description="longest total wait for Retry-After on 429/503"
    )
    quality_score: float | None = Field(
        None, ge=0, le=100, description="the team's judgement of output quality, 0-100"
    )
    tasks: tuple[Task, ...] | None = Field(None, description="what this target can do")
    price_per_image: float | None = Field(None, ge=0, description="USD, overrides the table")

    @property
    def managed(self) -> bool:
        return self.kind in MANAGED_KINDS  # type: ignore[attr-defined]


class EndpointTarget(TargetBase):
    """One of our endpoints: a local ``serve`` server (``url``) or a deployed stack."""

    kind: Literal["sagemaker", "sagemaker-async", "vertex", "azureml"]
    url: AnyHttpUrl | None = Field(None, description="a local `genai-endpoints serve` server")
    stack: str | None = Field(None, description="Pulumi stack whose outputs name the endpoint")
    outputs: Path | None = Field(None, description="saved `pulumi stack output --json` file")
    project_dir: Path | None = Field(None, description="folder with Pulumi.yaml (stack:)")
    package: Path | None = Field(None, description="built OUT/<cloud> folder: model id/revision")
    model_id: str | None = None
    model_revision: str | None = None
    price_per_hour: float | None = Field(None, ge=0, description="USD per instance-hour")
    deployment: str | None = Field(None, description="azureml: route to this deployment")
    auth: Literal["key", "aad_token"] | None = Field(None, description="azureml override")
    key_env: str | None = Field(None, description="azureml: env var holding the endpoint key")
    poll_s: float = Field(2.0, gt=0, le=60, description="sagemaker-async: first poll interval")

    @model_validator(mode="after")
    def _one_source(self) -> EndpointTarget:
        given = [k for k in ("url", "stack", "outputs") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of url, stack or outputs (got {', '.join(given) or 'none'})"
            )
        if self.kind == "sagemaker-async" and self.url is not None:
            raise ValueError(
                "sagemaker-async needs stack or outputs (S3 and the async API); "
                "a local server is kind: sagemaker"
            )
        return self


class BedrockTarget(TargetBase):
    """An Amazon Bedrock image model through ``bedrock-runtime`` ``InvokeModel``."""

    kind: Literal["bedrock"]
    model: str = Field(min_length=3, description="model id or inference profile id")
    region: str | None = None
    image_quality: Literal["standard", "premium"] | None = Field(
        None, description="Nova Canvas / Titan only"
    )
    style_preset: str | None = Field(None, description="Stable Diffusion XL v1 only")


class ImagenTarget(TargetBase):
    """Vertex AI Imagen: ``publishers/google/models/<model>:predict``."""

    kind: Literal["imagen"]
    model: str = Field(min_length=3, description="e.g. imagen-4.0-generate-001")
    project: str | None = Field(None, description="default: google-auth's default project")
    region: str = "us-central1"
    add_watermark: bool = Field(True, description="the API's default; a seed needs false")
    api_endpoint: AnyHttpUrl | None = Field(
        None, description="default: https://{region}-aiplatform.googleapis.com"
    )


class AzureOpenAITarget(TargetBase):
    """An Azure OpenAI image deployment: ``/openai/deployments/{d}/images/generations``."""

    kind: Literal["azure-openai"]
    endpoint: AnyHttpUrl = Field(description="https://<resource>.openai.azure.com")
    deployment: str = Field(min_length=1)
    model: str = Field("dall-e-3", description="dall-e-3 or a gpt-image-* model")
    api_version: str | None = Field(None, description="default per model family")
    image_quality: str | None = Field(None, description="dall-e-3: standard|hd; gpt-image: …")
    style: Literal["vivid", "natural"] | None = Field(None, description="dall-e-3 only")
    auth: Literal["key", "aad_token"] | None = Field(None, description="default: key if set")
    key_env: str = "AZURE_OPENAI_API_KEY"
    allow_unseeded: bool = Field(
        False, description="drop the seed (this API has none): never cached, marked unseeded"
    )


Target = Annotated[
    EndpointTarget | BedrockTarget | ImagenTarget | AzureOpenAITarget,
    Field(discriminator="kind"),
]


class TargetsFile(BaseModel):
    """The whole file; ``cache`` and ``history`` may also come from the CLI or env."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: list[Target] = Field(min_length=1)
    cache: str | None = Field(None, description="folder, s3://, gs:// or azureml:// location")
    history: Path | None = Field(None, description="SQLite file of measured calls")

    @model_validator(mode="after")
    def _unique_names(self) -> TargetsFile:
        seen: set[str] = set()
        for t in self.targets:
            if t.name in seen:
                raise ValueError(f"target name {t.name!r} appears twice; names must be unique")
            seen.add(t.name)
        return self

    def get(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        names = ", ".join(t.name for t in self.targets)
        raise ConfigError(f"--target: no target named {name!r}; the file has: {names}")


def load_targets(path: Path) -> TargetsFile:
    """Read and check a targets file; relative paths become relative to its folder."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the targets file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: {where}{problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'targets:' list")
    try:
        parsed = TargetsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc, data)}") from None
    return _rebase(parsed, path.parent)


def describe(exc: ValidationError, data: dict) -> str:
    """The first problem as ``targets[1] (aws-prod).url: message``."""
    err = exc.errors(include_url=False)[0]
    parts: list[str] = []
    node: object = data
    for part in err["loc"]:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            label = f" ({node['name']})" if isinstance(node, dict) and node.get("name") else ""
            parts[-1] = f"{parts[-1]}[{part}]{label}"
        elif isinstance(node, dict) and part not in node and part == node.get("kind"):
            continue  # the union's tag (e.g. 'bedrock') is pydantic's, not the user's
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    where = ".".join(parts) or "file"
    msg = err["msg"].replace("Value error, ", "").replace("Input should be", "must be")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required"
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        where += ".kind"
        msg = "must be one of " + ", ".join(OUR_KINDS + MANAGED_KINDS)
    return f"{where}: {msg}"


def _rebase(parsed: TargetsFile, base: Path) -> TargetsFile:
    def fix(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else (base / p)

    targets = []
    for t in parsed.targets:
        if isinstance(t, EndpointTarget):
            update = {
                k: fix(getattr(t, k))
                for k in ("outputs", "project_dir", "package")
                if getattr(t, k) is not None and not getattr(t, k).is_absolute()
            }
            t = t.model_copy(update=update)
        targets.append(t)
    history = parsed.history
    if history is not None and not history.is_absolute():
        history = base / history
    cache = parsed.cache
    if cache and "://" not in cache and not Path(cache).is_absolute():
        cache = str(base / cache)
    return parsed.model_copy(update={"targets": targets, "history": history, "cache": cache})
