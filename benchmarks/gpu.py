"""GPU throughput and cost per image: the seed's recipe against the engine at each setting.

Builds random-weight pipelines at real sizes from architecture configs alone (no
download): Stable Diffusion 1.5 (UNet, VAE, CLIP-L) at 512x512 and SDXL (UNet, VAE, CLIP-L
+ OpenCLIP-bigG) at 1024x1024, saved once as a diffusers folder (fp16 safetensors), so
the engine loads them through its real path. Random weights change nothing a timing
depends on (shapes, kernels, memory); tokens don't either, so the tokenizer is the
project's tiny character-level one. Then, per variant:

- ``seed``: the seed's recipe, ``StableDiffusionPipeline`` (``StableDiffusionXLPipeline``
  for SDXL) in fp16 with ``DPMSolverMultistepScheduler``, nothing else tuned;
- ``engine`` and ``engine+<setting>``: ``scoring.engine.Engine`` with those
  ``EngineSettings`` (bf16 where the GPU has it, DPM-Solver++), warmed up as the server
  warms up before readiness; ``+batchN`` runs N requests per call through the server's
  ``Batcher``.

Measured: s/image (median of the warm requests), it/s (denoising steps per second of a
call), s/step (pure denoising, from per-step timestamps with a GPU sync), peak GPU memory,
time to the first image (from the variant's start in one process; from process launch
with ``--isolate``, which runs each variant in a fresh process with a fresh compile cache),
the first and the tenth request of the warm replica, images/hour, and $/1000 images at the
catalog's cheapest single-GPU instance of that GPU class (infra/catalog.py).
Not measured: loading real weights from a cloud disk (the folder is local and in the page
cache after the first variant), image encoding (runs off the GPU thread), the safety
checker the seed's real checkpoint would add.

    python benchmarks/gpu.py                          # SD 1.5 + SDXL, default variants
    python benchmarks/gpu.py --isolate --json         # each variant in its own process
    python benchmarks/gpu.py --model sdxl --variants seed,engine,engine+compile
    python benchmarks/gpu.py --isolate --write-catalog   # figures into infra/benchmarks.json
    python benchmarks/gpu.py --smoke                  # same code on CPU, tiny model, seconds
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROCESS_START = time.time()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GPU_VARIANTS = (
    "seed",
    "engine",
    "engine+channels_last",
    "engine+fuse_qkv",
    "engine+compile",
    "engine+compile+fuse_qkv",
    "engine+batch4",
)
SMOKE_VARIANTS = ("seed", "engine", "engine+channels_last", "engine+fuse_qkv", "engine+batch2")
# one setting per name part; "batchN" runs N requests per pipeline call
SETTING_PARTS: dict[str, dict[str, Any]] = {
    "channels_last": {"channels_last": True},
    "fuse_qkv": {"fuse_qkv": True},
    "compile": {"compile": True},
    "autotune": {"compile": True, "compile_mode": "max-autotune"},
    "cached": {"compile": True},  # --isolate: loads the Mega-Cache an earlier variant wrote
    "nowarmup": {"warmup": False},
}


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the catalog's model name: sd15-512, sdxl-1024
    family: str  # sd15, sdxl, tiny
    size: int
    steps: int


MODELS = {
    "sd15": ModelSpec("sd15-512", "sd15", 512, 30),
    "sdxl": ModelSpec("sdxl-1024", "sdxl", 1024, 30),
}
SMOKE_MODEL = ModelSpec("tiny-64", "tiny", 64, 2)


# --------------------------------------------------------------------------- models


def sd15_unet_config() -> dict[str, Any]:
    """runwayml/stable-diffusion-v1-5 unet/config.json, the fields that shape it."""
    return {
        "sample_size": 64,
        "in_channels": 4,
        "out_channels": 4,
        "layers_per_block": 2,
        "block_out_channels": (320, 640, 1280, 1280),
        "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
    }


def sdxl_unet_config() -> dict[str, Any]:
    """stabilityai/stable-diffusion-xl-base-1.0 unet/config.json, the fields that shape it."""
    return {
        "sample_size": 128,
        "in_channels": 4,
        "out_channels": 4,
        "layers_per_block": 2,
        "block_out_channels": (320, 640, 1280),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "transformer_layers_per_block": (1, 2, 10),
        "attention_head_dim": (5, 10, 20),
        "cross_attention_dim": 2048,
        "use_linear_projection": True,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2816,
        "norm_num_groups": 32,
    }


def vae_config(sample_size: int, scaling_factor: float, force_upcast: bool) -> dict[str, Any]:
    """The SD / SDXL AutoencoderKL: 8x downscale, 4 latent channels."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "norm_num_groups": 32,
        "sample_size": sample_size,
        "scaling_factor": scaling_factor,
        "force_upcast": force_upcast,
    }


