"""Drop-in dialects: each API's body maps onto our request, through our checks, and is
answered in that API's shape; ambiguous bodies and fields we cannot honour are 400s
naming them; no dialect body, however mangled, escapes as anything but our 4xx."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.dialects import DIALECTS, ModelShape, detect
from scoring.dialects.base import schema_has
from scoring.envelopes import Envelope, unwrap
from scoring.errors import RequestError, ScoringError
from scoring.service import Accept, Answer
from scoring.settings import Limits
from tests.helpers import half_mask_b64, png_b64
from tests.scoring.helpers import post

LIMITS = Limits()
TINY = ModelShape(64, 64, 8)  # the tiny sd model: native 64x64, sides in multiples of 8
SDXL = ModelShape(1024, 1024, 8)
SD15 = ModelShape(512, 512, 8)
FLUX = ModelShape(1024, 1024, 16)
PNG = png_b64()
MASK = half_mask_b64()


def read(payload, model=TINY, dialect=None):
    u = unwrap(payload, LIMITS, model, dialect)
    return (u.reading.dialect.name if u.reading else None), u.requests


def refusal(payload, model=TINY, dialect=None) -> RequestError:
    with pytest.raises(RequestError) as exc:
        unwrap(payload, LIMITS, model, dialect)
    return exc.value


# --------------------------------------------------------------------------- mapping


def test_openai_maps_onto_our_request():
    name, reqs = read(
        {
            "prompt": "a cat",
            "n": 2,
            "size": "1792x1024",
            "quality": "hd",
            "style": "vivid",
            "response_format": "b64_json",
            "model": "dall-e-3",
            "user": "u1",
            "output_format": "webp",
            "background": "opaque",
            "moderation": "auto",
        },
        SDXL,
    )
    assert name == "openai"
    assert reqs == [
        {
            "task": "text-to-image",
            "prompt": "a cat",
            "num_outputs": 2,
            "width": 1792,
            "height": 1024,
            "num_inference_steps": 50,
            "output_format": "webp",
        }
    ]


@pytest.mark.parametrize(
    ("model", "size", "want"),
    [
        (SDXL, "1024x1024", (1024, 1024)),
        (SDXL, "1024x1536", (1024, 1536)),
        (SD15, "1024x1024", (512, 512)),  # OpenAI's square is the model's native square
        (SD15, "1792x1024", (896, 512)),
        (SD15, "256x256", (128, 128)),
        (TINY, "256x256", (64, 64)),  # never below the schema's 64
        (FLUX, "1000x1000", (1008, 1008)),  # FLUX needs multiples of 16
        (SDXL, "auto", (1024, 1024)),
        (SD15, None, (512, 512)),
    ],
)
def test_openai_size_honours_the_native_size_and_multiple(model, size, want):
    body = {"prompt": "x", "size": size} if size else {"prompt": "x", "n": 1}
    _, reqs = read(body, model)
    assert (reqs[0]["width"], reqs[0]["height"]) == want
    assert reqs[0]["width"] % model.multiple == 0


@pytest.mark.parametrize(
    ("quality", "steps"), [("low", 15), ("medium", 30), ("high", 50), ("standard", 30)]
)
def test_openai_quality_picks_the_steps(quality, steps):
    assert read({"prompt": "x", "quality": quality})[1][0]["num_inference_steps"] == steps
    assert "num_inference_steps" not in read({"prompt": "x", "quality": "auto"})[1][0]


def test_stability_maps_prompts_weights_style_and_defaults():
    name, reqs = read(
        {
            "text_prompts": [
                {"text": "a lighthouse", "weight": 1},
                {"text": "on a cliff"},
                {"text": "blurry", "weight": -1},
                {"text": "dark", "weight": -1},
            ],
            "cfg_scale": 5,
            "steps": 20,
            "samples": 2,
            "seed": 0,
            "style_preset": "anime",
            "clip_guidance_preset": "FAST_BLUE",
            "height": 512,
            "width": 768,
            "extras": {},
        }
    )
    assert name == "stability"
    assert reqs == [
        {
            "prompt": "a lighthouse, on a cliff, anime style",
            "negative_prompt": "blurry, dark",
            "guidance_scale": 5,
            "num_outputs": 2,
            "num_inference_steps": 20,
            "width": 768,
            "height": 512,
            "task": "text-to-image",
        }
    ]  # seed 0: random
    _, reqs = read({"text_prompts": [{"text": "x"}], "seed": 42})
    assert reqs[0]["seed"] == 42 and reqs[0]["guidance_scale"] == 7.0  # Stability's default


def test_stability_image_to_image_and_masking():
    _, reqs = read({"text_prompts": [{"text": "x"}], "init_image": PNG, "image_strength": 0.25})
    assert reqs[0]["task"] == "image-to-image" and reqs[0]["image"] == PNG
    assert reqs[0]["strength"] == pytest.approx(0.75)
    _, reqs = read(
        {
            "text_prompts": [{"text": "x"}],
            "init_image": PNG,
            "init_image_mode": "STEP_SCHEDULE",
            "step_schedule_start": 0.4,
        }
    )
    assert reqs[0]["strength"] == pytest.approx(0.4)
    _, reqs = read(
        {
            "text_prompts": [{"text": "x"}],
            "init_image": PNG,
            "mask_source": "MASK_IMAGE_WHITE",
            "mask_image": MASK,
        }
    )
    assert reqs[0]["task"] == "inpainting" and reqs[0]["mask"] == MASK


def test_imagen_maps_instances_and_parameters():
    name, reqs = read(
        {
            "instances": [{"prompt": "a cat"}, {"prompt": "a dog"}],
            "parameters": {
                "sampleCount": 2,
                "negativePrompt": "blur",
                "seed": 7,
                "aspectRatio": "16:9",
                "guidanceScale": 9,
                "addWatermark": True,
                "enhancePrompt": False,
                "personGeneration": "allow_adult",
                "safetySetting": "block_medium_and_above",
                "language": "en",
                "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
            },
        },
        SDXL,
    )
    assert name == "imagen"
    common = {
        "num_outputs": 2,
        "negative_prompt": "blur",
        "seed": 7,
        "guidance_scale": 9,
        "width": 1368,
        "height": 768,
        "output_format": "jpeg",
        "task": "text-to-image",
    }
    assert reqs == [{"prompt": "a cat", **common}, {"prompt": "a dog", **common}]


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ({}, (1024, 1024)),
        ({"aspectRatio": "9:16"}, (768, 1368)),
        ({"aspectRatio": "3:4"}, (888, 1184)),
        ({"sampleImageSize": "2K"}, (2048, 2048)),
        ({"sampleImageSize": "512"}, (512, 512)),
    ],
)
def test_imagen_sizes_keep_the_native_pixel_count(params, want):
    _, reqs = read(
        {"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1, **params}}, SDXL
    )
    assert (reqs[0]["width"], reqs[0]["height"]) == want


def test_imagen_image_and_mask_objects():
    _, reqs = read(
        {
            "instances": [
                {
                    "prompt": "x",
                    "image": {"bytesBase64Encoded": PNG},
                    "mask": {"image": {"bytesBase64Encoded": MASK}},
                }
            ],
            "parameters": {"sampleCount": 1},
        }
    )
    assert reqs[0]["task"] == "inpainting"
    assert reqs[0]["image"] == PNG and reqs[0]["mask"] == MASK
    assert "width" not in reqs[0]  # an edit keeps the input's size


def test_a1111_txt2img_and_img2img():
    name, reqs = read(
        {
            "prompt": "a cat",
            "negative_prompt": "",
            "seed": -1,
            "steps": 20,
            "cfg_scale": 6,
            "width": 64,
            "height": 64,
            "batch_size": 2,
            "n_iter": 2,
            "sampler_name": "Euler a",
            "restore_faces": False,
            "enable_hr": False,
            "s_churn": 0,
            "send_images": True,
            "override_settings": {},
        }
    )
    assert name == "a1111"
    want = {
        "prompt": "a cat",
        "num_inference_steps": 20,
        "guidance_scale": 6,
        "width": 64,
        "height": 64,
        "num_outputs": 4,
        "task": "text-to-image",
    }
    if schema_has("scheduler"):
        want["scheduler"] = "euler-a"
    assert reqs == [want]
    _, reqs = read(
        {
            "prompt": "x",
            "init_images": [PNG],
            "denoising_strength": 0.5,
            "mask": MASK,
            "inpainting_fill": 1,
            "mask_blur": 4,
        }
    )
    assert reqs[0]["task"] == "inpainting" and reqs[0]["strength"] == 0.5
    assert reqs[0]["image"] == PNG and reqs[0]["mask"] == MASK
    _, reqs = read({"prompt": "x", "init_images": [PNG]})
    assert reqs[0]["task"] == "image-to-image" and reqs[0]["strength"] == 0.75


def test_a1111_defaults_are_the_webuis():
    _, reqs = read({"prompt": "x", "steps": None, "sampler_index": "Euler"})
    assert reqs[0]["num_inference_steps"] == 50 and reqs[0]["guidance_scale"] == 7.0
    small = Limits(max_steps=20)
    assert (
        unwrap({"prompt": "x", "batch_size": 1}, small, TINY).requests[0]["num_inference_steps"]
        == 20
    )  # capped by GENAI_MAX_STEPS


def test_huggingface_maps_target_size_and_negative_list():
    name, reqs = read(
        {
            "inputs": "a cat",
            "options": {"wait_for_model": True},
            "parameters": {
                "target_size": {"width": 64, "height": 128},
                "negative_prompt": ["blur", "text"],
                "num_inference_steps": 2,
                "guidance_scale": 3,
            },
        }
    )
    assert name == "huggingface"
    assert reqs == [
        {
            "task": "text-to-image",
            "prompt": "a cat",
            "num_inference_steps": 2,
            "guidance_scale": 3,
            "negative_prompt": "blur, text",
            "width": 64,
            "height": 128,
        }
    ]


# -------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "payload",
    [
        {"prompt": "x", "seed": 1, "negative_prompt": "y", "width": 64},  # also A1111/OpenAI
        {"inputs": "x", "parameters": {"num_inference_steps": 2, "seed": 1}},  # also HF
        {"instances": [{"prompt": "x"}], "parameters": {"seed": 1}},  # also Imagen
        {"instances": ["x"]},
    ],
)
def test_our_envelopes_keep_their_meaning(payload):
    name, _ = read(payload)
    assert name is None


def test_the_selector_reads_a_shared_body_in_a_dialect():
    body = {"inputs": "x", "parameters": {"num_inference_steps": 2}}
    assert read(body, dialect="huggingface")[0] == "huggingface"
    assert read({"prompt": "x"}, dialect="openai")[0] == "openai"
    # ours, forced: our schema then refuses "n" as an unknown field
    assert read({"prompt": "x", "n": 1}, dialect="genai") == (None, [{"prompt": "x", "n": 1}])


@pytest.mark.parametrize(
    ("selector", "payload", "field", "words"),
    [
        ("dalle", {"prompt": "x"}, "Content-Type", "allowed: openai, stability"),
        ("imagen", {"prompt": "x"}, "body", "instances"),
        ("openai", {"inputs": "x"}, "body", "plain JSON object"),
    ],
)
def test_a_bad_selector_is_a_400(selector, payload, field, words):
    err = refusal(payload, dialect=selector)
    assert err.field == field and words in err.message


def test_shared_names_resolve_by_the_fields_only_one_api_has():
    assert read({"prompt": "x", "steps": 20, "cfg_scale": 7})[0] == "a1111"
    assert read({"text_prompts": [{"text": "x"}], "steps": 20, "cfg_scale": 7})[0] == "stability"


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"prompt": "x", "n": 2, "steps": 20}, ["OpenAI images", "AUTOMATIC1111"]),
        ({"prompt": "x", "size": "1024x1024", "batch_size": 2}, ["OpenAI", "AUTOMATIC1111"]),
    ],
)
def test_an_ambiguous_body_is_a_400_that_says_so(payload, names):
    err = refusal(payload)
    assert err.field == "body" and "ambiguous" in err.message
    assert all(n in err.message for n in names)
    assert "dialect=NAME" in err.message


def test_a_mixed_body_names_the_field_the_dialect_does_not_know():
    err = refusal({"prompt": "x", "n": 2, "num_inference_steps": 5})
    assert err.field == "num_inference_steps"
    assert "not a field of OpenAI images" in err.message and "'n'" in err.message


def test_detect_reports_why():
    dialect, because = detect({"text_prompts": [], "style_preset": "anime"})
    assert dialect is DIALECTS["stability"] and because == ["style_preset", "text_prompts"]


# -------------------------------------------------------------- refusals naming fields

# fmt: off
REFUSED = [
    # OpenAI
    ({"prompt": "x", "response_format": "url"}, "response_format", "inline"),
    ({"prompt": "x", "background": "transparent"}, "background", "alpha"),
    ({"prompt": "x", "stream": True}, "stream", "streamed"),
    ({"prompt": "x", "partial_images": 2}, "partial_images", "streamed"),
    ({"prompt": "x", "quality": "ultra"}, "quality", "one of auto, low"),
    ({"prompt": "x", "size": "big"}, "size", "WIDTHxHEIGHT"),
    ({"prompt": "x", "size": "²x²"}, "size", "WIDTHxHEIGHT"),
    ({"prompt": "x", "size": "4096x256"}, "size", "aspect ratio"),
    ({"prompt": "x", "style": "loud"}, "style", "vivid, natural"),
    ({"prompt": "x", "user": "a\x00b"}, "user", "control character"),
    ({"prompt": "a\x1bb", "n": 1}, "prompt", "control character"),
    ({"prompt": "x", "n": 0}, "n", "greater than or equal to 1"),
    ({"prompt": "x", "size": "65536x65536"}, "size", "at most 2048"),
    # Stability / Bedrock
    ({"text_prompts": [{"text": "x"}], "sampler": "K_HEUN"}, "sampler", "K_EULER"),
    ({"text_prompts": [{"text": "x"}], "extras": {"a": 1}}, "extras", "experimental"),
    ({"text_prompts": [{"text": "x", "weight": 0}]}, "text_prompts[0].weight", "positive"),
    ({"text_prompts": [{"text": "x"}, {"text": "y", "weight": 0.5}]}, "text_prompts[1].weight",
     "relative weights"),
    ({"text_prompts": [{"text": "x", "weight": -1}]}, "text_prompts", "positive weight"),
    ({"text_prompts": [{"text": "\ud800"}]}, "text_prompts[0].text", "lone surrogate"),
    ({"text_prompts": [{"text": "x", "prio": 1}]}, "text_prompts[0].prio", "unknown"),
    ({"text_prompts": [{"text": "x"}], "steps": 0}, "steps", "greater than or equal to 1"),
    ({"text_prompts": [{"text": "x"}], "cfg_scale": 60}, "cfg_scale", "less than or equal"),
    ({"text_prompts": [{"text": "x"}], "style_preset": "vapor"}, "style_preset", "anime"),
    ({"text_prompts": [{"text": "x"}], "image_strength": 0.3}, "image_strength",
     "only used with init_image"),
    ({"text_prompts": [{"text": "x"}], "init_image": PNG, "mask_source": "MASK_IMAGE_BLACK",
      "mask_image": MASK}, "mask_source", "MASK_IMAGE_WHITE"),
    ({"text_prompts": [{"text": "x"}], "init_image": PNG, "step_schedule_end": 0.1},
     "step_schedule_end", "omit it"),
    ({"text_prompts": [{"text": "x"}], "init_image": PNG, "image_strength": 1.0},
     "image_strength", "greater than 0"),
    # Imagen
    ({"instances": [{"prompt": "x"}], "parameters": {"storageUri": "gs://b/"}},
     "parameters.storageUri", "Cloud Storage"),
    ({"instances": [{"prompt": "x"}], "parameters": {"mode": "upscale"}}, "parameters.mode",
     "upscaling"),
    ({"instances": [{"prompt": "x"}], "parameters": {"editConfig": {}}}, "parameters.editConfig",
     "edit modes"),
    ({"instances": [{"prompt": "x", "image": {"gcsUri": "gs://b/i.png"}}],
      "parameters": {"sampleCount": 1}}, "instances[0].image.gcsUri", "inline"),
    ({"instances": [{"prompt": "x", "referenceImages": []}], "parameters": {"sampleCount": 1}},
     "instances[0].referenceImages", "not supported"),
    ({"instances": [{"prompt": "x"}], "parameters": {"sampleImageSize": "8K"}},
     "parameters.sampleImageSize", "1K, 2K"),
    ({"instances": [{"prompt": "x"}], "parameters": {"sampleImageSize": "²"}},
     "parameters.sampleImageSize", "1K, 2K"),
    ({"instances": [{"prompt": "x"}], "parameters": {"aspectRatio": "１:1"}},
     "parameters.aspectRatio", "W:H"),
    ({"instances": [{"prompt": "x"}], "parameters": {"aspectRatio": "1:9"}},
     "parameters.aspectRatio", "at most 4:1"),
    ({"instances": [{"prompt": "x"}], "parameters": {"outputOptions": {"mimeType": "image/gif"}}},
     "parameters.outputOptions.mimeType", "image/png"),
    ({"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 2, "num_outputs": 1}},
     "parameters.num_outputs", "not a field of Vertex AI Imagen"),
    ({"instances": [{"prompt": "\x07"}], "parameters": {"sampleCount": 1}},
     "instances[0].prompt", "control character"),
    # AUTOMATIC1111
    ({"prompt": "x", "steps": 20, "restore_faces": True}, "restore_faces", "face restoration"),
    ({"prompt": "x", "steps": 20, "enable_hr": True}, "enable_hr", "hires fix"),
    ({"prompt": "x", "steps": 20, "styles": ["s"]}, "styles", "saved styles"),
    ({"prompt": "x", "alwayson_scripts": {"controlnet": {}}}, "alwayson_scripts", "extensions"),
    ({"prompt": "x", "steps": 20, "scheduler": "Karras"}, "scheduler", "Automatic"),
    ({"prompt": "x", "steps": 20, "sampler_name": "LMS"}, "sampler_name", "Euler a"),
    ({"prompt": "x", "init_images": [PNG, PNG]}, "init_images", "exactly one"),
    ({"prompt": "x", "init_images": [PNG], "hr_scale": 2}, "hr_scale", "txt2img field"),
    ({"prompt": "x", "steps": 20, "inpainting_fill": 1}, "inpainting_fill", "img2img field"),
    ({"prompt": "x", "steps": 20, "hr_prompt": "a\x00"}, "hr_prompt", "control character"),
    ({"prompt": "x", "steps": 500}, "steps", "between 1 and 100"),
    ({"prompt": "x", "steps": 20, "seed": -5}, "seed", "greater than or equal to 0"),
    # Hugging Face
    ({"inputs": "x", "parameters": {"target_size": {"width": 64, "height": 64}, "width": 64}},
     "parameters.width", "once"),
    ({"inputs": "x", "parameters": {"target_size": {"width": 64}}},
     "parameters.target_size.height", "required"),
    ({"inputs": "x", "parameters": {"target_size": {"width": 64, "height": 64},
                                    "scheduler": "LCMScheduler"}},
     "parameters.scheduler", "EulerDiscreteScheduler"),
    ({"inputs": ["x"], "options": {}}, "inputs", "string"),
    ({"inputs": "x", "options": {"stream": True}}, "options.stream", "wait_for_model"),
    ({"inputs": "x", "parameters": {"negative_prompt": ["ok", "\x01"]}},
     "parameters.negative_prompt[1]", "control character"),
    ({"inputs": "x", "parameters": {"target_size": {"width": 60, "height": 64}}},
     "parameters.target_size.width", "multiple of 8"),
]
# fmt: on


@pytest.mark.parametrize(("payload", "field", "words"), REFUSED)
def test_what_a_dialect_cannot_honour_is_a_400_naming_it(image_scorer, payload, field, words):
    with pytest.raises(RequestError) as exc:
        image_scorer.parse_payload(payload)
    err = exc.value
    assert err.status == 400, err.message
    assert field in [p.field for p in err.problems], err.message
    assert words in err.message, err.message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"prompt": "x", "n": 5}, "n"),
        ({"text_prompts": [{"text": "x"}], "samples": 5}, "samples"),
        (
            {"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 5}},
            "parameters.sampleCount",
        ),
        ({"prompt": "x", "batch_size": 3, "n_iter": 2}, "batch_size"),
    ],
)
def test_output_counts_count_against_max_outputs(image_scorer, payload, field):
    with pytest.raises(RequestError) as exc:
        image_scorer.parse_payload(payload)
    assert exc.value.field == field and "between 1 and 4" in exc.value.message


def test_a_video_model_refuses_image_dialects_with_422(video_scorer):
    with pytest.raises(ScoringError) as exc:
        video_scorer.parse_payload({"prompt": "x", "n": 1})
    assert exc.value.status == 422


# ------------------------------------------------------------------ answers (tiny sd)


@pytest.fixture
def fast_scorer(image_engine):
    """The tiny model with every dialect's default steps capped at 1 (GENAI_MAX_STEPS)."""
    from scoring.service import Scorer

    scorer = Scorer(image_engine)
    scorer.limits = Limits(max_steps=1)
    return scorer


