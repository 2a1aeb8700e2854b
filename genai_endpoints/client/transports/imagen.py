"""Vertex AI Imagen: ``POST …/publishers/google/models/{model}:predict``.

Body (Imagen API reference): ``instances: [{prompt}]``, ``parameters: {sampleCount,
negativePrompt, seed, aspectRatio, addWatermark, outputOptions: {mimeType}}`` →
``predictions[].bytesBase64Encoded``. A seed is ignored while ``addWatermark`` is true (the
API's default), so a seeded request needs ``add_watermark: false`` on the target. Whether
``negativePrompt`` is honoured depends on the model version; the API decides.
"""

from __future__ import annotations

import base64

from genai_endpoints.client.errors import CallError, ConfigError
from genai_endpoints.client.transports.base import (
    Answer,
    HttpPoster,
    Output,
    Progress,
    Transport,
    ratio_name,
    set_fields,
    text_to_image_only,
    unsupported,
)
from genai_endpoints.client.transports.vertex import GoogleToken
from scoring.schema import GenerationRequest, OutputFormat

IMAGEN_RATIOS = ("1:1", "9:16", "16:9", "3:4", "4:3")
MAX_SAMPLES = 4


class Imagen(Transport):
    kind = "imagen"

    def __init__(
        self,
        model: str,
        *,
        project: str | None,
        region: str,
        add_watermark: bool,
        api_endpoint: str | None = None,
        token: GoogleToken | None = None,
    ) -> None:
        self.model = model
        self.region = region
        self.add_watermark = add_watermark
        self.base = (api_endpoint or f"https://{region}-aiplatform.googleapis.com").rstrip("/")
        self._project = project
        self.token = token or GoogleToken()
        self.identity = f"imagen:{region}/{model}"
        self.model_id = model
        self.model_revision = model  # Imagen ids carry their version (…-001)
        self.label = f"imagen {model}"
        self.http = HttpPoster(self.label)

    @property
    def project(self) -> str:
        if self._project is None:
            self.token.header()  # loads the default credentials and their project
            self._project = self.token.project
            if not self._project:
                raise ConfigError(f"{self.label}: set project: (google-auth found no default)")
        return self._project

    def check(self, req: GenerationRequest) -> None:
        problems = text_to_image_only(req, self.label)
        chosen = set_fields(req)
        for name in ("num_inference_steps", "guidance_scale"):
            if name in chosen:
                problems.append(f"{name}: Imagen picks its own; remove {name}")
        if not 1 <= req.num_outputs <= MAX_SAMPLES:
            problems.append(f"num_outputs: 1-{MAX_SAMPLES} for Imagen (got {req.num_outputs})")
        if (req.width is None) != (req.height is None):
            problems.append(
                "width: Imagen needs both width and height (an aspect ratio), or neither"
            )
        elif req.width and not ratio_name(req.width, req.height, IMAGEN_RATIOS):
            problems.append(
                f"width: Imagen takes an aspect ratio ({', '.join(IMAGEN_RATIOS)}); "
                f"{req.width}x{req.height} is none of them"
            )
        if req.seed is not None and self.add_watermark:
            problems.append(
                "seed: Imagen ignores the seed while the watermark is on; "
                "set add_watermark: false on the target"
            )
        if req.output_format not in (None, OutputFormat.PNG, OutputFormat.JPEG):
            problems.append(
                f"output_format: Imagen makes png or jpeg (got {req.output_format.value})"
            )
        unsupported(problems)

    def body(self, req: GenerationRequest) -> dict:
        fmt = req.output_format or OutputFormat.PNG
        params: dict = {
            "sampleCount": req.num_outputs,
            "addWatermark": self.add_watermark,
            "outputOptions": {"mimeType": fmt.content_type},
        }
        if req.negative_prompt:
            params["negativePrompt"] = req.negative_prompt
        if req.seed is not None:
            params["seed"] = req.seed
        if req.width:
            params["aspectRatio"] = ratio_name(req.width, req.height, IMAGEN_RATIOS)
        return {"instances": [{"prompt": req.prompt}], "parameters": params}

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        url = (
            f"{self.base}/v1/projects/{self.project}/locations/{self.region}"
            f"/publishers/google/models/{self.model}:predict"
        )
        payload = self.http.post(url, self.body(req), timeout, self.token.header())
        predictions = payload.get("predictions") if isinstance(payload, dict) else None
        outputs = []
        for i, pred in enumerate(predictions or []):
            if "bytesBase64Encoded" not in pred:
                continue  # filtered; raiFilteredReason says why
            seed = req.seed if i == 0 else None  # per-sample seeds are not reported
            outputs.append(
                Output(
                    base64.b64decode(pred["bytesBase64Encoded"]),
                    pred.get("mimeType", "image/png"),
                    seed,
                )
            )
        if not outputs:
            reasons = [
                p.get("raiFilteredReason") for p in predictions or [] if p.get("raiFilteredReason")
            ]
            why = reasons[0] if reasons else "no images in the answer"
            raise CallError(f"{self.label}: {why}", status=422)
        return Answer(outputs, self.model, self.model)

    def close(self) -> None:
        self.http.close()