def clip_config(tokenizer, *, big: bool):
    """CLIP ViT-L/14's text tower (SD 1.5, SDXL's first) or OpenCLIP bigG's (SDXL's second)."""
    from transformers import CLIPTextConfig

    shape = (
        {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32}
        | {"num_attention_heads": 20, "hidden_act": "gelu", "projection_dim": 1280}
        if big
        else {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}
        | {"num_attention_heads": 12, "hidden_act": "quick_gelu", "projection_dim": 768}
    )
    return CLIPTextConfig(
        vocab_size=49408,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )


def scheduler_config() -> dict[str, Any]:
    return {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "steps_offset": 1,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
    }


def build_model(spec: ModelSpec, folder: Path, device: str) -> Path:
    """Write the random-weight pipeline for ``spec`` to ``folder`` (kept for reuse)."""
    if (folder / "model_index.json").is_file():
        return folder
    if spec.family == "tiny":
        from scoring.tiny import build_tiny_model

        return build_tiny_model(folder)
    import diffusers
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from scoring.engine import quiet_loading
    from scoring.tiny import TOKENIZER_MAX_LENGTH, char_vocab

    quiet_loading()
    diffusers.utils.logging.set_verbosity_error()  # "modules kept in float32: []" on .to()
    torch.manual_seed(0)
    tokenizer = CLIPTokenizer(vocab=char_vocab(), merges=[], model_max_length=TOKENIZER_MAX_LENGTH)
    half = torch.float16
    with torch.device(device):  # random init on the GPU: seconds, not minutes
        if spec.family == "sd15":
            unet = UNet2DConditionModel(**sd15_unet_config()).to(half)
            vae = AutoencoderKL(**vae_config(512, 0.18215, False)).to(half)
            text = CLIPTextModel(clip_config(tokenizer, big=False)).to(half)
            pipe = StableDiffusionPipeline(
                vae=vae,
                text_encoder=text,
                tokenizer=tokenizer,
                unet=unet,
                scheduler=PNDMScheduler(**scheduler_config()),
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
        else:
            unet = UNet2DConditionModel(**sdxl_unet_config()).to(half)
            vae = AutoencoderKL(**vae_config(1024, 0.13025, True)).to(half)
            text = CLIPTextModel(clip_config(tokenizer, big=False)).to(half)
            text_2 = CLIPTextModelWithProjection(clip_config(tokenizer, big=True)).to(half)
            pipe = StableDiffusionXLPipeline(
                vae=vae,
                text_encoder=text,
                text_encoder_2=text_2,
                tokenizer=tokenizer,
                tokenizer_2=tokenizer,
                unet=unet,
                scheduler=PNDMScheduler(**scheduler_config()),
            )
    tmp = folder.with_name(folder.name + ".partial")
    pipe.save_pretrained(tmp, safe_serialization=True)
    tmp.rename(folder)
    del pipe, unet, vae, text
    release()
    return folder


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    model: str
    variant: str
    device: str
    steps: int
    size: int
    batch: int
    s_per_image: float
    it_per_s: float
    s_per_step: float | None
    peak_gib: float | None
    first_image_s: float
    first_measured_from: str  # "variant start" or "process launch"
    request_1_s: float
    request_10_s: float | None
    images_per_hour: float
    usd_per_1000: float | None = None
    price: str | None = None
    speedup_vs_seed: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def release() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def parse_variant(name: str) -> tuple[dict[str, Any], int]:
    """``engine+compile+batch4`` → ({"compile": True}, 4)."""
    settings: dict[str, Any] = {}
    batch = 1
    for part in name.split("+")[1:]:
        if part.startswith("batch") and part[5:].isdigit():
            batch = int(part[5:])
        elif part in SETTING_PARTS:
            settings.update(SETTING_PARTS[part])
        else:
            raise SystemExit(
                f"--variants: unknown setting {part!r} in {name!r}; "
                f"allowed: {', '.join(SETTING_PARTS)}, batchN"
            )
    if batch > 1:
        settings.update(batch_window_ms=1, max_batch=batch)
    return settings, batch


def run_variant(
    name: str,
    spec: ModelSpec,
    folder: Path,
    device: str,
    requests: int,
    cache_dir: Path | None,
    launched_at: float | None,
) -> Row:
    import torch

    release()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    notes: list[str] = []
    if name == "seed":
        settings: dict[str, Any] = {}
        batch = 1
        generate, step_timed = seed_recipe(spec, folder, device)
    else:
        settings, batch = parse_variant(name)
        if settings.get("compile") and cache_dir is not None:
            settings["compile_cache_dir"] = cache_dir
        generate, step_timed, engine = engine_recipe(spec, folder, device, settings, batch)
        if engine.speed is not None:
            notes += engine.speed.notes
            if engine.speed.compiled:
                notes.append(
                    f"compile cache {'loaded' if engine.speed.cache_loaded else 'cold'}"
                    + (
                        f", written to {engine.speed.cache_saved}"
                        if engine.speed.cache_saved
                        else ""
                    )
                )
    times = []
    first_image_s = 0.0
    for i in range(requests):
        t = time.perf_counter()
        generate(1000 + i * batch)
        sync(device)
        times.append(time.perf_counter() - t)
        if i == 0:
            done = time.perf_counter()
            first_image_s = done - start
            if launched_at is not None:
                first_image_s = time.time() - launched_at
    step_s = step_timed(9000)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    warm = times[1:] or times
    per_call = statistics.median(warm)
    s_per_image = round(per_call / batch, 6)
    return Row(
        model=spec.key,
        variant=name,
        device=device_name(device),
        steps=spec.steps,
        size=spec.size,
        batch=batch,
        s_per_image=s_per_image,
        it_per_s=round(spec.steps / per_call, 3),
        s_per_step=round(step_s, 5) if step_s else None,
        peak_gib=round(peak, 3) if peak is not None else None,
        first_image_s=round(first_image_s, 3),
        first_measured_from="process launch" if launched_at is not None else "variant start",
        request_1_s=round(times[0], 4),
        request_10_s=round(times[9], 4) if len(times) >= 10 else None,
        images_per_hour=round(3600 / s_per_image, 1),
        settings={k: str(v) for k, v in settings.items()},
        notes=notes,
    )


def step_clock(device: str):
    """A per-step callback that records synced timestamps, and the s/step it measured."""
    stamps: list[float] = []

    def tick(*_args) -> None:
        sync(device)
        stamps.append(time.perf_counter())

    def per_step() -> float | None:
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None

    return stamps, tick, per_step


def seed_recipe(spec: ModelSpec, folder: Path, device: str):
    """The seed's own recipe: the model's pipeline in fp16 with DPM-Solver, as loaded."""
    import torch
    from diffusers import (
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    cls = StableDiffusionXLPipeline if spec.family == "sdxl" else StableDiffusionPipeline
    dtype = torch.float16 if device == "cuda" else torch.float32  # CPU: no fp16 kernels
    pipe = cls.from_pretrained(folder, torch_dtype=dtype)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)

    def generate(seed: int, **kw):
        return pipe(
            "a photo of a lighthouse at dusk",
            num_inference_steps=spec.steps,
            width=spec.size,
            height=spec.size,
            generator=torch.Generator(device).manual_seed(seed),
            **kw,
        ).images

    def step_timed(seed: int) -> float | None:
        _stamps, tick, per_step = step_clock(device)
        generate(seed, callback_on_step_end=lambda _p, _i, _t, kw: (tick(), kw)[1])
        return per_step()

    return generate, step_timed


def engine_recipe(spec: ModelSpec, folder: Path, device: str, settings: dict, batch: int):
    """The engine as the server runs it: loaded, speed settings applied, warmed up."""
    from scoring.engine import Engine
    from scoring.server.batching import Batcher
    from scoring.server.warmup import warm_up
    from scoring.service import Scorer
    from scoring.settings import EngineSettings

    engine = Engine(
        EngineSettings(
            model_dir=folder,
            device=device,
            request_timeout_s=3600,
            warmup_sizes=f"{spec.size}x{spec.size}",
            **settings,
        )
    )
    scorer = Scorer(engine)
    warm_up(scorer)
    batcher = Batcher(scorer) if batch > 1 else None

    def job(seed: int):
        return scorer.parse_payload(
            {
                "prompt": "a photo of a lighthouse at dusk",
                "num_inference_steps": spec.steps,
                "width": spec.size,
                "height": spec.size,
                "seed": seed,
            }
        )

    def generate(seed: int):
        if batcher is not None:
            return batcher.run([job(seed + i) for i in range(batch)], [0.0] * batch)
        parsed = job(seed)
        return engine.generate(parsed.jobs[0].req, parsed.jobs[0].kwargs)

    def step_timed(seed: int) -> float | None:
        _stamps, tick, per_step = step_clock(device)
        parsed = job(seed)
        engine.generate(parsed.jobs[0].req, parsed.jobs[0].kwargs, progress=tick)
        return per_step()

    return generate, step_timed, engine


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    return device


# --------------------------------------------------------------------------- prices


def cheapest_instance(gpu_class: str | None):
    """The catalog's cheapest instance with one GPU of ``gpu_class`` (any cloud)."""
    from infra import catalog

    if gpu_class is None:
        return None
    single = [
        inst
        for table in catalog.GPU.values()
        for inst in table.values()
        if inst.gpu_count == 1 and catalog.gpu_class(inst.gpu) == gpu_class
    ]
    return min(single, key=lambda i: i.usd_per_hour, default=None)


def price_rows(rows: list[Row]) -> None:
    from infra import catalog

    seeds = {r.model: r for r in rows if r.variant == "seed"}
    for row in rows:
        inst = cheapest_instance(catalog.gpu_class(row.device))
        if inst is not None:
            row.usd_per_1000 = round(inst.usd_per_hour / row.images_per_hour * 1000, 4)
            row.price = (
                f"{inst.cloud} {inst.name} ${inst.usd_per_hour}/h "
                f"({inst.region}, {inst.price_date})"
            )
        seed = seeds.get(row.model)
        if seed is not None:
            row.speedup_vs_seed = round(row.images_per_hour / seed.images_per_hour, 3)


# --------------------------------------------------------------------------- output


def table(rows: list[Row]) -> str:
    head = (
        f"{'model':10} {'variant':26} {'s/image':>8} {'it/s':>6} {'s/step':>7} "
        f"{'peak GiB':>8} {'1st image s':>11} {'req1/req10 s':>14} {'images/h':>9} "
        f"{'$/1000':>7} {'x seed':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        tenth = f"{r.request_10_s:.2f}" if r.request_10_s is not None else "-"
        lines.append(
            f"{r.model:10} {r.variant:26} {r.s_per_image:8.3f} {r.it_per_s:6.2f} "
            f"{(r.s_per_step or 0):7.4f} {(r.peak_gib or 0):8.2f} {r.first_image_s:11.1f} "
            f"{r.request_1_s:6.2f}/{tenth:>7} {r.images_per_hour:9.0f} "
            f"{(r.usd_per_1000 if r.usd_per_1000 is not None else float('nan')):7.3f} "
            f"{(r.speedup_vs_seed or float('nan')):6.2f}"
        )
    devices = sorted({r.device for r in rows})
    prices = sorted({r.price for r in rows if r.price})
    lines.append(f"device: {', '.join(devices)}; price: {'; '.join(prices) or 'not in catalog'}")
    lines.append(f"1st image measured from: {rows[0].first_measured_from}" if rows else "")
    for r in rows:
        for note in r.notes:
            lines.append(f"  {r.model} {r.variant}: {note}")
    return "\n".join(lines)


def write_catalog(rows: list[Row], path: Path) -> int:
    """Merge the engine rows into ``path`` (infra/benchmarks.json), one per GPU class,
    model and variant. Only CUDA figures: a CPU run writes nothing."""
    from infra import catalog

    data = json.loads(path.read_text()) if path.is_file() else {"schema_version": 1}
    entries = {(e["gpu_class"], e["model"], e["variant"]): e for e in data.get("entries", [])}
    import diffusers
    import torch

    written = 0
    for r in rows:
        cls = catalog.gpu_class(r.device)
        if r.variant == "seed" or cls is None or r.s_per_step is None or r.peak_gib is None:
            continue
        entries[(cls, r.model, r.variant)] = {
            "gpu_class": cls,
            "device": r.device,
            "model": r.model,
            "variant": r.variant,
            "steps": r.steps,
            "s_per_image": r.s_per_image,
            "s_per_step": r.s_per_step,
            "images_per_hour": r.images_per_hour,
            "peak_gib": r.peak_gib,
            "first_image_s": r.first_image_s,
            "first_measured_from": r.first_measured_from,
            "speedup_vs_seed": r.speedup_vs_seed,
            "date": datetime.date.today().isoformat(),
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
        }
        written += 1
    data["entries"] = [entries[k] for k in sorted(entries)]
    path.write_text(json.dumps(data, indent=2) + "\n")
    return written


# --------------------------------------------------------------------------- running


def run_isolated(args, spec: ModelSpec, folder: Path, variants: list[str], work: Path) -> list[Row]:
    """Each variant in a fresh process with a fresh inductor cache: cold starts as a new
    replica sees them. ``+cached`` variants reuse the Mega-Cache a compile variant wrote."""
    rows = []
    cache_dir = work / f"compile-cache-{spec.family}"
    for name in variants:
        out = work / f"row-{spec.family}-{name}.json"
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(work / f"inductor-{spec.family}-{name}"))
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--model",
            spec.family if spec.family != "tiny" else "sd15",
            "--folder",
            str(folder),
            "--requests",
            str(args.requests),
            "--cache-dir",
            str(cache_dir),
            "--row-out",
            str(out),
            "--launched-at",
            repr(time.time()),
        ]
        if args.smoke:
            cmd.append("--smoke")
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise SystemExit(f"variant {name} failed: " + " | ".join(tail))
        rows.append(Row(**json.loads(out.read_text())))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/gpu.py",
        description="The seed's recipe against the engine at each speed setting, on one GPU.",
    )
    parser.add_argument("--model", choices=["sd15", "sdxl", "all"], default="all")
    parser.add_argument("--variants", help=f"comma-separated; default: {','.join(GPU_VARIANTS)}")
    parser.add_argument("--requests", type=int, default=10, help="requests per variant")
    parser.add_argument("--steps", type=int, help="denoising steps (default 30)")
    parser.add_argument("--work", type=Path, help="where models are built (kept for reuse)")
    parser.add_argument("--isolate", action="store_true", help="each variant in a new process")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--write-catalog",
        nargs="?",
        const=ROOT / "infra" / "benchmarks.json",
        type=Path,
        help="merge the engine figures into infra/benchmarks.json (GPU runs only)",
    )
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model, tiny sizes")
    # internal: one variant in this process (--isolate)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--row-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--launched-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # random weights: NaN casts, deprecations

    import torch

    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print(
            "benchmarks/gpu.py: no CUDA GPU here; run it on a GPU machine, or --smoke on CPU",
            file=sys.stderr,
        )
        return 2
    if args.write_catalog and device != "cuda":
        print("benchmarks/gpu.py: --write-catalog takes GPU figures only", file=sys.stderr)
        return 2
    if args.smoke:
        specs = [SMOKE_MODEL]
        args.requests = min(args.requests, 3)
    else:
        specs = [MODELS[m] for m in (["sd15", "sdxl"] if args.model == "all" else [args.model])]
    if args.steps:
        specs = [ModelSpec(s.key, s.family, s.size, args.steps) for s in specs]
    variants = (
        args.variants.split(",")
        if args.variants
        else list(SMOKE_VARIANTS if args.smoke else GPU_VARIANTS)
    )
    for name in variants:
        if name != "seed":
            parse_variant(name)  # a bad name stops here, before any model is built

    if args.child:
        row = run_variant(
            args.child,
            specs[0],
            args.folder,
            device,
            args.requests,
            args.cache_dir,
            args.launched_at,
        )
        args.row_out.write_text(json.dumps(asdict(row)))
        return 0

    work = args.work or Path(tempfile.gettempdir()) / "genai-gpu-bench"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for spec in specs:
        folder = build_model(spec, work / f"model-{spec.family}", device)
        # no compile cache from an earlier run: a "+cached" variant loads only what an
        # uncached twin before it in this run wrote
        shutil.rmtree(work / f"compile-cache-{spec.family}", ignore_errors=True)
        if args.isolate:
            rows += run_isolated(args, spec, folder, variants, work)
        else:
            cache_dir = work / f"compile-cache-{spec.family}"
            for name in variants:
                rows.append(run_variant(name, spec, folder, device, args.requests, cache_dir, None))
                torch._dynamo.reset()
    price_rows(rows)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(table(rows))
    if args.write_catalog:
        n = write_catalog(rows, args.write_catalog)
        print(f"{n} figures written to {args.write_catalog}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