def call(scorer, payload, accept=None, content_type="application/json"):
    return post(scorer, json.dumps(payload).encode(), content_type, accept)


def is_png(data: bytes, size=(64, 64)) -> bool:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    return img.format == "PNG" and img.size == size


def check_headers(answer: Answer) -> None:
    assert answer.headers["X-Genai-Seed"].isdigit()
    assert all("," not in v for v in answer.headers.values()), answer.headers
    assert re.fullmatch(
        r"queued=[\d.]+;inference=[\d.]+;encode=[\d.]+", answer.headers["X-Genai-Timings-Ms"]
    )


def test_openai_answer_shape(fast_scorer):
    a = call(
        fast_scorer,
        {
            "prompt": "x",
            "n": 2,
            "size": "1024x1024",
            "quality": "low",
            "seed": 3,
            "response_format": "b64_json",
        },
    )
    assert a.status == 200, a.body
    body = a.json()
    assert set(body) == {"created", "data", "output_format", "size"}
    assert isinstance(body["created"], int) and body["size"] == "64x64"
    assert [set(d) for d in body["data"]] == [{"b64_json"}, {"b64_json"}]
    assert all(is_png(base64.b64decode(d["b64_json"])) for d in body["data"])
    assert a.headers["X-Genai-Seed"] == "3"
    check_headers(a)


