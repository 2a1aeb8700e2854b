"""Tiny random LoRA adapters and safety checkers for the tiny models, built offline.

A LoRA is made the way training tools make one: PEFT's ``LoraConfig`` injected into the
model's denoiser (and optionally its text encoder), then saved with the pipeline class's
own ``save_lora_weights`` (diffusers' key format). ``init_lora_weights=False`` gives random
up-projections, so the adapter changes the output (a fresh LoRA's are zero).

The safety checker is diffusers' ``StableDiffusionSafetyChecker`` on a tiny CLIP vision
model. Its decision is forced through its thresholds: an output is flagged when the cosine
similarity to a concept minus that concept's weight is > 0; cosines lie in [-1, 1], so
weights of -2 flag every image and +2 none.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_ATTENTION = ["q_proj", "k_proj", "v_proj", "out_proj"]


def tiny_lora(model_dir: Path, out: Path, seed: int = 1, text_encoder: bool = False) -> Path:
    """A random rank-4 LoRA for the tiny model in ``model_dir``, written to ``out``
    (a ``.safetensors`` file)."""
    import diffusers
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    from scoring.engine import quiet_loading

    quiet_loading()
    index = json.loads((Path(model_dir) / "model_index.json").read_text())
    pipeline_class = getattr(diffusers, index["_class_name"])
    name = "unet" if "unet" in index else "transformer"
    denoiser_class = getattr(diffusers, index[name][1])
    torch.manual_seed(seed)
    layers: dict = {}
    denoiser = denoiser_class.from_pretrained(Path(model_dir) / name)
    denoiser.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                    target_modules=ATTENTION))  # fmt: skip
    state = get_peft_model_state_dict(denoiser)
    layers[f"{name}_lora_layers"] = convert_state_dict_to_diffusers(state)
    if text_encoder:
        import transformers

        encoder_class = getattr(transformers, index["text_encoder"][1])
        encoder = encoder_class.from_pretrained(Path(model_dir) / "text_encoder")
        # PEFT itself, not transformers' add_adapter (which wants a newer PEFT)
        config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                            target_modules=TEXT_ATTENTION)  # fmt: skip
        encoder = inject_adapter_in_model(config, encoder)
        layers["text_encoder_lora_layers"] = get_peft_model_state_dict(encoder)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_class.save_lora_weights(tmp, **layers, safe_serialization=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(Path(tmp) / "pytorch_lora_weights.safetensors", out)
    return out


def tiny_safety_checker(out: Path, flags: bool, seed: int = 0) -> Path:
    """A checker folder (config.json, model.safetensors, preprocessor_config.json) that
    flags every image (``flags=True``) or none."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(seed)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, image_size=32, patch_size=8)  # fmt: skip
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    model = StableDiffusionSafetyChecker(config).eval()
    with torch.no_grad():
        model.concept_embeds_weights.fill_(-2.0 if flags else 2.0)
        model.special_care_embeds_weights.fill_(2.0)
    model.save_pretrained(out, safe_serialization=True)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(out)
    return out


def packaged(model_dir: Path, out: Path, *, loras: dict[str, Path] | None = None,
             safety_checker: Path | None = None, deny_terms: Path | None = None,
             clouds: tuple[str, ...] = ("sagemaker",)) -> Path:  # fmt: skip
    """Package the model with these extras (the real ``package`` path) and return the
    first cloud's model folder, which the engine loads as the server would."""
    from model_packages.build import build_packages
    from model_packages.extras import with_extras
    from model_packages.staging import stage_local

    specs = [f"{name}={path}" for name, path in (loras or {}).items()]
    staged = with_extras(stage_local(model_dir), specs, safety_checker, deny_terms)
    build_packages(staged, list(clouds), out)
    return out / clouds[0] / "model"
