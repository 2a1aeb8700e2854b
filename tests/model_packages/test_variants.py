"""Weight variants: one copy of each weight staged, the engine loads that copy, the Hub
download asks only for it."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors import safe_open
from typer.testing import CliRunner

from genai_endpoints.cli import app
from model_packages.build import build_packages
from model_packages.staging import StagingError, hub_allow_patterns, stage_hub, stage_local
from scoring.variants import VariantError, choose_weights, weight_variant

MODULES = ["text_encoder", "unet", "vae"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model.safetensors", (True, None)),
        ("diffusion_pytorch_model.safetensors", (True, None)),
        ("model.fp16.safetensors", (True, "fp16")),
        ("diffusion_pytorch_model.bf16.safetensors", (True, "bf16")),
        ("model-00001-of-00002.safetensors", (True, None)),
        ("model.fp16-00001-of-00002.safetensors", (True, "fp16")),
        ("diffusion_pytorch_model-00001-of-00003.fp16.safetensors", (True, "fp16")),
        ("model.safetensors.index.json", (True, None)),
        ("diffusion_pytorch_model.safetensors.index.fp16.json", (True, "fp16")),
        ("config.json", (False, None)),
        ("tokenizer.json", (False, None)),
        ("merges.txt", (False, None)),
    ],
)
def test_weight_variant_from_the_file_name(name, expected):
    assert weight_variant(name) == expected


def layout(*tags, modules=MODULES) -> list[str]:
    """A folder listing: configs plus one weight file per module per tag."""
    paths = ["model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json"]
    for module in modules:
        paths.append(f"{module}/config.json")
        base = "model" if module == "text_encoder" else "diffusion_pytorch_model"
        for tag in tags:
            paths.append(f"{module}/{base}{'.' + tag if tag else ''}.safetensors")
    return paths


def weights(choice) -> list[str]:
    return [p for p in choice.keep if weight_variant(p.rsplit("/", 1)[-1])[0]]


def test_plain_only_folder_loads_plain():
    choice = choose_weights(layout(None), MODULES)
    assert choice.variant is None and len(weights(choice)) == 3 and choice.left_out == ()


def test_fp16_only_folder_is_detected():
    choice = choose_weights(layout("fp16"), MODULES)
    assert choice.variant == "fp16"
    assert all(".fp16." in p for p in weights(choice)) and len(weights(choice)) == 3


def test_both_variants_pick_plain_unless_asked():
    plain = choose_weights(layout(None, "fp16"), MODULES)
    assert plain.variant is None
    assert not any(".fp16." in p for p in weights(plain))
    assert sorted(plain.left_out) == sorted(p for p in layout("fp16") if ".fp16." in p)
    fp16 = choose_weights(layout(None, "fp16"), MODULES, "fp16")
    assert fp16.variant == "fp16" and all(".fp16." in p for p in weights(fp16))
    assert len(fp16.left_out) == 3


def test_a_module_without_the_variant_loads_its_plain_weights():
    """As diffusers does per module: SDXL repos ship an fp16 VAE fix in only some folders."""
    paths = layout(None, "fp16", modules=["unet", "text_encoder"]) + layout(None, modules=["vae"])
    choice = choose_weights(paths, MODULES, "fp16")
    assert "vae/diffusion_pytorch_model.safetensors" in choice.keep
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in choice.keep
    assert "unet/diffusion_pytorch_model.safetensors" in choice.left_out
    # no plain weights for unet/text_encoder, one variant: detected without --variant
    paths = layout("fp16", modules=["unet", "text_encoder"]) + layout(None, modules=["vae"])
    assert choose_weights(paths, MODULES).variant == "fp16"


def test_several_variants_without_plain_weights_is_ambiguous():
    with pytest.raises(VariantError, match=r"several variants \(bf16, fp16\).*--variant"):
        choose_weights(layout("fp16", "bf16"), MODULES)
    assert choose_weights(layout("fp16", "bf16"), MODULES, "bf16").variant == "bf16"


def test_asking_for_a_variant_the_folder_lacks_names_what_it_has():
    with pytest.raises(VariantError, match=r"variant fp16: .*variants here: none"):
        choose_weights(layout(None), MODULES, "fp16")
    with pytest.raises(VariantError, match=r"variants here: bf16"):
        choose_weights(layout(None, "bf16"), MODULES, "fp16")


def test_sharded_weights_keep_their_index_and_every_shard():
    paths = [
        *layout(None),
        "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
        "unet/diffusion_pytorch_model-00001-of-00002.fp16.safetensors",
        "unet/diffusion_pytorch_model-00002-of-00002.fp16.safetensors",
    ]
    choice = choose_weights(paths, MODULES, "fp16")
    assert [p for p in choice.keep if p.startswith("unet/")] == [
        "unet/config.json",
        "unet/diffusion_pytorch_model-00001-of-00002.fp16.safetensors",
        "unet/diffusion_pytorch_model-00002-of-00002.fp16.safetensors",
        "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
    ]


def test_weights_outside_the_pipeline_modules_are_left_out():
    """A Hub repo's root single-file checkpoint and unused folders are never loaded."""
    paths = [
        *layout(None),
        "sd_xl_base_1.0.safetensors",
        "vae_1_0/diffusion_pytorch_model.safetensors",
    ]
    choice = choose_weights(paths, MODULES)
    assert "sd_xl_base_1.0.safetensors" in choice.left_out
    assert "vae_1_0/diffusion_pytorch_model.safetensors" in choice.left_out


