"""Build tiny random-weight diffusers pipelines, offline, for tests and rehearsals.

One per model family (``scoring.families``): the same pipeline class, module classes,
tokenizers and scheduler config as the real checkpoints, at a few MB. They are saved with
``save_pretrained`` (safetensors) and loaded back through the same ``from_pretrained``
path as a real model, so everything but the weights' quality is real: folder layout,
tokenizers, scheduler config, VAE scale factor (8), latent packing, and task derivation.
Weights come from a fixed seed, so a rebuild is byte-identical.
"""

from __future__ import annotations

import json
import string
from enum import StrEnum
from pathlib import Path

from scoring.families import Family

TOKENIZER_MAX_LENGTH = 77
T5_MAX_LENGTH = 512
HIDDEN = 32
TINY_FAMILIES = (Family.SD, Family.SDXL, Family.SD3, Family.FLUX, Family.VIDEO)


class TinyKind(StrEnum):
    """The task names ``tiny-model --task`` took before families: kept as aliases."""

    TEXT_TO_IMAGE = "text-to-image"
    TEXT_TO_VIDEO = "text-to-video"

    @property
    def family(self) -> Family:
        return Family.VIDEO if self is TinyKind.TEXT_TO_VIDEO else Family.SD


def build_tiny_model(
    out_dir: Path,
    family: Family | TinyKind | str = Family.SD,
    seed: int = 0,
    *,
    variants: tuple[str | None, ...] = (None,),
) -> Path:
    """Write a tiny pipeline of ``family`` to ``out_dir`` (created) and return it.

    ``variants`` are the weight copies written: ``None`` plain fp32 files, ``"fp16"``
    ``*.fp16.safetensors`` in half precision (``("fp16",)`` is the fp16-only layout many
    Hub checkpoints have; ``(None, "fp16")`` a folder with both).
    """
    import torch

    from scoring.engine import quiet_loading

    family = family.family if isinstance(family, TinyKind) else Family(family)
    if family not in TINY_FAMILIES:
        raise ValueError(f"no tiny model for family {family}; choose one of {TINY_FAMILIES}")
    quiet_loading()
    torch.manual_seed(seed)
    pipe = BUILDERS[family]()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # plain (fp32) first: casting to half precision is one-way
    for variant in sorted(variants, key=lambda v: v is not None):
        if variant in ("fp16", "bf16"):
            pipe.to(dtype=torch.float16 if variant == "fp16" else torch.bfloat16)
        pipe.save_pretrained(out_dir, safe_serialization=True, variant=variant)
    for config in sorted(out_dir.glob("tokenizer*/tokenizer_config.json")):
        if json.loads(config.read_text())["tokenizer_class"] == "CLIPTokenizer":
            _write_slow_tokenizer_files(config.parent)
    _as_hub_checkpoints(out_dir)
    return out_dir


def _as_hub_checkpoints(out_dir: Path) -> None:
    """Write what real Hub repos hold where this transformers saves differently, so the
    tiny models take the loading paths real checkpoints take (and any transformers loads
    them): CLIP text encoders keyed ``text_model.*`` as every SD/SDXL/FLUX repo ships them
    (transformers 5 converts those keys at load; 4.x only reads them), and the fast T5
    tokenizer named ``T5TokenizerFast`` in model_index.json, as SD3 and FLUX repos do."""
    from safetensors.torch import load_file, save_file

    index_file = out_dir / "model_index.json"
    index = json.loads(index_file.read_text())
    for name, entry in index.items():
        if entry == ["transformers", "T5Tokenizer"]:
            index[name] = ["transformers", "T5TokenizerFast"]
        if entry != ["transformers", "CLIPTextModel"]:
            continue
        for weights in sorted((out_dir / name).glob("*.safetensors")):
            tensors = load_file(weights)
            if not any(key.startswith("text_model.") for key in tensors):
                tensors = {f"text_model.{key}": value for key, value in tensors.items()}
                save_file(tensors, weights, metadata={"format": "pt"})
    index_file.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


# --- tokenizers and text encoders ---------------------------------------------------------


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=char_vocab(), merges=[], model_max_length=TOKENIZER_MAX_LENGTH)


def _clip_config(tokenizer, hidden: int = HIDDEN):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=hidden,
    )


def _text_stack():
    """A CLIP text encoder and a character-level CLIP BPE tokenizer (no merges)."""
    from transformers import CLIPTextModel

    tokenizer = _clip_tokenizer()
    return tokenizer, CLIPTextModel(_clip_config(tokenizer)).eval()


def _clip_with_projection():
    """SDXL's second and SD3's two CLIP encoders: pooled output through a projection."""
    from transformers import CLIPTextModelWithProjection

    tokenizer = _clip_tokenizer()
    return tokenizer, CLIPTextModelWithProjection(_clip_config(tokenizer)).eval()


