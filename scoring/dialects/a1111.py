"""AUTOMATIC1111 stable-diffusion-webui API (``POST /sdapi/v1/txt2img`` and ``/img2img``):
``{"prompt", "negative_prompt", "steps", "cfg_scale", "batch_size", "init_images", ...}``
→ ``{"images": [base64], "parameters": {...}, "info": "<JSON string>"}``.

Fields as in the webui's ``modules/api/models.py`` (StableDiffusionTxt2ImgProcessingAPI,
StableDiffusionImg2ImgProcessingAPI: the ``StableDiffusionProcessing*`` dataclass fields
of ``modules/processing.py`` plus the API's own) and ``TextToImageResponse``. A body with
``init_images`` is an img2img body, otherwise a txt2img one: both go to the one route.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence

from scoring import __version__
from scoring.dialects.base import (
    Fields,
    JsonDialect,
    ModelShape,
    Output,
    Reading,
    Reply,
    schema_has,
    words,
)
from scoring.settings import Limits

STEPS_DEFAULT = 50  # StableDiffusionProcessing.steps
CFG_DEFAULT = 7.0
STRENGTH_DEFAULT = 0.75  # img2img denoising_strength
SAMPLERS = {
    "Euler a": "euler-a",
    "Euler": "euler",
    "DPM++ 2M": "dpm++",
    "DDIM": "ddim",
    "PLMS": "pndm",
}

COMMON = words(
    """
        prompt negative_prompt styles seed subseed subseed_strength seed_resize_from_h
        seed_resize_from_w sampler_name sampler_index scheduler batch_size n_iter steps
        cfg_scale width height restore_faces tiling do_not_save_samples do_not_save_grid eta
        denoising_strength s_min_uncond s_churn s_tmax s_tmin s_noise override_settings
        override_settings_restore_afterwards refiner_checkpoint refiner_switch_at
        disable_extra_networks firstpass_image comments script_name script_args send_images
        save_images alwayson_scripts force_task_id infotext
        """
)
TXT2IMG = words(
    """
        enable_hr firstphase_width firstphase_height hr_scale hr_upscaler hr_second_pass_steps
        hr_resize_x hr_resize_y hr_checkpoint_name hr_sampler_name hr_scheduler hr_prompt
        hr_negative_prompt
        """
)
IMG2IMG = words(
    """
        init_images resize_mode image_cfg_scale mask mask_blur_x mask_blur_y mask_blur
        mask_round inpainting_fill inpaint_full_res inpaint_full_res_padding
        inpainting_mask_invert initial_noise_multiplier latent_mask include_init_images
        """
)

# accepted only at the value that leaves the result unchanged, else refused with the reason
NEUTRAL: dict[str, tuple[list, str]] = {
    "restore_faces": ([False], "face restoration is not available"),
    "tiling": ([False], "tiling is not available"),
    "enable_hr": ([False], "hires fix (a second upscaling pass) is not available"),
    "styles": ([[]], "the webui's saved styles do not exist here; put them in the prompt"),
    "subseed_strength": ([0], "variation seeds are not available"),
    "seed_resize_from_h": ([-1, 0], "seed resizing is not available"),
    "seed_resize_from_w": ([-1, 0], "seed resizing is not available"),
    "override_settings": ([{}], "webui settings do not exist here"),
    "script_name": ([""], "webui scripts do not exist here"),
    "script_args": ([[]], "webui scripts do not exist here"),
    "alwayson_scripts": ([{}], "webui extensions (ControlNet, ...) do not exist here"),
    "refiner_checkpoint": (["", "None"], "a refiner model is not available"),
    "infotext": ([""], "infotext parsing is not available; send the fields"),
    "firstpass_image": ([""], "a first-pass image is not available"),
    "latent_mask": ([""], "a separate latent mask is not available"),
    "resize_mode": ([0], "only 0 (just resize) is available"),
    "inpainting_mask_invert": ([0], "send the mask with white = repaint"),
    "save_images": ([False], "images are never stored server-side"),
    "include_init_images": ([False], "init images are not echoed back"),
}
# accepted and documented as ignored: tuning of samplers, saving and hires passes
IGNORED: dict[str, str] = {
    **dict.fromkeys(
        (
            "eta",
            "s_min_uncond",
            "s_churn",
            "s_tmax",
            "s_tmin",
            "s_noise",
            "refiner_switch_at",
            "image_cfg_scale",
            "initial_noise_multiplier",
            "hr_scale",
            "mask_blur",
        ),
        "number",
    ),
    **dict.fromkeys(
        (
            "subseed",
            "firstphase_width",
            "firstphase_height",
            "hr_second_pass_steps",
            "hr_resize_x",
            "hr_resize_y",
            "mask_blur_x",
            "mask_blur_y",
            "inpainting_fill",
            "inpaint_full_res_padding",
        ),
        "integer",
    ),
    **dict.fromkeys(
        (
            "do_not_save_samples",
            "do_not_save_grid",
            "disable_extra_networks",
            "override_settings_restore_afterwards",
            "send_images",
            "mask_round",
            "inpaint_full_res",
        ),
        "boolean",
    ),
    **dict.fromkeys(
        (
            "force_task_id",
            "hr_upscaler",
            "hr_checkpoint_name",
            "hr_sampler_name",
            "hr_scheduler",
            "hr_prompt",
            "hr_negative_prompt",
        ),
        "text",
    ),
    "comments": "object",
}


class Automatic1111(JsonDialect):
    name = "a1111"
    title = "AUTOMATIC1111 webui"
    shape = "plain"
    fields = COMMON | TXT2IMG | IMG2IMG

    def read(
        self, payload: dict, model: ModelShape, limits: Limits, because: Sequence[str] = ()
    ) -> Reading:
        f = Fields(payload, "", limits, self, because)
        f.unknown()
        img2img = "init_images" in payload
        wrong = sorted((TXT2IMG if img2img else IMG2IMG) & set(payload))
        for name in wrong:
            f.bad(
                name,
                "a txt2img field, but init_images makes this img2img"
                if img2img
                else "an img2img field; send init_images with it",
            )

        request: dict = {"prompt": payload.get("prompt")}
        where = {
            "prompt": "prompt",
            "negative_prompt": "negative_prompt",
            "seed": "seed",
            "num_inference_steps": "steps",
            "guidance_scale": "cfg_scale",
            "width": "width",
            "height": "height",
            "num_outputs": "batch_size",
            "image": "init_images[0]",
            "mask": "mask",
            "strength": "denoising_strength",
            "scheduler": "sampler_name",
        }
        if payload.get("negative_prompt") not in (None, ""):
            request["negative_prompt"] = payload["negative_prompt"]
        seed = f.integer("seed")
        if seed is not None and seed != -1:  # -1: a random seed
            request["seed"] = seed
        steps = payload.get("steps")
        request["num_inference_steps"] = (
            min(STEPS_DEFAULT, limits.max_steps) if steps is None else steps
        )
        request["guidance_scale"] = payload.get("cfg_scale", CFG_DEFAULT)
        for name in ("width", "height"):
            if f.has(name):
                request[name] = payload[name]
        batch, rounds = f.integer("batch_size", 1), f.integer("n_iter", 1)
        if (batch or 1) * (rounds or 1) > 1:
            request["num_outputs"] = (batch or 1) * (rounds or 1)
        sampler = self._sampler(f)

        if img2img:
            images = f.array("init_images")
            if images is not None and len(images) != 1:
                f.bad("init_images", f"exactly one image per request here (got {len(images)})")
            elif images:
                request["image"] = images[0]
            strength = payload.get("denoising_strength")
            request["strength"] = STRENGTH_DEFAULT if strength is None else strength
            if f.has("mask"):
                request["mask"] = payload["mask"]
                request["task"] = "inpainting"
            else:
                request["task"] = "image-to-image"
        else:
            request["task"] = "text-to-image"
            f.ignored("denoising_strength", f.number)  # txt2img: used by hires fix only

        f.choice(
            "scheduler",
            ["Automatic"],
            fold=True,
            why="noise schedule types (Karras, ...) are not available",
        )
        for name, (allowed, why) in NEUTRAL.items():
            f.only(name, allowed, why)
        for name, kind in IGNORED.items():
            f.ignored(
                name,
                {
                    "number": f.number,
                    "integer": f.integer,
                    "boolean": f.boolean,
                    "text": f.text,
                    "object": f.obj_field,
                }[kind],
            )
        f.raise_if_bad()
        if sampler is not None and schema_has("scheduler"):
            request["scheduler"] = SAMPLERS[sampler]
        echo = {k: v for k, v in payload.items() if k not in ("init_images", "mask")}
        if img2img:
            echo.update(init_images=None, mask=None)
        context = {
            "parameters": echo,
            "sampler": sampler or "Euler",
            "img2img": img2img,
            "prompt": request["prompt"],
            "negative_prompt": payload.get("negative_prompt") or "",
            "cfg_scale": request["guidance_scale"],
            "strength": request.get("strength"),
            "batch_size": batch or 1,
        }
        return Reading(self, [request], [where], context)

    @staticmethod
    def _sampler(f: Fields) -> str | None:
        """``sampler_name``, else the older ``sampler_index`` (as the webui reads them)."""
        for name in ("sampler_name", "sampler_index"):
            if f.has(name):
                return f.choice(name, SAMPLERS, fold=True, why="no equivalent sampler here")
        return None

    def answer(self, reading: Reading, outputs: list[Output]) -> Reply:
        out, ctx = outputs[0], reading.context
        meta = out.meta
        n = len(out.seeds)
        head = f"Steps: {meta['num_inference_steps']}, Sampler: {ctx['sampler']}, "
        tail = f", Size: {out.width}x{out.height}, Model: {meta['model_id']}"
        negative = f"\nNegative prompt: {ctx['negative_prompt']}" if ctx["negative_prompt"] else ""
        info = {
            "prompt": ctx["prompt"],
            "all_prompts": [ctx["prompt"]] * n,
            "negative_prompt": ctx["negative_prompt"],
            "all_negative_prompts": [ctx["negative_prompt"]] * n,
            "seed": out.seeds[0],
            "all_seeds": out.seeds,
            "subseed": -1,
            "all_subseeds": [-1] * n,
            "subseed_strength": 0,
            "width": out.width,
            "height": out.height,
            "sampler_name": ctx["sampler"],
            "cfg_scale": ctx["cfg_scale"],
            "steps": meta["num_inference_steps"],
            "batch_size": ctx["batch_size"],
            "restore_faces": False,
            "sd_model_name": meta["model_id"],
            "sd_model_hash": meta["model_revision"][:10],
            "seed_resize_from_w": -1,
            "seed_resize_from_h": -1,
            "denoising_strength": ctx["strength"],
            "extra_generation_params": {},
            "index_of_first_image": 0,
            "styles": [],
            "infotexts": [
                f"{ctx['prompt']}{negative}\n{head}CFG scale: {ctx['cfg_scale']}, Seed: {s}{tail}"
                for s in out.seeds
            ],
            "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.gmtime()),
            "clip_skip": 1,
            "is_using_inpainting_conditioning": False,
            "version": f"genai-endpoints {__version__}",
        }
        return Reply(
            {
                "images": [base64.b64encode(b).decode() for b in out.blobs],
                "parameters": ctx["parameters"],
                "info": json.dumps(info),
            }
        )


DIALECT = Automatic1111()