def test_stability_answer_shape_and_raw(fast_scorer):
    body = {"text_prompts": [{"text": "x"}], "steps": 1, "samples": 2, "seed": 9}
    a = call(fast_scorer, body)
    assert a.status == 200, a.body
    out = a.json()
    assert out["result"] == "success"
    assert [(x["seed"], x["finishReason"]) for x in out["artifacts"]] == [
        (9, "SUCCESS"),
        (10, "SUCCESS"),
    ]
    assert is_png(base64.b64decode(out["artifacts"][0]["base64"]))
    raw = call(fast_scorer, {**body, "samples": 1}, accept="image/png")
    assert raw.status == 200 and raw.content_type == "image/png" and is_png(raw.body)
    assert raw.headers["Seed"] == "9" and raw.headers["Finish-Reason"] == "SUCCESS"
    check_headers(raw)


def test_imagen_answer_shape(fast_scorer):
    a = call(
        fast_scorer,
        {
            "instances": [{"prompt": "x"}, {"prompt": "y"}],
            "parameters": {
                "sampleCount": 2,
                "seed": 1,
                "outputOptions": {"mimeType": "image/jpeg"},
            },
        },
    )
    assert a.status == 200, a.body
    preds = a.json()["predictions"]
    assert len(preds) == 4 and all(set(p) == {"bytesBase64Encoded", "mimeType"} for p in preds)
    assert {p["mimeType"] for p in preds} == {"image/jpeg"}
    assert base64.b64decode(preds[0]["bytesBase64Encoded"])[:2] == b"\xff\xd8"
    check_headers(a)


