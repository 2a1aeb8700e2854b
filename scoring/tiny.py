"""Build tiny random-weight diffusers pipelines, offline, for tests and rehearsals.

They are saved with ``save_pretrained`` (safetensors) and loaded back through the same
``from_pretrained`` path as a real model, so everything but the weights' quality is real:
folder layout, tokenizer, scheduler config, VAE scale factor (8, as in Stable Diffusion),
and task derivation. Weights come from a fixed seed, so a rebuild is byte-identical.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

TOKENIZER_MAX_LENGTH = 77
HIDDEN = 32


class TinyKind(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    TEXT_TO_VIDEO = "text-to-video"


def build_tiny_model(out_dir: Path, kind: TinyKind = TinyKind.TEXT_TO_IMAGE, seed: int = 0) -> Path:
    """Write a tiny pipeline to ``out_dir`` (created) and return it."""
    import torch

    from scoring.engine import quiet_loading

    quiet_loading()
    torch.manual_seed(seed)
    tokenizer, text_encoder = _text_stack()
    vae = _vae()
    if kind is TinyKind.TEXT_TO_VIDEO:
        pipe = _video_pipeline(vae, text_encoder, tokenizer)
    else:
        pipe = _image_pipeline(vae, text_encoder, tokenizer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    _write_slow_tokenizer_files(out_dir / "tokenizer")
    return out_dir


def _text_stack():
    """A CLIP text encoder and a character-level CLIP BPE tokenizer (no merges)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer(vocab=char_vocab(), merges=[], model_max_length=TOKENIZER_MAX_LENGTH)
    vocab_size = len(tokenizer)
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=HIDDEN,
    )
    return tokenizer, CLIPTextModel(config).eval()


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


def _write_slow_tokenizer_files(folder: Path) -> None:
    """vocab.json and merges.txt beside tokenizer.json, as real CLIP repos ship them, so
    older transformers (4.x, in some serving images) load the tokenizer too."""
    folder.joinpath("vocab.json").write_text(
        json.dumps(char_vocab(), ensure_ascii=False, sort_keys=True), encoding="utf-8"
    )
    folder.joinpath("merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[8, 16, 16, 16],  # four blocks: downsample by 8, as in SD
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
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


def _image_pipeline(vae, text_encoder, tokenizer):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

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


def _video_pipeline(vae, text_encoder, tokenizer):
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

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
