"""LoRA adapters on the tiny models: they change the output, scale 0 is no adapter, and
one request's adapters never reach the next (bytes equal to a fresh engine's).

Tolerance: exact. Scale 0 adds exactly zero to each adapted layer and a disabled adapter
is skipped, so the PNG bytes are compared for equality, not closeness.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scoring.errors import ModelNotReady, RequestError
from tests.helpers import decode_output
from tests.scoring.helpers import post
from tests.tiny_adapters import packaged, tiny_lora

BASE = {"prompt": "a lighthouse", "num_inference_steps": 2, "seed": 11, "width": 64, "height": 64}


def engine_for(model_dir, **settings):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    return Engine(EngineSettings(model_dir=model_dir, device="cpu", **settings))


def png(engine, **fields) -> bytes:
    from scoring.service import Scorer

    answer = post(Scorer(engine), json.dumps({**BASE, **fields}).encode())
    assert answer.status == 200, answer.body
    return answer.json()["outputs"][0]["data"]


@pytest.fixture(scope="module")
def sd_loras(tiny_image_model, tmp_path_factory):
    """ink: UNet + text encoder adapter; oil: UNet only (another seed)."""
    root = tmp_path_factory.mktemp("sd-loras")
    return {
        "ink": tiny_lora(tiny_image_model, root / "ink.safetensors", seed=1, text_encoder=True),
        "oil": tiny_lora(tiny_image_model, root / "oil.safetensors", seed=2),
    }


@pytest.fixture(scope="module")
def sd_engine(tiny_image_model, sd_loras, tmp_path_factory):
    model = packaged(tiny_image_model, tmp_path_factory.mktemp("pkg"), loras=sd_loras)
    return engine_for(model)


@pytest.fixture(scope="module")
def plain_engine(tiny_image_model):
    """The same model without any adapter: what "no LoRA" must equal."""
    return engine_for(tiny_image_model)


def test_adapters_load_once_into_unet_and_text_encoder(sd_engine):
    assert sd_engine.info.loras == {"ink", "oil"}
    assert sd_engine.base.get_list_adapters() == {
        "unet": ["ink", "oil"],
        "text_encoder": ["ink"],
    }


@pytest.mark.slow
def test_a_lora_changes_the_output_and_scale_zero_equals_none(sd_engine, plain_engine):
    without = png(plain_engine)
    with_ink = png(sd_engine, loras=[{"name": "ink", "scale": 1.0}])
    assert with_ink != without
    a = np.asarray(decode_output({"outputs": [{"data": with_ink}]}), dtype=float)
    b = np.asarray(decode_output({"outputs": [{"data": without}]}), dtype=float)
    assert np.abs(a - b).mean() > 1.0  # a visible change, not one rounding step
    assert png(sd_engine, loras=[{"name": "ink", "scale": 0.0}]) == without
    assert png(sd_engine, loras=[{"name": "ink", "scale": 0.5}]) not in (with_ink, without)


@pytest.mark.slow
def test_no_adapter_leaks_into_the_next_request(sd_engine, plain_engine, tiny_image_model):
    fresh = png(plain_engine)
    png(sd_engine, loras=[{"name": "ink", "scale": 1.5}, {"name": "oil", "scale": 0.7}])
    assert png(sd_engine) == fresh  # B without a LoRA after A with two
    png(sd_engine, loras=[{"name": "ink"}])
    oil_after_ink = png(sd_engine, loras=[{"name": "oil", "scale": 0.7}])
    # a fresh engine whose first request selects oil alone
    fresh_oil = png(engine_for(sd_engine.model_dir), loras=[{"name": "oil", "scale": 0.7}])
    assert oil_after_ink == fresh_oil


@pytest.mark.slow
def test_adapters_apply_to_derived_pipelines(sd_engine, plain_engine):
    from tests.helpers import png_b64

    image = {"image": png_b64(64, 64), "strength": 0.9, "width": None, "height": None}
    fields = {k: v for k, v in image.items() if v is not None}
    assert png(sd_engine, loras=[{"name": "oil"}], **fields) != png(plain_engine, **fields)
    assert png(sd_engine, **fields) == png(plain_engine, **fields)


def test_unknown_or_repeated_names_are_a_400_before_the_queue(sd_engine):
    from scoring.service import Scorer

    scorer = Scorer(sd_engine)
    body = {**BASE, "loras": [{"name": "ink"}, {"name": "watercolour"}, {"name": "ink"}]}
    with pytest.raises(RequestError) as caught:
        scorer.parse(json.dumps(body).encode())  # parse only: nothing queued or run
    message = caught.value.message
    assert caught.value.field == "loras.1.name"
    assert "unknown LoRA 'watercolour'; this deployment has: ink, oil" in message
    assert "loras.2.name: LoRA 'ink' is listed twice" in message
    assert scorer.gate.busy is False and scorer.gate.waiting == 0


def test_a_deployment_without_adapters_names_none(plain_engine):
    from scoring.service import Scorer

    answer = post(Scorer(plain_engine), json.dumps({**BASE, "loras": [{"name": "x"}]}).encode())
    assert answer.status == 400
    message = answer.json()["error"]["message"]
    assert "this deployment has: none (packaged without --lora)" in message


@pytest.mark.parametrize(
    ("loras", "field", "words"),
    [
        ("ink", "loras", "must be a JSON array"),
        (["ink"], "loras.0", "must be a JSON object"),
        ([{"scale": 1}], "loras.0.name", "required"),
        ([{"name": "ink", "scale": 9}], "loras.0.scale", "less than or equal to 4"),
        ([{"name": "ink", "scale": True}], "loras.0.scale", "not true or false"),
        ([{"name": "ink", "weight": 1}], "loras.0.weight", "allowed fields: name, scale"),
        ([{"name": "ink\x07"}], "loras.0.name", "control character"),
        ([{"name": f"n{i}"} for i in range(9)], "loras", "at most 8 adapters"),
    ],
)
def test_bad_lora_fields_name_the_field(sd_engine, loras, field, words):
    from scoring.service import Scorer

    answer = post(Scorer(sd_engine), json.dumps({**BASE, "loras": loras}).encode())
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["field"] == field, error
    assert words in error["message"]


@pytest.mark.slow
def test_an_adapter_for_another_architecture_fails_the_load(
    tiny_family, sd_loras, tmp_path_factory
):
    """An SD adapter in an SDXL package: readiness fails naming the file, never a 200."""
    model = packaged(
        tiny_family("sdxl"), tmp_path_factory.mktemp("bad"), loras={"ink": sd_loras["ink"]}
    )
    with pytest.raises(ModelNotReady, match=r"loras/ink\.safetensors: does not fit"):
        engine_for(model)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sdxl", "sd3", "flux"])
def test_other_families_load_select_and_reset_adapters(family, tiny_family, tmp_path_factory):
    """SDXL (UNet), SD3 and FLUX (transformer): the same calls load and select adapters."""
    model_dir = tiny_family(family)
    root = tmp_path_factory.mktemp(f"{family}-lora")
    lora = tiny_lora(model_dir, root / "style.safetensors", seed=3)
    side = {"width": 64, "height": 64}
    engine = engine_for(packaged(model_dir, root / "pkg", loras={"style": lora}))
    plain = png(engine_for(model_dir), **side)
    assert png(engine, loras=[{"name": "style"}], **side) != plain
    assert png(engine, loras=[{"name": "style", "scale": 0}], **side) == plain
    assert png(engine, **side) == plain


@pytest.mark.slow
def test_loading_adapters_prints_nothing(sd_loras, tiny_image_model, tmp_path):
    """diffusers' load-time notes (a UNet-only adapter has no text-encoder keys) are
    collected and judged, never printed: no noise on stderr."""
    import subprocess
    import sys

    model = packaged(tiny_image_model, tmp_path, loras={"oil": sd_loras["oil"]})
    code = (
        "from scoring.engine import Engine\n"
        "from scoring.settings import EngineSettings\n"
        f"engine = Engine(EngineSettings(model_dir={str(model)!r}, device='cpu'))\n"
        "assert engine.info.loras == {'oil'}\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == ""
