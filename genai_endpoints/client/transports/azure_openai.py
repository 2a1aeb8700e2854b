"""Azure OpenAI images: ``POST {endpoint}/openai/deployments/{d}/images/generations``.

Two request families, by the deployment's model:

- ``dall-e-3`` (stable API ``2024-10-21``, checked in Azure's REST spec): ``prompt`` (≤4000
  chars), ``n`` = 1, ``size`` 1024x1024 | 1792x1024 | 1024x1792, ``quality`` standard | hd,
  ``style`` vivid | natural, ``response_format`` url | b64_json → ``data[].b64_json``.
- ``gpt-image-*`` (preview API): ``prompt``, ``n``, ``size`` 1024x1024 | 1536x1024 |
  1024x1536, ``quality`` low | medium | high, ``output_format`` png | jpeg | webp; always
  base64, no ``response_format`` or ``style``.

Neither takes a seed, steps, guidance or a negative prompt: those are refused before the
call. ``allow_unseeded: true`` on the target drops the seed instead (outputs then differ run
to run and are never cached). Auth: ``api-key`` from the env var ``key_env`` when set, else a
Microsoft Entra ID token for ``https://cognitiveservices.azure.com/.default``.
"""

from __future__ import annotations

import base64
import os

from genai_endpoints.client.errors import CallError, ConfigError, register_secret
from genai_endpoints.client.transports.azureml import EntraToken
from genai_endpoints.client.transports.base import (
    Answer,
    HttpPoster,
    Output,
    Progress,
    Transport,
    set_fields,
    text_to_image_only,
    unsupported,
)
from scoring.schema import GenerationRequest, OutputFormat

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
FAMILIES = {
    "dall-e": {
        "api_version": "2024-10-21",
        "sizes": ("1024x1024", "1792x1024", "1024x1792"),
        "quality": ("standard", "hd"),
        "max_n": 1,
        "formats": (OutputFormat.PNG,),
    },
    "gpt-image": {
        "api_version": "2025-04-01-preview",
        "sizes": ("1024x1024", "1536x1024", "1024x1536"),
        "quality": ("low", "medium", "high", "auto"),
        "max_n": 10,
        "formats": (OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP),
    },
}


def family(model: str) -> str:
    for name in FAMILIES:
        if model.startswith(name):
            return name
    raise ConfigError(
        f"azure-openai model {model}: the client knows dall-e-3 and gpt-image-* bodies"
    )


class AzureOpenAIImages(Transport):
    kind = "azure-openai"

    def __init__(
        self,
        endpoint: str,
        deployment: str,
        model: str,
        *,
        api_version: str | None = None,
        image_quality: str | None = None,
        style: str | None = None,
        auth: str | None = None,
        key_env: str = "AZURE_OPENAI_API_KEY",
        allow_unseeded: bool = False,
    ) -> None:
        self.family = family(model)
        spec = FAMILIES[self.family]
        if image_quality and image_quality not in spec["quality"]:
            raise ConfigError(
                f"azure-openai {deployment}: image_quality for {model} is one of "
                f"{', '.join(spec['quality'])} (got {image_quality})"
            )
        if style and self.family != "dall-e":
            raise ConfigError(f"azure-openai {deployment}: style is for dall-e-3 only")
        self.endpoint = endpoint.rstrip("/")
        self.deployment = deployment
        self.model = model
        self.api_version = api_version or spec["api_version"]
        self.image_quality = image_quality
        self.style = style
        self.auth = auth or ("key" if os.environ.get(key_env) else "aad_token")
        self.key_env = key_env
        self.seeded = not allow_unseeded
        self.allow_unseeded = allow_unseeded
        self.identity = f"azure-openai:{self.endpoint}/{deployment}"
        self.model_id = model
        self.model_revision = None  # a deployment's model version can change under its name
        self.label = f"azure-openai {deployment}"
        self.http = HttpPoster(self.label)
        self._entra = EntraToken(COGNITIVE_SCOPE)

    def check(self, req: GenerationRequest) -> None:
        spec = FAMILIES[self.family]
        problems = text_to_image_only(req, self.label)
        chosen = set_fields(req)
        for name in ("num_inference_steps", "guidance_scale", "negative_prompt"):
            if name in chosen:
                problems.append(f"{name}: {self.model} has no {name}; remove it")
        if req.seed is not None and not self.allow_unseeded:
            problems.append(
                f"seed: {self.model} has no seed; remove it, or set allow_unseeded: true on "
                "the target to drop it (outputs then differ run to run)"
            )
        if req.num_outputs > spec["max_n"]:
            problems.append(f"num_outputs: at most {spec['max_n']} for {self.model}")
        if (req.width is None) != (req.height is None):
            problems.append(f"width: {self.model} needs both width and height, or neither")
        elif req.width and f"{req.width}x{req.height}" not in spec["sizes"]:
            sizes = ", ".join(spec["sizes"])
            problems.append(f"width: {self.model} makes {sizes} (got {req.width}x{req.height})")
        if self.family == "dall-e" and len(req.prompt) > 4000:
            problems.append("prompt: at most 4000 characters for dall-e-3")
        if req.output_format not in (None, *spec["formats"]):
            allowed = ", ".join(f.value for f in spec["formats"])
            problems.append(
                f"output_format: {self.model} makes {allowed} (got {req.output_format.value})"
            )
        unsupported(problems)

    def body(self, req: GenerationRequest) -> dict:
        body: dict = {"prompt": req.prompt, "n": req.num_outputs}
        if req.width:
            body["size"] = f"{req.width}x{req.height}"
        if self.image_quality:
            body["quality"] = self.image_quality
        if self.family == "dall-e":
            body["response_format"] = "b64_json"
            if self.style:
                body["style"] = self.style
        elif req.output_format:
            body["output_format"] = req.output_format.value
        return body

    def headers(self) -> dict[str, str]:
        if self.auth == "key":
            key = os.environ.get(self.key_env)
            if not key:
                raise ConfigError(f"{self.label}: environment variable {self.key_env} is not set")
            register_secret(key)
            return {"api-key": key}
        return {"Authorization": f"Bearer {self._entra.get()}"}

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        url = (
            f"{self.endpoint}/openai/deployments/{self.deployment}/images/generations"
            f"?api-version={self.api_version}"
        )
        payload = self.http.post(url, self.body(req), timeout, self.headers())
        data = payload.get("data") if isinstance(payload, dict) else None
        ctype = (req.output_format or OutputFormat.PNG).content_type
        outputs = [
            Output(base64.b64decode(item["b64_json"]), ctype, None)
            for item in data or []
            if isinstance(item, dict) and item.get("b64_json")
        ]
        if not outputs:
            raise CallError(f"{self.label}: the answer had no b64_json images", status=502)
        revised = [item.get("revised_prompt") for item in data if item.get("revised_prompt")]
        return Answer(outputs, self.model, None, None, {"revised_prompt": revised[:1]})

    def close(self) -> None:
        self.http.close()