def test_a1111_answer_shape(fast_scorer):
    body = {
        "prompt": "a cat",
        "negative_prompt": "dog",
        "steps": 1,
        "seed": 4,
        "batch_size": 2,
        "sampler_name": "Euler",
        "init_images": [PNG],
        "denoising_strength": 1.0,
    }
    a = call(fast_scorer, body)
    assert a.status == 200, a.body
    out = a.json()
    assert set(out) == {"images", "parameters", "info"}
    assert len(out["images"]) == 2 and all(is_png(base64.b64decode(i)) for i in out["images"])
    assert out["parameters"]["init_images"] is None and out["parameters"]["steps"] == 1
    info = json.loads(out["info"])
    assert info["all_seeds"] == [4, 5] and info["sampler_name"] == "Euler"
    assert info["infotexts"][1].startswith("a cat\nNegative prompt: dog\nSteps: 1, ")
    assert "Seed: 5, Size: 64x64" in info["infotexts"][1]


def test_huggingface_answers_raw_bytes_unless_json_is_named(fast_scorer):
    body = {
        "inputs": "x",
        "parameters": {
            "num_inference_steps": 1,
            "seed": 2,
            "target_size": {"width": 64, "height": 64},
        },
    }
    for accept in (None, "*/*", "image/png", "image/*"):
        a = call(fast_scorer, body, accept)
        assert a.status == 200 and a.content_type == "image/png" and is_png(a.body), accept
        check_headers(a)
    a = call(fast_scorer, body, "application/json")
    assert a.status == 200 and a.json()["outputs"][0]["seed"] == 2  # ours, as asked
    a = call(
        fast_scorer,
        {"inputs": "x", "parameters": {"num_inference_steps": 1}},
        None,
        "application/json; dialect=huggingface",
    )
    assert a.status == 200 and a.content_type == "image/png"
    a = call(fast_scorer, {"inputs": "x", "parameters": {"num_inference_steps": 1}})
    assert a.status == 200 and a.json()["outputs"]  # our SageMaker envelope, unchanged


