"""Amazon Bedrock image models through ``bedrock-runtime`` ``InvokeModel``.

Three request bodies, picked from the model id (checked against the Bedrock user guide's
model-parameter pages):

- Stable Diffusion XL 1.0 (``stability.stable-diffusion-xl-v1``): ``text_prompts``
  (negative prompt = weight -1), ``cfg_scale`` 0-35, ``steps``, ``seed``, ``samples``,
  ``style_preset``, ``width``/``height`` from a fixed list → ``artifacts[].base64``.
- Newer Stability models (SD3.5 Large, Stable Image Core/Ultra): ``prompt`` (≤10,000 chars),
  ``negative_prompt``, ``mode: text-to-image``, ``aspect_ratio`` from an enum, ``seed``
  0-4294967294, ``output_format`` → ``images[]``, ``seeds[]``, ``finish_reasons[]``. They pick
  their own steps, guidance and pixel count.
- Amazon Nova Canvas / Titan Image: ``taskType: TEXT_IMAGE``, ``textToImageParams``
  (``text``, ``negativeText``, 1-1024 chars), ``imageGenerationConfig`` (``numberOfImages``
  1-5, ``width``, ``height``, ``cfgScale`` 1.1-10, ``seed``, ``quality``) → ``images[]``.
"""

from __future__ import annotations

import base64
import json

from genai_endpoints.client.errors import CallError, ConfigError
from genai_endpoints.client.transports.aws import boto_client, boto_error
from genai_endpoints.client.transports.base import (
    Answer,
    Output,
    Progress,
    Transport,
    ratio_name,
    set_fields,
    text_to_image_only,
    unsupported,
)
from scoring.schema import GenerationRequest, OutputFormat

SDXL_SIZES = (
    (1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640),
    (640, 1536), (768, 1344), (832, 1216), (896, 1152),
)  # fmt: skip
STABILITY_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
NOVA_MAX_SEED = 858_993_459
TITAN_MAX_SEED = 2_147_483_646


def family(model: str) -> str:
    """``sdxl``, ``stability`` or ``amazon`` for a model id, inference profile or ARN."""
    name = model.rsplit("/", 1)[-1]
    if "stability.stable-diffusion-xl" in name:
        return "sdxl"
    if "stability." in name:
        return "stability"
    if "amazon.nova-canvas" in name or "amazon.titan-image" in name:
        return "amazon"
    raise ConfigError(
        f"bedrock model {model}: the client knows Stability (SDXL, SD3.5, Stable Image) and "
        "Amazon Nova Canvas / Titan Image bodies"
    )


