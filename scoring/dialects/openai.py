"""OpenAI images (``POST /v1/images/generations``; also Azure OpenAI DALL·E):
``{"prompt", "n", "size", "quality", "style", "response_format", ...}`` →
``{"created", "data": [{"b64_json"}], ...}``.

Fields as in openai-python ``types/image_generate_params.py`` and ``images_response.py``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence

from scoring.dialects.base import (
    MAX_RATIO,
    Fields,
    JsonDialect,
    ModelShape,
    Output,
    Reading,
    Reply,
    parse_size,
    words,
)
from scoring.errors import ScoringError
from scoring.settings import Limits

QUALITY_STEPS = {"low": 15, "medium": 30, "standard": 30, "high": 50, "hd": 50}  # auto: ours
FORMATS = ("png", "jpeg", "webp")


class OpenAIImages(JsonDialect):
    name = "openai"
    title = "OpenAI images"
    shape = "plain"
    fields = words("""
        prompt n size quality style response_format model user background moderation
        output_compression output_format partial_images stream
    """) | {"seed"}  # seed: our extension (OpenAI has none); the answer's X-Genai-Seed
    required = frozenset({"prompt"})

    def read(
        self, payload: dict, model: ModelShape, limits: Limits, because: Sequence[str] = ()
    ) -> Reading:
        f = Fields(payload, "", limits, self, because)
        f.unknown()
        request: dict = {"task": "text-to-image", "prompt": payload.get("prompt")}
        where = {
            "prompt": "prompt",
            "task": "prompt",
            "num_outputs": "n",
            "width": "size",
            "height": "size",
            "num_inference_steps": "quality",
            "output_format": "output_format",
            "seed": "seed",
        }

        if f.has("n"):
            request["num_outputs"] = payload["n"]  # the schema and GENAI_MAX_OUTPUTS check it
        size = f.text("size")
        if size is None or size == "auto":
            request["width"], request["height"] = model.width, model.height
        else:
            parsed = parse_size(size)
            if parsed is None:
                f.bad("size", f"must be WIDTHxHEIGHT, e.g. 1024x1024, or auto (got {size!r})")
            elif max(parsed) / min(parsed) > MAX_RATIO:
                f.bad("size", f"aspect ratio at most {MAX_RATIO:g}:1 (got {size})")
            else:
                request["width"], request["height"] = model.scaled(*parsed)
        quality = f.choice("quality", ["auto", *QUALITY_STEPS])
        if quality in QUALITY_STEPS:
            request["num_inference_steps"] = min(QUALITY_STEPS[quality], limits.max_steps)
        fmt = f.choice("output_format", FORMATS)
        if fmt is not None:
            request["output_format"] = fmt
        if f.has("seed"):
            request["seed"] = payload["seed"]

        f.only("response_format", ["b64_json"], "images are returned inline, never hosted at a URL")
        if f.choice("background", ["auto", "opaque", "transparent"]) == "transparent":
            f.bad("background", "outputs have no alpha channel; only auto or opaque here")
        if f.boolean("stream"):
            f.bad("stream", "answers are not streamed; only false here")
        if f.integer("partial_images", 0, 3):
            f.bad("partial_images", "answers are not streamed; only 0 here")
        f.ignored("style", lambda n: f.choice(n, ["vivid", "natural"]))
        f.ignored("model", f.text)
        f.ignored("user", f.text)
        f.ignored("moderation", lambda n: f.choice(n, ["auto", "low"]))
        f.ignored("output_compression", lambda n: f.integer(n, 0, 100))
        f.raise_if_bad()
        return Reading(self, [request], [where])

    def answer(self, reading: Reading, outputs: list[Output]) -> Reply:
        out = outputs[0]
        return Reply(
            {
                "created": int(time.time()),
                "data": [{"b64_json": base64.b64encode(b).decode()} for b in out.blobs],
                "output_format": out.content_type.removeprefix("image/"),
                "size": f"{out.width}x{out.height}",
            }
        )

    def error_body(self, body: dict, err: ScoringError) -> dict:
        """OpenAI's clients read ``error.param`` and ``error.type`` beside the message."""
        kind = "invalid_request_error" if 400 <= err.status < 500 else "server_error"
        body["error"].update(param=err.field, type=kind)
        return body


DIALECT = OpenAIImages()