def char_vocab() -> dict[str, int]:
    """CLIP's byte-to-unicode alphabet, each char alone and as a word end, plus specials."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(tokens)}


def t5_vocab() -> list[tuple[str, float]]:
    """A Unigram vocabulary of T5's specials and single characters, alone and word-initial
    (``▁``), so any ASCII prompt tokenizes without a SentencePiece model file."""
    chars = string.ascii_letters + string.digits + string.punctuation
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in chars] + [("▁" + c, -3.5) for c in chars]
    return pieces


def _t5_stack(d_model: int = HIDDEN):
    """A T5 encoder and a fast T5 tokenizer built from ``t5_vocab`` (tokenizers' Unigram
    model, saved as tokenizer.json): what SD3 and FLUX use for their long prompts."""
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast

    tokenizer = T5TokenizerFast(vocab=t5_vocab(), extra_ids=0, model_max_length=T5_MAX_LENGTH)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=8,
        d_ff=2 * d_model,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return tokenizer, T5EncoderModel(config).eval()


def _write_slow_tokenizer_files(folder: Path) -> None:
    """vocab.json and merges.txt as real CLIP repos ship them (older transformers read
    them); rewritten with the character vocabulary so a rebuild is byte-identical."""
    folder.joinpath("vocab.json").write_text(
        json.dumps(char_vocab(), ensure_ascii=False, sort_keys=True), encoding="utf-8"
    )
    folder.joinpath("merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


# --- VAE and schedulers --------------------------------------------------------------------


def _vae(latent_channels: int = 4, flow: bool = False):
    """Four blocks (downsample by 8, as every family here). ``flow``: SD3/FLUX's VAE, no
    quant convs, with a latent shift."""
    from diffusers import AutoencoderKL

    extra = (
        {"use_quant_conv": False, "use_post_quant_conv": False, "shift_factor": 0.0609}
        if flow
        else {}
    )
    return AutoencoderKL(
        block_out_channels=[8, 16, 16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=latent_channels,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        **extra,
    ).eval()


def _scheduler():
    from diffusers import PNDMScheduler

    # Stable Diffusion 1.x's own scheduler config; the engine swaps in DPM-Solver++.
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def _sdxl_scheduler():
    from diffusers import EulerDiscreteScheduler

    # SDXL base 1.0's scheduler config
    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )


def _flow_scheduler(dynamic: bool):
    from diffusers import FlowMatchEulerDiscreteScheduler

    if dynamic:  # FLUX.1-dev's: the shift grows with the image's sequence length
        return FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000,
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        )
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)  # SD3's


# --- one builder per family ----------------------------------------------------------------


def _sd_pipeline():
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    tokenizer, text_encoder = _text_stack()
    vae = _vae()  # made before the UNet: the seed's draws stay in the order they always had
    unet = UNet2DConditionModel(
        sample_size=8,  # latent size: 8 x 8 latents = 64 x 64 pixels by default
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=8,
        norm_num_groups=8,
    ).eval()
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _sdxl_pipeline():
    """Two CLIP encoders whose hidden states are concatenated (cross-attention 2 x 32), the
    second's pooled projection plus six size/crop numbers conditioning the UNet."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    tokenizer, text_encoder = _text_stack()
    tokenizer_2, text_encoder_2 = _clip_with_projection()
    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=2 * HIDDEN,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + HIDDEN,
        transformer_layers_per_block=(1, 2),
        norm_num_groups=8,
    ).eval()
    return StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=_sdxl_scheduler(),
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )


def _sd3_pipeline():
    """MMDiT on 2 x 2 patches of 16-channel latents; CLIP pair (64 wide) zero-padded to the
    T5 width and joined with T5's tokens."""
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline

    tokenizer, text_encoder = _clip_with_projection()
    tokenizer_2, text_encoder_2 = _clip_with_projection()
    tokenizer_3, text_encoder_3 = _t5_stack(d_model=2 * HIDDEN)
    transformer = SD3Transformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=2 * HIDDEN,
        caption_projection_dim=HIDDEN,
        pooled_projection_dim=2 * HIDDEN,
        pos_embed_max_size=64,  # up to 64 x 2 x 8 = 1024 px a side
    ).eval()
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=_flow_scheduler(dynamic=False),
        vae=_vae(latent_channels=16, flow=True),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        text_encoder_3=text_encoder_3,
        tokenizer_3=tokenizer_3,
    )


def _flux_pipeline():
    """FLUX.1-dev-shaped: 16-channel latents packed 2 x 2 (64 inputs per token), double-
    and single-stream blocks, rotary axes, embedded guidance, CLIP pooled + T5 tokens."""
    from diffusers import FluxPipeline, FluxTransformer2DModel

    tokenizer, text_encoder = _text_stack()
    tokenizer_2, text_encoder_2 = _t5_stack()
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=HIDDEN,
        pooled_projection_dim=HIDDEN,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    ).eval()
    return FluxPipeline(
        scheduler=_flow_scheduler(dynamic=True),
        vae=_vae(latent_channels=16, flow=True),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


def _video_pipeline():
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    tokenizer, text_encoder = _text_stack()
    vae = _vae()
    unet = UNet3DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=8,
        norm_num_groups=8,
    ).eval()
    return TextToVideoSDPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=_scheduler()
    )


BUILDERS = {
    Family.SD: _sd_pipeline,
    Family.SDXL: _sdxl_pipeline,
    Family.SD3: _sd3_pipeline,
    Family.FLUX: _flux_pipeline,
    Family.VIDEO: _video_pipeline,
}