class Bedrock(Transport):
    kind = "bedrock"

    def __init__(
        self,
        model: str,
        region: str | None,
        *,
        image_quality: str | None = None,
        style_preset: str | None = None,
        runtime=None,
    ) -> None:
        self.model = model
        self.region = region
        self.family = family(model)
        self.image_quality = image_quality
        self.style_preset = style_preset
        self.identity = f"bedrock:{region or 'default'}/{model}"
        self.model_id = model
        self.model_revision = model  # Bedrock ids carry their version (…-v1:0)
        self.label = f"bedrock {model}"
        self._runtime = runtime
        if image_quality and self.family != "amazon":
            raise ConfigError(f"bedrock {model}: image_quality is for Nova Canvas / Titan only")
        if style_preset and self.family != "sdxl":
            raise ConfigError(f"bedrock {model}: style_preset is for Stable Diffusion XL only")

    # -- checks and bodies -------------------------------------------------------------
    def check(self, req: GenerationRequest) -> None:
        problems = text_to_image_only(req, self.label)
        chosen = set_fields(req)
        fmt = req.output_format
        if (req.width is None) != (req.height is None):
            problems.append(f"width: {self.label} needs both width and height, or neither")
        if self.family == "sdxl":
            if len(req.prompt) > 2000:
                problems.append("prompt: at most 2000 characters for SDXL on Bedrock")
            if req.guidance_scale > 35:
                problems.append(f"guidance_scale: at most 35 for SDXL (got {req.guidance_scale})")
            if req.width and (req.width, req.height) not in SDXL_SIZES:
                sizes = ", ".join(f"{w}x{h}" for w, h in SDXL_SIZES)
                problems.append(
                    f"width: SDXL on Bedrock makes {sizes} (got {req.width}x{req.height})"
                )
            if fmt not in (None, OutputFormat.PNG):
                problems.append(f"output_format: SDXL on Bedrock returns png (got {fmt.value})")
        elif self.family == "stability":
            for name in ("num_inference_steps", "guidance_scale"):
                if name in chosen:
                    problems.append(f"{name}: {self.model} picks its own; remove {name}")
            if req.num_outputs > 1:
                problems.append(f"num_outputs: {self.model} returns one image per call")
            if req.seed is not None and req.seed > 4_294_967_294:
                problems.append("seed: at most 4294967294 for Stability models on Bedrock")
            if req.width and not ratio_name(req.width, req.height, STABILITY_RATIOS):
                problems.append(
                    f"width: {self.model} takes an aspect ratio ({', '.join(STABILITY_RATIOS)}); "
                    f"{req.width}x{req.height} is none of them"
                )
        else:
            nova = "nova" in self.model
            if "num_inference_steps" in chosen:
                problems.append(f"num_inference_steps: {self.model} picks its own; remove it")
            if len(req.prompt) > 1024:
                problems.append(f"prompt: at most 1024 characters for {self.model}")
            if req.negative_prompt and len(req.negative_prompt) > 1024:
                problems.append(f"negative_prompt: at most 1024 characters for {self.model}")
            if not 1 <= req.num_outputs <= 5:
                problems.append(f"num_outputs: 1-5 for {self.model} (got {req.num_outputs})")
            if "guidance_scale" in chosen and not 1.1 <= req.guidance_scale <= 10:
                problems.append(
                    f"guidance_scale: 1.1-10 for {self.model} (got {req.guidance_scale})"
                )
            top = NOVA_MAX_SEED if nova else TITAN_MAX_SEED
            if req.seed is not None and req.seed > top:
                problems.append(f"seed: at most {top} for {self.model} (got {req.seed})")
            if nova and req.width:
                for side in (req.width, req.height):
                    if not 320 <= side <= 4096 or side % 16:
                        problems.append(
                            f"width: Nova Canvas sides are 320-4096 px in steps of 16 "
                            f"(got {req.width}x{req.height})"
                        )
                        break
            if fmt not in (None, OutputFormat.PNG):
                problems.append(f"output_format: {self.model} returns png (got {fmt.value})")
        unsupported(problems)

    def body(self, req: GenerationRequest) -> dict:
        if self.family == "sdxl":
            prompts = [{"text": req.prompt, "weight": 1.0}]
            if req.negative_prompt:
                prompts.append({"text": req.negative_prompt, "weight": -1.0})
            body: dict = {"text_prompts": prompts, "cfg_scale": req.guidance_scale}
            body["samples"] = req.num_outputs
            optional = {
                "seed": req.seed,
                "steps": req.num_inference_steps,
                "width": req.width,
                "height": req.height,
                "style_preset": self.style_preset,
            }
        elif self.family == "stability":
            body = {"prompt": req.prompt, "mode": "text-to-image"}
            optional = {
                "negative_prompt": req.negative_prompt,
                "seed": req.seed,
                "aspect_ratio": ratio_name(req.width, req.height, STABILITY_RATIOS)
                if req.width
                else None,
                "output_format": req.output_format.value if req.output_format else None,
            }
        else:
            params = {"text": req.prompt}
            if req.negative_prompt:
                params["negativeText"] = req.negative_prompt
            config = {"numberOfImages": req.num_outputs}
            extra = {
                "width": req.width,
                "height": req.height,
                "cfgScale": req.guidance_scale if "guidance_scale" in set_fields(req) else None,
                "seed": req.seed,
                "quality": self.image_quality,
            }
            config.update({k: v for k, v in extra.items() if v is not None})
            return {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": params,
                "imageGenerationConfig": config,
            }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    # -- the call ------------------------------------------------------------------------
    def runtime(self, timeout: float):
        if self._runtime is None:
            self._runtime = boto_client("bedrock-runtime", self.region, timeout)
        return self._runtime

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.runtime(timeout).invoke_model(
                modelId=self.model,
                body=json.dumps(self.body(req)).encode(),
                contentType="application/json",
                accept="application/json",
            )
            data = json.loads(resp["body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise boto_error(exc, self.label) from None
        except ValueError:
            raise CallError(f"{self.label}: the answer is not JSON", status=502) from None
        return self.parse(data, req)

    def parse(self, data: dict, req: GenerationRequest) -> Answer:
        ctype = (req.output_format or OutputFormat.PNG).content_type
        outputs: list[Output] = []
        if self.family == "sdxl":
            for art in data.get("artifacts") or []:
                reason = art.get("finishReason")
                if reason not in (None, "SUCCESS"):
                    raise CallError(f"{self.label}: generation stopped: {reason}", status=422)
                outputs.append(
                    Output(base64.b64decode(art["base64"]), "image/png", art.get("seed"))
                )
        elif self.family == "stability":
            reasons = [r for r in data.get("finish_reasons") or [] if r]
            if reasons:
                raise CallError(f"{self.label}: {reasons[0]}", status=422)
            seeds = data.get("seeds") or []
            for i, img in enumerate(data.get("images") or []):
                seed = int(seeds[i]) if i < len(seeds) and seeds[i] is not None else None
                outputs.append(Output(base64.b64decode(img), ctype, seed))
        else:
            if data.get("error"):
                raise CallError(f"{self.label}: {data['error']}", status=422)
            images = data.get("images") or []
            for i, img in enumerate(images):
                seed = req.seed if (i == 0 and req.seed is not None) else None
                outputs.append(Output(base64.b64decode(img), "image/png", seed))
        if not outputs:
            raise CallError(f"{self.label}: the answer had no images", status=502)
        return Answer(outputs, self.model, self.model)
