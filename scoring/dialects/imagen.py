"""Vertex AI Imagen (``publishers/google/models/imagen-*:predict``):
``{"instances": [{"prompt"}], "parameters": {"sampleCount", "negativePrompt", "seed",
"aspectRatio", ...}}`` → ``{"predictions": [{"bytesBase64Encoded", "mimeType"}]}``.

Fields as in Vertex AI's REST reference (VisionGenerativeModelInstance,
VisionGenerativeModelParams, VisionGenerativeModelResult) and what the Vertex SDK's
``ImageGenerationModel.generate_images`` sends (it always sends ``sampleCount`` and
``addWatermark``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from scoring.dialects.base import (
    MAX_RATIO,
    Fields,
    JsonDialect,
    ModelShape,
    Output,
    Reading,
    Reply,
    parse_ratio,
    whole,
    words,
)
from scoring.errors import RequestError
from scoring.jsonbody import json_type
from scoring.settings import Limits

PARAMETERS = words(
    """
        sampleCount negativePrompt seed aspectRatio guidanceScale sampleImageSize addWatermark
        enhancePrompt personGeneration safetySetting includeRaiReason includeSafetyAttributes
        language outputOptions storageUri mode editConfig editMode upscaleConfig
        """
)
INSTANCE = frozenset({"prompt", "image", "mask", "referenceImages"})
REFUSED = {  # parameters that would need what this endpoint does not do
    "storageUri": "outputs are returned inline, never written to Cloud Storage",
    "mode": "upscaling and interactive editing are not supported",
    "editConfig": "Imagen's edit modes are not supported; send image (and mask) only",
    "editMode": "Imagen's edit modes are not supported; send image (and mask) only",
    "upscaleConfig": "upscaling is not supported",
}
SAFETY = (
    "block_low_and_above",
    "block_medium_and_above",
    "block_only_high",
    "block_none",
    "block_most",
    "block_some",
    "block_few",
    "block_fewest",
)
MIME = {"image/png": "png", "image/jpeg": "jpeg"}


class Imagen(JsonDialect):
    name = "imagen"
    title = "Vertex AI Imagen"
    shape = "instances"
    fields = PARAMETERS | INSTANCE

    def names(self, payload: dict) -> set[str]:
        names = super().names(payload)
        instances = payload.get("instances")
        for inst in instances if isinstance(instances, list) else []:
            if isinstance(inst, dict):
                names |= set(inst)
        return names

    def read(
        self, payload: dict, model: ModelShape, limits: Limits, because: Sequence[str] = ()
    ) -> Reading:
        top = Fields(payload, "", limits, self, because)
        top.unknown({"instances", "parameters"})
        instances = top.array("instances")
        if not instances:
            raise RequestError(
                'instances: must be a non-empty array of {"prompt": ...}', field="instances"
            )
        if len(instances) > limits.max_instances:
            raise RequestError(
                f"instances: at most {limits.max_instances} per request (got {len(instances)})",
                field="instances",
            )
        params = top.obj_field("parameters") or {}
        p = Fields(params, "parameters.", limits, self, because)
        p.unknown(PARAMETERS)
        shared, shared_where = self._parameters(p, model)
        requests, where = [], []
        for i, inst in enumerate(instances):
            here = f"instances[{i}]"
            if not isinstance(inst, dict):
                top.bad(here, f'must be an object {{"prompt": ...}} (got {json_type(inst)})')
                continue
            g = Fields(inst, f"{here}.", limits, self, because)
            g.unknown(INSTANCE)
            request = {"prompt": inst.get("prompt"), **shared}
            image = _bytes(g, inst.get("image"), "image")
            mask_obj = g.obj_field("mask")
            mask = None
            if mask_obj is not None:
                if set(mask_obj) - {"image"}:
                    g.bad("mask", 'only a mask image ({"image": {"bytesBase64Encoded"}})')
                mask = _bytes(g, mask_obj.get("image"), "mask.image")
            if g.has("referenceImages"):
                g.bad(
                    "referenceImages", "reference images (Imagen 3 customization) are not supported"
                )
            if image is not None:
                request["image"] = image
                request["task"] = "inpainting" if mask is not None else "image-to-image"
                if not shared_where.get("size_set"):
                    request.pop("width", None), request.pop("height", None)
            else:
                request["task"] = "text-to-image"
            if mask is not None:
                request["mask"] = mask
            top.problems += g.problems
            requests.append(request)
            where.append(
                {
                    "prompt": f"{here}.prompt",
                    "image": f"{here}.image.bytesBase64Encoded",
                    "mask": f"{here}.mask.image.bytesBase64Encoded",
                    "task": here,
                    **{k: v for k, v in shared_where.items() if k != "size_set"},
                }
            )
        top.problems += p.problems
        top.raise_if_bad()
        return Reading(self, requests, where)

    @staticmethod
    def _parameters(p: Fields, model: ModelShape) -> tuple[dict, dict]:
        shared: dict = {}
        where = {
            "num_outputs": "parameters.sampleCount",
            "negative_prompt": "parameters.negativePrompt",
            "seed": "parameters.seed",
            "width": "parameters.aspectRatio",
            "height": "parameters.aspectRatio",
            "guidance_scale": "parameters.guidanceScale",
            "output_format": "parameters.outputOptions.mimeType",
        }
        for ours, theirs in (
            ("num_outputs", "sampleCount"),
            ("negative_prompt", "negativePrompt"),
            ("seed", "seed"),
            ("guidance_scale", "guidanceScale"),
        ):
            if p.has(theirs):
                shared[ours] = p.get(theirs)

        ratio_text = p.text("aspectRatio")
        ratio = 1.0
        if ratio_text is not None:
            parsed = parse_ratio(ratio_text)
            if parsed is None or not 1 / MAX_RATIO <= parsed <= MAX_RATIO:
                p.bad(
                    "aspectRatio",
                    "must be W:H, e.g. 1:1, 3:4, 4:3, 9:16 or 16:9, at most "
                    f"{MAX_RATIO:g}:1 (got {ratio_text!r})",
                )
            else:
                ratio = parsed
        scale = 1.0
        size = p.text("sampleImageSize")
        if size is not None:
            pixels = {"1k": 1024, "2k": 2048}.get(size.lower()) or whole(size)
            if not pixels:
                p.bad("sampleImageSize", f"must be 1K, 2K or a side in pixels (got {size!r})")
            else:
                scale = pixels / 1024
                where["width"] = where["height"] = "parameters.sampleImageSize"
        shared["width"], shared["height"] = model.of_ratio(ratio, scale)
        where["size_set"] = ratio_text is not None or size is not None

        options = p.obj_field("outputOptions")
        if options is not None:
            o = Fields(options, "parameters.outputOptions.", p.limits, p.dialect)
            for key in sorted(set(options) - {"mimeType", "compressionQuality"}):
                o.bad(key, "unknown; outputOptions has mimeType and compressionQuality")
            mime = o.choice("mimeType", MIME)
            if mime is not None:
                shared["output_format"] = MIME[mime]
            o.ignored("compressionQuality", lambda n: o.integer(n, 0, 100))
            p.problems += o.problems
        for name, why in REFUSED.items():
            if p.has(name):
                p.bad(name, why)
        for name in (
            "addWatermark",
            "enhancePrompt",
            "includeRaiReason",
            "includeSafetyAttributes",
        ):
            p.ignored(name, p.boolean)
        p.ignored(
            "personGeneration", lambda n: p.choice(n, ["dont_allow", "allow_adult", "allow_all"])
        )
        p.ignored("safetySetting", lambda n: p.choice(n, SAFETY, fold=True))
        p.ignored("language", p.text)
        return shared, where

    def answer(self, reading: Reading, outputs: list[Output]) -> Reply:
        return Reply(
            {
                "predictions": [
                    {"bytesBase64Encoded": base64.b64encode(b).decode(), "mimeType": o.content_type}
                    for o in outputs
                    for b in o.blobs
                ]
            }
        )


def _bytes(f: Fields, image: object, name: str) -> str | None:
    """The base64 of an Imagen ``Image`` object; Cloud Storage URIs are refused."""
    if image is None:
        return None
    if not isinstance(image, dict):
        f.bad(name, f'must be an object {{"bytesBase64Encoded": ...}} (got {json_type(image)})')
        return None
    if "gcsUri" in image:
        f.bad(f"{name}.gcsUri", "images are read inline only; send bytesBase64Encoded")
        return None
    extra = sorted(set(image) - {"bytesBase64Encoded", "mimeType"})
    if extra:
        f.bad(f"{name}.{extra[0]}", "unknown; an image has bytesBase64Encoded and mimeType")
    data = image.get("bytesBase64Encoded")
    if not isinstance(data, str):
        f.bad(f"{name}.bytesBase64Encoded", "required: the image as base64")
        return None
    return data


DIALECT = Imagen()