@given(
    st.dictionaries(
        st.sampled_from(MODULES),
        st.sets(st.sampled_from([None, "fp16", "bf16"]), min_size=1),
        min_size=1,
    ),
    st.sampled_from([None, "fp16", "bf16"]),
)
def test_choice_is_a_partition_with_one_copy_per_module(tags_by_module, asked):
    paths = ["model_index.json"]
    for module, tags in tags_by_module.items():
        paths += [p for p in layout(*tags, modules=[module])]
    all_weights = {p for p in paths if weight_variant(p.rsplit("/", 1)[-1])[0]}
    try:
        choice = choose_weights(paths, MODULES, asked)
    except VariantError:
        return  # ambiguous or absent variant: refused with a message, never a guess
    kept = set(weights(choice))
    assert kept | set(choice.left_out) == all_weights and not kept & set(choice.left_out)
    for module, tags in tags_by_module.items():
        mine = [p for p in kept if p.startswith(module + "/")]
        assert len(mine) == 1  # exactly one copy of each weight
        tag = weight_variant(mine[0].rsplit("/", 1)[-1])[1]
        assert tag == (choice.variant if choice.variant in tags else None)
    if asked is not None:
        assert choice.variant == asked


# --- staging real (tiny) folders ----------------------------------------------------------


def test_fp16_only_sdxl_stages_its_fp16_files(tiny_sdxl_fp16_model):
    staged = stage_local(tiny_sdxl_fp16_model)
    assert staged.variant == "fp16" and staged.family == "sdxl"
    paths = [f.path for f in staged.files if f.path.endswith(".safetensors")]
    assert len(paths) == 4 and all(p.endswith(".fp16.safetensors") for p in paths)
    assert staged.left_out == ()


