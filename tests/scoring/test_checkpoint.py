"""A checkpoint whose weights don't match the module code is refused at load, naming the
module and keys; legitimate format differences (legacy names, tied weights) still load."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from genai_endpoints.commands.rehearsal import http, package_server
from model_packages.build import build_packages
from model_packages.staging import stage_local
from scoring.checkpoint import CheckpointMismatch, check_loading_info
from scoring.engine import Engine
from scoring.errors import ModelNotReady
from scoring.settings import EngineSettings

TE = "text_encoder/model.safetensors"
UNET = "unet/diffusion_pytorch_model.safetensors"
FC1 = "encoder.layers.0.mlp.fc1.weight"  # as the module names it (transformers 5)
FILE_FC1 = "text_model." + FC1  # as Hub checkpoints (and the tiny models) store it


def edited_copy(src, dst, rel, edit):
    """A copy of the model folder whose ``rel`` weight file went through ``edit(dict)``."""
    shutil.copytree(src, dst)
    tensors = load_file(dst / rel)
    edit(tensors)
    save_file(tensors, dst / rel, metadata={"format": "pt"})
    return dst


def load(folder, **settings):
    return Engine(EngineSettings(model_dir=folder, device="cpu", **settings))


def test_renamed_text_encoder_key_is_refused(tiny_image_model, tmp_path):
    folder = edited_copy(
        tiny_image_model,
        tmp_path / "m",
        TE,
        lambda t: t.__setitem__("text_model.encoder.layers.0.mlp.fc_1.weight", t.pop(FILE_FC1)),
    )
    with pytest.raises(CheckpointMismatch) as exc:
        load(folder)
    message = exc.value.message
    assert message.startswith("text_encoder: weights do not match CLIPTextModel")
    assert f"1 missing ({FC1})" in message
    assert "1 unexpected (encoder.layers.0.mlp.fc_1.weight)" in message
    assert isinstance(exc.value, ModelNotReady)


def test_dropped_text_encoder_key_is_refused(tiny_image_model, tmp_path):
    folder = edited_copy(tiny_image_model, tmp_path / "m", TE, lambda t: t.pop(FILE_FC1))
    with pytest.raises(CheckpointMismatch, match=rf"text_encoder: .*1 missing \({FC1}\)"):
        load(folder)


def test_dropped_unet_key_and_extra_vae_key_are_refused(tiny_image_model, tmp_path):
    folder = edited_copy(tiny_image_model, tmp_path / "u", UNET, lambda t: t.pop("conv_in.bias"))
    with pytest.raises(
        CheckpointMismatch, match=r"unet: .*UNet2DConditionModel: 1 missing \(conv_in.bias\)"
    ):
        load(folder)
    vae = "vae/diffusion_pytorch_model.safetensors"
    folder = edited_copy(
        tiny_image_model,
        tmp_path / "v",
        vae,
        lambda t: t.__setitem__("extra.weight", torch.zeros(2)),
    )
    with pytest.raises(CheckpointMismatch, match=r"vae: .*1 unexpected \(extra.weight\)"):
        load(folder)


def test_the_loaded_variant_is_the_one_checked(tiny_family, tmp_path):
    """An fp16-only SDXL whose second text encoder lost a key: the fp16 file is checked."""
    rel = "text_encoder_2/model.fp16.safetensors"
    key = "text_model." + FC1  # CLIPTextModelWithProjection keeps the prefix
    folder = edited_copy(tiny_family("sdxl", ("fp16",)), tmp_path / "m", rel, lambda t: t.pop(key))
    with pytest.raises(CheckpointMismatch, match=r"text_encoder_2: .*CLIPTextModelWithProjection"):
        load(folder)


def test_many_missing_keys_are_summarised(tiny_image_model, tmp_path):
    def drop_layer(tensors):
        for key in [k for k in tensors if k.startswith("text_model.encoder.layers.1.")]:
            tensors.pop(key)

    folder = edited_copy(tiny_image_model, tmp_path / "m", TE, drop_layer)
    with pytest.raises(
        CheckpointMismatch, match=r"16 missing \(encoder\.layers\.1\.[^)]*, \.\.\.\)"
    ):
        load(folder)


@pytest.mark.parametrize("layout", ["transformers-5", "position-ids"])
def test_other_key_layouts_of_the_same_weights_still_load(tiny_image_model, tmp_path, layout):
    """The tiny text encoder is stored as Hub repos store it (``text_model.*``, written by
    transformers 4). The same weights keyed as transformers 5 saves them, or with the
    persistent ``position_ids`` buffer older checkpoints carry, load: not a mismatch."""

    def edit(tensors):
        if layout == "transformers-5":
            for key in list(tensors):
                tensors[key.removeprefix("text_model.")] = tensors.pop(key)
        else:
            tensors["text_model.embeddings.position_ids"] = torch.arange(77)[None]

    folder = edited_copy(tiny_image_model, tmp_path / "m", TE, edit)
    engine = load(folder)
    reference = load_file(tiny_image_model / TE)[FILE_FC1]
    assert torch.equal(engine.base.text_encoder.state_dict()[FC1], reference)


def test_tied_weights_are_not_missing(tiny_family):
    """T5 ties its input embedding to ``shared``: saved once, present twice in the module."""
    engine = load(tiny_family("sd3"))
    t5 = engine.base.text_encoder_3
    assert t5.encoder.embed_tokens.weight.data_ptr() == t5.shared.weight.data_ptr()


def test_loading_info_of_either_library_shape():
    check_loading_info("m", "C", {"missing_keys": set(), "unexpected_keys": [], "error_msgs": []})
    with pytest.raises(CheckpointMismatch, match=r"m: .*1 wrong shape \(a.weight\)"):
        check_loading_info(
            "m", "C", {"missing_keys": [], "mismatched_keys": [("a.weight", (2,), (3,))]}
        )
    with pytest.raises(CheckpointMismatch, match=r"1 errors \(boom\)"):
        check_loading_info("m", "C", {"missing_keys": [], "error_msgs": ["boom"]})


@pytest.mark.slow
@pytest.mark.parametrize("cloud", ["sagemaker", "vertex", "azureml"])
def test_mismatched_checkpoint_fails_readiness_on_every_contract(tiny_image_model, tmp_path, cloud):
    folder = edited_copy(tiny_image_model, tmp_path / "m", TE, lambda t: t.pop(FILE_FC1))
    build_packages(stage_local(folder), [cloud], tmp_path / "pkg")
    expected = "text_encoder: weights do not match CLIPTextModel"
    try:
        with package_server(
            cloud, tmp_path / "pkg" / cloud, tmp_path / "logs", expect_ready=False
        ) as server:
            reply = http("GET", server.base + READINESS[cloud], timeout=5)
            assert reply.status == 503
            error = json.loads(reply.body)["error"]
            assert expected in error and FC1 in error
            # never a 200 from random weights
            assert server.predict(PAYLOADS[cloud]).status == 503
    except RuntimeError as exc:  # a server that exits when its model can't load
        assert cloud == "azureml" and expected in str(exc) and FC1 in str(exc)


READINESS = {"sagemaker": "/ping", "vertex": "/health", "azureml": "/ready"}
PAYLOADS = {
    "sagemaker": {"inputs": "x", "parameters": {"num_inference_steps": 1}},
    "vertex": {"instances": [{"prompt": "x"}], "parameters": {"num_inference_steps": 1}},
    "azureml": {"prompt": "x", "num_inference_steps": 1},
}