def test_our_own_answers_carry_the_headers_too(fast_scorer):
    for accept in (None, "image/png"):
        a = call(fast_scorer, {"prompt": "x", "num_inference_steps": 1, "seed": 8}, accept)
        assert a.status == 200 and a.headers["X-Genai-Seed"] == "8"
        check_headers(a)


def test_errors_in_a_dialect_carry_its_clients_fields(fast_scorer):
    a = call(fast_scorer, {"prompt": "x", "response_format": "url"})
    err = a.json()["error"]
    assert a.status == 400 and err["field"] == err["param"] == "response_format"
    assert err["type"] == "invalid_request_error" and err["code"] == 400
    a = call(fast_scorer, {"text_prompts": [{"text": "x"}], "steps": 0})
    body = a.json()
    assert a.status == 400 and body["name"] == "bad_request" and body["result"] == "error"
    assert body["message"] == body["error"]["message"] and len(body["id"]) == 32
    a = call(fast_scorer, {"prompt": "x", "n": 2}, accept="image/png")  # 406, in OpenAI's shape
    assert a.status == 406 and a.json()["error"]["type"] == "invalid_request_error"
    a = call(fast_scorer, {"prompt": "x", "n": 2, "steps": 3})  # ambiguous: ours alone
    assert a.status == 400 and set(a.json()) == {"error"}