def test_two_variant_folder_stages_one_copy(tiny_two_variant_model):
    on_disk = sum(f.stat().st_size for f in tiny_two_variant_model.rglob("*") if f.is_file())
    plain = stage_local(tiny_two_variant_model)
    fp16 = stage_local(tiny_two_variant_model, variant="fp16")
    assert plain.variant is None and fp16.variant == "fp16"
    assert not any(".fp16." in f.path for f in plain.files)
    assert {f.path for f in fp16.files if f.path.endswith(".safetensors")} == {
        "text_encoder/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    }
    # size checks count what ships: each weight once (fp16 is about half of fp32)
    shared = sum(f.size for f in set(plain.files) & set(fp16.files))  # configs, tokenizer
    assert plain.size_bytes + fp16.size_bytes - shared == on_disk
    assert fp16.size_bytes < 0.6 * plain.size_bytes
    assert plain.digest != fp16.digest


def test_staging_refuses_a_missing_variant(tiny_image_model):
    with pytest.raises(StagingError, match=r"variant fp16: .*plain weights only"):
        stage_local(tiny_image_model, variant="fp16")


def test_package_command_ships_the_variant(tiny_two_variant_model, tmp_path):
    result = CliRunner().invoke(
        app,
        ["package", "--model-dir", str(tiny_two_variant_model), "--out", str(tmp_path),
         "--cloud", "vertex", "--variant", "fp16"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sd model, fp16 weights; left out 3 weight files" in result.output
    shipped = sorted(p.name for p in (tmp_path / "vertex").rglob("*.safetensors"))
    assert shipped == [
        "diffusion_pytorch_model.fp16.safetensors",
        "diffusion_pytorch_model.fp16.safetensors",
        "model.fp16.safetensors",
    ]
    bad = CliRunner().invoke(
        app,
        ["package", "--model-dir", str(tiny_two_variant_model), "--out", str(tmp_path / "b"),
         "--variant", "int8"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "variant int8" in bad.output and "fp16" in bad.output


# --- the engine loads the staged copy ----------------------------------------------------


def test_engine_loads_the_packaged_variant(tiny_two_variant_model, tmp_path):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    build_packages(stage_local(tiny_two_variant_model, variant="fp16"), ["vertex"], tmp_path)
    packaged = tmp_path / "vertex" / "model"
    engine = Engine(EngineSettings(model_dir=packaged, device="cpu"))
    assert engine.variant == "fp16"
    loaded = engine.base.unet.conv_in.weight.detach()
    with safe_open(packaged / "unet/diffusion_pytorch_model.fp16.safetensors", "pt") as f:
        assert (loaded == f.get_tensor("conv_in.weight").float()).all()
    # the source folder holds both: plain by default, fp16 when asked
    plain = Engine(EngineSettings(model_dir=tiny_two_variant_model, device="cpu"))
    assert plain.variant is None
    src = tiny_two_variant_model / "unet/diffusion_pytorch_model.safetensors"
    with safe_open(src, "pt") as f:
        assert (plain.base.unet.conv_in.weight.detach() == f.get_tensor("conv_in.weight")).all()
    asked = Engine(EngineSettings(model_dir=tiny_two_variant_model, device="cpu", variant="fp16"))
    assert (asked.base.unet.conv_in.weight.detach() == loaded).all()


def test_engine_refuses_an_ambiguous_folder(tiny_family, tmp_path):
    from scoring.engine import Engine
    from scoring.errors import ModelNotReady
    from scoring.settings import EngineSettings

    folder = tmp_path / "m"
    shutil.copytree(tiny_family("sd", ("fp16",)), folder)
    for weight in folder.rglob("*.fp16.safetensors"):
        shutil.copy(weight, weight.with_name(weight.name.replace(".fp16.", ".bf16.")))
    with pytest.raises(ModelNotReady, match=r"several variants \(bf16, fp16\)"):
        Engine(EngineSettings(model_dir=folder, device="cpu"))


# --- from the Hub: only the chosen files are downloaded -----------------------------------

SDXL_REPO = [  # the file layout of stabilityai/stable-diffusion-xl-base-1.0
    ".gitattributes", "README.md", "LICENSE.md", "model_index.json", "01.png",
    "sd_xl_base_1.0.safetensors", "sd_xl_base_1.0_0.9vae.safetensors",
    "sd_xl_offset_example-lora_1.0.safetensors",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
    "text_encoder/model.onnx", "text_encoder/model.safetensors",
    "text_encoder/openvino_model.bin", "text_encoder/openvino_model.xml",
    "text_encoder_2/config.json", "text_encoder_2/model.fp16.safetensors",
    "text_encoder_2/model.safetensors", "text_encoder_2/model.onnx",
    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
    "tokenizer_2/merges.txt", "tokenizer_2/special_tokens_map.json",
    "tokenizer_2/tokenizer_config.json", "tokenizer_2/vocab.json",
    "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
    "unet/diffusion_pytorch_model.safetensors", "unet/model.onnx",
    "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "vae_1_0/config.json", "vae_1_0/diffusion_pytorch_model.fp16.safetensors",
    "vae_decoder/config.json", "vae_decoder/model.onnx",
]  # fmt: skip
SDXL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline",
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def test_hub_patterns_name_one_variant_and_no_stray_checkpoint():
    fp16 = hub_allow_patterns(SDXL_REPO, SDXL_INDEX, "fp16")
    safetensors = [p for p in fp16 if p.endswith(".safetensors")]
    assert safetensors == [
        "text_encoder/model.fp16.safetensors",
        "text_encoder_2/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert "unet/config.json" in fp16 and "tokenizer_2/merges.txt" in fp16
    assert not any(p.endswith((".bin", ".onnx", ".png")) for p in fp16)
    plain = hub_allow_patterns(SDXL_REPO, SDXL_INDEX, None)
    assert not any(".fp16." in p for p in plain)
    assert "sd_xl_base_1.0.safetensors" not in plain


def test_stage_hub_downloads_only_the_allowed_files(monkeypatch, tiny_two_variant_model, tmp_path):
    """The Hub client is replaced by a local snapshot; what is asked of it is checked."""
    import huggingface_hub

    asked: dict = {}
    snapshot = tmp_path / "snapshot"
    repo_files = [
        p.relative_to(tiny_two_variant_model).as_posix()
        for p in tiny_two_variant_model.rglob("*")
        if p.is_file()
    ]

    def hf_hub_download(repo_id, filename, revision, cache_dir=None):
        return str(tiny_two_variant_model / filename)

    def snapshot_download(repo_id, revision, cache_dir=None, allow_patterns=None):
        asked["patterns"] = allow_patterns
        for rel in allow_patterns:
            (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tiny_two_variant_model / rel, snapshot / rel)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(
        huggingface_hub.HfApi, "list_repo_files", lambda self, r, revision: repo_files
    )
    staged = stage_hub("org/tiny", "a" * 40, variant="fp16")
    assert staged.variant == "fp16" and staged.revision == "a" * 40
    assert not any(p.endswith(".safetensors") and ".fp16." not in p for p in asked["patterns"])
    assert {f.path for f in staged.files} == set(asked["patterns"])
    index = json.loads((snapshot / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
