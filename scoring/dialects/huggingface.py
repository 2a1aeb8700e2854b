"""Hugging Face inference, text-to-image task (Inference API / Inference Endpoints /
``huggingface_hub.InferenceClient.text_to_image``): ``{"inputs": "<prompt>", "parameters":
{...}}`` → the raw image bytes.

Fields as in the task spec (``@huggingface/tasks`` text-to-image, generated into
huggingface_hub's ``types/text_to_image.py``): ``guidance_scale``, ``negative_prompt``,
``num_inference_steps``, ``width``, ``height``, ``scheduler``, ``seed``; the 2024 spec's
``target_size {width, height}`` and list ``negative_prompt``; the legacy top-level
``options``.

This body is also our SageMaker envelope, field for field except ``target_size``,
``options`` and a list ``negative_prompt``: those (or the explicit selector) make it read
here; otherwise it is ours and answers JSON unless ``Accept`` asks for an image.
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring.dialects.base import Dialect, Fields, ModelShape, Reading, schema_has
from scoring.errors import RequestError
from scoring.settings import Limits

SCHEDULERS = {  # diffusers scheduler class → our scheduler
    "DPMSolverMultistepScheduler": "dpm++",
    "EulerDiscreteScheduler": "euler",
    "EulerAncestralDiscreteScheduler": "euler-a",
    "DDIMScheduler": "ddim",
    "PNDMScheduler": "pndm",
}
PASSED = ("guidance_scale", "num_inference_steps", "width", "height", "seed")


class HuggingFace(Dialect):
    name = "huggingface"
    title = "Hugging Face text-to-image"
    shape = "inputs"
    fields = frozenset({*PASSED, "negative_prompt", "target_size", "scheduler", "options"})
    raw = True

    def evidence(self, payload: dict) -> list[str]:
        found = super().evidence(payload)
        params = payload.get("parameters")
        if isinstance(params, dict) and isinstance(params.get("negative_prompt"), list):
            found.append("negative_prompt")
        return found

    def read(
        self, payload: dict, model: ModelShape, limits: Limits, because: Sequence[str] = ()
    ) -> Reading:
        top = Fields(payload, "", limits, self, because)
        top.unknown({"inputs", "parameters", "options"})
        if not isinstance(payload.get("inputs"), str):
            raise RequestError("inputs: must be the prompt, a string", field="inputs")
        params = top.obj_field("parameters") or {}
        p = Fields(params, "parameters.", limits, self, because)
        p.unknown(self.fields - {"options"})
        request: dict = {"task": "text-to-image", "prompt": payload["inputs"]}
        where = {
            "prompt": "inputs",
            "task": "inputs",
            "negative_prompt": "parameters.negative_prompt",
            **{k: f"parameters.{k}" for k in PASSED},
        }
        for name in PASSED:
            if p.has(name):
                request[name] = params[name]
        negative = params.get("negative_prompt")
        if isinstance(negative, list):
            texts = [_text(p, f"negative_prompt[{i}]", t) for i, t in enumerate(negative)]
            request["negative_prompt"] = ", ".join(t for t in texts if t)
        elif negative is not None:
            request["negative_prompt"] = negative
        target = p.obj_field("target_size")
        if target is not None:
            t = Fields(target, "parameters.target_size.", limits, self)
            for key in sorted(set(target) - {"width", "height"}):
                t.bad(key, "unknown; target_size has width and height")
            for side in ("width", "height"):
                if p.has(side):
                    p.bad(side, "give the size once: target_size or width/height")
                elif target.get(side) is None:
                    t.bad(side, "required")
                else:
                    request[side] = target[side]
                    where[side] = f"parameters.target_size.{side}"
            p.problems += t.problems
        scheduler = p.choice("scheduler", SCHEDULERS, why="no equivalent scheduler here")
        if scheduler is not None and schema_has("scheduler"):
            request["scheduler"] = SCHEDULERS[scheduler]
            where["scheduler"] = "parameters.scheduler"
        options = top.obj_field("options")
        if options is not None:
            o = Fields(options, "options.", limits, self)
            for key in sorted(set(options) - {"wait_for_model", "use_cache"}):
                o.bad(key, "unknown; options has wait_for_model and use_cache")
            o.ignored("wait_for_model", o.boolean)
            o.ignored("use_cache", o.boolean)
            top.problems += o.problems
        top.problems += p.problems
        top.raise_if_bad()
        return Reading(self, [request], [where])


def _text(f: Fields, name: str, value: object) -> str | None:
    """``value`` through the text check, a problem named ``name`` (under ``f``) if not."""
    g = Fields({name: value}, f.prefix, f.limits, f.dialect)
    text = g.text(name)
    f.problems += g.problems
    return text


DIALECT = HuggingFace()