def test_the_selector_rides_on_the_content_type(fast_scorer):
    a = call(
        fast_scorer,
        {"prompt": "x", "quality": "low"},
        None,
        'application/json; charset=utf-8; dialect="openai"',
    )
    assert a.status == 200 and "data" in a.json()
    a = call(fast_scorer, {"prompt": "x"}, None, "application/json; dialect=nope")
    assert a.status == 400 and a.json()["error"]["field"] == "Content-Type"


# ---------------------------------------- this project's own clients of those APIs


class ScorerPoster:
    """Stands in for a client transport's HTTP poster: the body goes to our scorer, as it
    would to our endpoint with only the URL changed."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.bodies: list[dict] = []

    def post(self, url, body, timeout, headers=None):
        self.bodies.append(body)
        answer = post(self.scorer, json.dumps(body).encode(), "application/json", None)
        assert answer.status == 200, answer.body
        return answer.json()


class NoToken:
    def header(self):
        return {}


def test_our_bedrock_sdxl_client_reads_our_answer(fast_scorer):
    from genai_endpoints.client.transports.bedrock import Bedrock
    from scoring.schema import GenerationRequest

    bedrock = Bedrock("stability.stable-diffusion-xl-v1", "us-east-1", style_preset="anime")
    req = GenerationRequest(
        prompt="a fox",
        negative_prompt="fog",
        seed=3,
        num_outputs=2,
        width=64,
        height=64,
        guidance_scale=6,
    )
    body = bedrock.body(req)
    answer = bedrock.parse(ScorerPoster(fast_scorer).post("", body, 60), req)
    assert [o.seed for o in answer.outputs] == [3, 4]
    assert all(is_png(o.data) for o in answer.outputs)


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("dall-e-3", {"style": "vivid", "image_quality": "hd"}),
        ("gpt-image-1", {"image_quality": "low"}),
    ],
)
def test_our_azure_openai_client_reads_our_answer(fast_scorer, model, options, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "not-a-real-key")
    from genai_endpoints.client.transports.azure_openai import AzureOpenAIImages
    from scoring.schema import GenerationRequest

    client = AzureOpenAIImages("https://x.openai.azure.com", "d", model, auth="key", **options)
    client.http = ScorerPoster(fast_scorer)
    answer = client.call(GenerationRequest(prompt="a fox", width=1024, height=1024), 60, None)
    assert len(answer.outputs) == 1 and is_png(answer.outputs[0].data)  # 1024 = native 64


def test_our_imagen_client_reads_our_answer(fast_scorer):
    from genai_endpoints.client.transports.imagen import Imagen
    from scoring.schema import GenerationRequest

    client = Imagen(
        "imagen-3.0-generate-002",
        project="p",
        region="us-central1",
        add_watermark=False,
        token=NoToken(),
    )
    client.http = ScorerPoster(fast_scorer)
    req = GenerationRequest(prompt="a fox", negative_prompt="fog", seed=5, num_outputs=2)
    answer = client.call(req, 60, None)
    assert answer.outputs[0].seed == 5 and len(answer.outputs) == 2
    assert all(is_png(o.data) for o in answer.outputs)
    assert client.http.bodies[0]["parameters"]["sampleCount"] == 2


def test_accept_names_json_explicitly():
    assert Accept("application/json").json_explicit
    assert not Accept("*/*").json_explicit and not Accept(None).json_explicit


# ----------------------------------------------------------------------------- fuzzing

LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "x",
            "auto",
            "1024x1024",
            "16:9",
            "²x²",
            "0:0",
            "1:²",
            "\ud800",
            "a\x00",
            "url",
            "2K",
            "Euler a",
            "K_EULER",
            "MASK_IMAGE_WHITE",
            "image/png",
            PNG[:40],
        ]
    ),
)
VALUE = st.recursive(
    LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
PLAIN_NAMES = sorted(set().union(*(d.fields for d in DIALECTS.values() if d.shape == "plain")))
PARAM_NAMES = sorted(DIALECTS["imagen"].fields | DIALECTS["huggingface"].fields)


@st.composite
def dialect_bodies(draw):
    """Mostly-valid bodies of each dialect with fields mutated, added or mixed in."""
    kind = draw(st.sampled_from(["openai", "stability", "a1111", "imagen", "hf"]))
    base = {
        "openai": {"prompt": "x", "n": 1, "size": "256x256"},
        "stability": {"text_prompts": [{"text": "x", "weight": 1}], "steps": 1},
        "a1111": {"prompt": "x", "steps": 1, "batch_size": 1},
        "imagen": {"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1}},
        "hf": {"inputs": "x", "parameters": {"target_size": {"width": 64, "height": 64}}},
    }[kind]
    body = json.loads(json.dumps(base))
    where = body["parameters"] if kind in ("imagen", "hf") else body
    names = PARAM_NAMES if kind in ("imagen", "hf") else PLAIN_NAMES
    for _ in range(draw(st.integers(0, 4))):
        where[draw(st.sampled_from([*names, "prompt", "seed", "bogus"]))] = draw(VALUE)
    if draw(st.booleans()):
        key = draw(st.sampled_from(sorted(where)))
        where[key] = draw(VALUE)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dialect_bodies(), st.sampled_from([None, *DIALECTS, "genai"]))
def test_fuzz_dialect_bodies_only_our_4xx_escape(image_engine, body, selector):
    from scoring.service import Scorer

    scorer = Scorer(image_engine)
    try:
        parsed = scorer.parse_payload(body, selector)
    except ScoringError as err:
        assert 400 <= err.status < 500, err.message
        answer = Answer.of_error(err)  # every dialect's error shape builds
        assert answer.json()["error"]["message"]
        return
    assert parsed.jobs and all(job.req.prompt for job in parsed.jobs)


# ---------------------------------------------------------------------- documentation


def test_every_dialect_field_is_in_the_mapping_table():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "dialects.md").read_text()
    for dialect in DIALECTS.values():
        section = doc.split(f"<!-- dialect:{dialect.name} -->")[1].split("<!-- /dialect -->")[0]
        missing = sorted(n for n in dialect.fields if f"`{n}`" not in section)
        assert not missing, f"{dialect.name}: {missing} not in docs/dialects.md"


def test_envelope_of_a_dialect_reading_is_the_bodys():
    assert unwrap({"prompt": "x", "n": 1}, LIMITS, TINY).envelope is Envelope.PLAIN
    u = unwrap({"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1}}, LIMITS, TINY)
    assert (
        u.envelope is Envelope.INSTANCES and u.locate(0, "num_outputs") == "parameters.sampleCount"
    )
