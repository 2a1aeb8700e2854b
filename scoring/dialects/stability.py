"""Stability v1 generation and Amazon Bedrock SDXL (``stability.stable-diffusion-xl``):
``{"text_prompts": [{"text", "weight"}], "cfg_scale", "steps", "seed", "samples", ...}``
→ ``{"result": "success", "artifacts": [{"base64", "seed", "finishReason"}]}``.

Fields as in Stability's v1 REST OpenAPI spec (TextToImageRequestBody,
GenerationRequestOptionalParams, ImageToImage*, Masking*) and Bedrock's "Stability.ai
Diffusion 1.0" parameters page; init and mask images come base64 in JSON, as Bedrock and
Stability's own SageMaker container take them.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence

from scoring.dialects.base import (
    Fields,
    JsonDialect,
    ModelShape,
    Output,
    Reading,
    Reply,
    schema_has,
    status_name,
    words,
)
from scoring.errors import ScoringError
from scoring.settings import Limits

CFG_DEFAULT = 7.0  # Stability's default; ours is 7.5
CLIP_PRESETS = ("FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST")
SAMPLERS = {  # Stability's sampler → our scheduler; the rest are refused
    "DDIM": "ddim",
    "K_DPMPP_2M": "dpm++",
    "K_EULER": "euler",
    "K_EULER_ANCESTRAL": "euler-a",
}
STYLE_WORDS = {  # style_preset → the words appended to the prompt (", <words> style")
    "3d-model": "3D model",
    "analog-film": "analog film photo",
    "anime": "anime",
    "cinematic": "cinematic film still",
    "comic-book": "comic book",
    "digital-art": "digital art",
    "enhance": "highly detailed",
    "fantasy-art": "fantasy art",
    "isometric": "isometric",
    "line-art": "line art",
    "low-poly": "low poly",
    "modeling-compound": "modeling compound clay",
    "neon-punk": "neon punk",
    "origami": "origami",
    "photographic": "photographic",
    "pixel-art": "pixel art",
    "tile-texture": "tileable texture",
}
INIT_FIELDS = (
    "init_image_mode",
    "image_strength",
    "step_schedule_start",
    "step_schedule_end",
    "mask_source",
    "mask_image",
)


class Stability(JsonDialect):
    name = "stability"
    title = "Stability v1 / Bedrock SDXL"
    shape = "plain"
    fields = words(
        """
            text_prompts height width cfg_scale clip_guidance_preset sampler samples seed steps
            style_preset extras init_image init_image_mode image_strength step_schedule_start
            step_schedule_end mask_source mask_image
            """
    )
    required = frozenset({"text_prompts"})

    def read(
        self, payload: dict, model: ModelShape, limits: Limits, because: Sequence[str] = ()
    ) -> Reading:
        f = Fields(payload, "", limits, self, because)
        f.unknown()
        prompt, negative = self._prompts(f)
        request: dict = {"prompt": prompt}
        where = {
            "prompt": "text_prompts",
            "negative_prompt": "text_prompts",
            "guidance_scale": "cfg_scale",
            "num_outputs": "samples",
            "num_inference_steps": "steps",
            "seed": "seed",
            "width": "width",
            "height": "height",
            "image": "init_image",
            "mask": "mask_image",
            "strength": "image_strength",
            "scheduler": "sampler",
        }
        if negative:
            request["negative_prompt"] = negative
        style = f.choice("style_preset", STYLE_WORDS)
        if style is not None and prompt:
            request["prompt"] = f"{prompt}, {STYLE_WORDS[style]} style"
        request["guidance_scale"] = payload.get("cfg_scale", CFG_DEFAULT)
        for ours, theirs in (
            ("num_outputs", "samples"),
            ("num_inference_steps", "steps"),
            ("width", "width"),
            ("height", "height"),
        ):
            if f.has(theirs):
                request[ours] = payload[theirs]
        seed = f.integer("seed", 0, 2**32 - 1)
        if seed:  # 0 (the default) means a random seed
            request["seed"] = seed
        sampler = f.choice("sampler", SAMPLERS, why="no equivalent sampler here")
        if sampler is not None and schema_has("scheduler"):
            request["scheduler"] = SAMPLERS[sampler]
        f.ignored("clip_guidance_preset", lambda n: f.choice(n, CLIP_PRESETS))
        extras = f.obj_field("extras")
        if extras:
            f.bad("extras", "experimental engine parameters are not supported; only {} here")

        if f.has("init_image"):
            self._init_image(f, request, where)
        else:
            for name in INIT_FIELDS:
                if f.has(name):
                    f.bad(name, "only used with init_image")
            request["task"] = "text-to-image"
        f.raise_if_bad()
        return Reading(self, [request], [where])

    @staticmethod
    def _prompts(f: Fields) -> tuple[str, str]:
        """Positive prompts (weight > 0) joined into the prompt, negative ones into the
        negative prompt. A weight's size is not applied, so weights of one sign must be
        equal: two different positive weights are refused rather than flattened."""
        items = f.array("text_prompts")
        if items is None:
            if "text_prompts" not in f.obj or f.obj["text_prompts"] is None:
                f.bad("text_prompts", 'required: [{"text": "...", "weight": 1}]')
            return "", ""
        if not items:
            f.bad("text_prompts", "needs at least one prompt")
            return "", ""
        texts: dict[bool, list[str]] = {True: [], False: []}
        weights: dict[bool, set[float]] = {True: set(), False: set()}
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                f.bad(f"text_prompts[{i}]", 'must be an object {"text", "weight"}')
                continue
            g = Fields(item, f"text_prompts[{i}].", f.limits, f.dialect)
            for key in sorted(set(item) - {"text", "weight"}):
                g.bad(key, "unknown; a text prompt has text and weight")
            text = g.text("text")
            if item.get("text") is None:
                g.bad("text", "required")
            weight = 1.0 if item.get("weight") is None else g.number("weight")
            if weight == 0:
                g.bad("weight", "must be positive (a prompt) or negative (a negative prompt)")
            elif text is not None and weight is not None:
                sign = weight > 0
                if weights[sign] and weight not in weights[sign]:
                    g.bad(
                        "weight",
                        "differs from another prompt's of the same sign; "
                        "relative weights are not applied here, so give them one weight",
                    )
                weights[sign].add(weight)
                texts[sign].append(text)
            f.problems += g.problems
        if not texts[True] and not f.problems:
            f.bad("text_prompts", "needs at least one prompt with a positive weight")
        return ", ".join(t for t in texts[True] if t), ", ".join(t for t in texts[False] if t)

    @staticmethod
    def _init_image(f: Fields, request: dict, where: dict) -> None:
        """Image-to-image (Bedrock's JSON form), and masking with a white-means-replace mask."""
        request["image"] = f.get("init_image")
        mode = f.choice("init_image_mode", ["IMAGE_STRENGTH", "STEP_SCHEDULE"])
        if mode == "STEP_SCHEDULE":
            start = f.number("step_schedule_start", 0, 1)
            request["strength"] = 0.65 if start is None else start
            where["strength"] = "step_schedule_start"
            if f.has("image_strength"):
                f.bad("image_strength", "only with init_image_mode IMAGE_STRENGTH")
        else:
            strength = f.number("image_strength", 0, 1)
            request["strength"] = 1 - (0.35 if strength is None else strength)
            if f.has("step_schedule_start"):
                f.bad("step_schedule_start", "only with init_image_mode STEP_SCHEDULE")
        if f.has("step_schedule_end"):
            f.bad("step_schedule_end", "ending the schedule early is not supported; omit it")
        source = f.choice(
            "mask_source", ["MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA"]
        )
        if source is None:
            request["task"] = "image-to-image"
            if f.has("mask_image"):
                f.bad("mask_image", "needs mask_source MASK_IMAGE_WHITE")
        elif source != "MASK_IMAGE_WHITE":
            f.bad("mask_source", "only MASK_IMAGE_WHITE (white = replaced) is supported here")
        elif not f.has("mask_image"):
            f.bad("mask_image", "required with mask_source MASK_IMAGE_WHITE")
        else:
            request["task"] = "inpainting"
            request["mask"] = f.get("mask_image")

    def answer(self, reading: Reading, outputs: list[Output]) -> Reply:
        out = outputs[0]
        # the safety checker's flag, where the deployment runs one, as Stability reports it
        flags = out.meta.get("nsfw") or [False] * len(out.blobs)
        return Reply(
            {
                "result": "success",
                "artifacts": [
                    {
                        "base64": base64.b64encode(b).decode(),
                        "seed": s,
                        "finishReason": "CONTENT_FILTERED" if flagged else "SUCCESS",
                    }
                    for b, s, flagged in zip(out.blobs, out.seeds, flags, strict=True)
                ],
            }
        )

    def raw_headers(self, output: Output) -> dict[str, str]:
        """Stability's own headers on an ``Accept: image/png`` answer."""
        flagged = (output.meta.get("nsfw") or [False])[0]
        return {
            "Seed": str(output.seeds[0]),
            "Finish-Reason": "CONTENT_FILTERED" if flagged else "SUCCESS",
        }

    def error_body(self, body: dict, err: ScoringError) -> dict:
        """Stability's error fields (``id``, ``name``, ``message``) beside ours."""
        body.update(
            result="error",
            id=uuid.uuid4().hex,
            name=status_name(err.status),
            message=body["error"]["message"],
        )
        return body


DIALECT = Stability()
