"""Speed settings applied to a loaded pipeline, and the compile cache.

Each is a deployment setting (``GENAI_*``, ``scoring.settings.EngineSettings``); what each
default rests on is in docs/performance.md. In short:

- ``compile`` (off): ``torch.compile`` of the denoiser and the VAE decoder. Published
  A100 figures: SDXL 1024², 30 steps, 3.31 s -> 2.54 s (bf16 + SDPA, then compiled with
  channels-last). Off by default because a replica without a compile cache spends minutes
  compiling at start (and again for each new request shape), and the runtime image needs
  a C compiler for Triton's launcher. With it on, the Mega-Cache
  (``torch.compiler.save_cache_artifacts``) made on one replica is loaded by the next from
  ``<model>/compile-cache/`` (shipped in the package, hashed like the weights) or
  ``GENAI_COMPILE_CACHE_DIR`` (baked into an image or a volume).
- ``channels_last`` (on with compile on CUDA, else off): the memory format the
  published compiled figure used. Off on CPU, where GroupNorm on channels-last tensors
  splits work by thread count and results would depend on it.
- ``fuse_qkv`` (off): one projection for Q, K and V. Published gain about 1 % (2.546 s
  -> 2.522 s, SDXL on A100, compiled) for about 1 GB more GPU memory (the unfused
  weights are kept).
- ``vae_tiling_pixels`` (2 Mi pixels): above it the VAE decodes a batch one image at a
  time, and an image alone larger than it in overlapping tiles (bounded memory, slightly
  different pixels near tile seams). Below it nothing changes, so default-size images
  are byte-identical with or without it.
- ``warmup`` (on): generations at the served shapes before readiness turns green, so the
  first request after a scale-out pays no lazy initialisation (CUDA context, cuDNN/cuBLAS
  handles, allocator growth, compilation). The server runs it (``scoring.server.warmup``),
  then writes the compile cache (``save_compile_cache``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_FOLDER = "compile-cache"  # inside the model folder: shipped in the package


@dataclass
class SpeedReport:
    """What was applied to the pipeline, for the log and the benchmark."""

    compiled: bool = False
    compile_mode: str | None = None
    channels_last: bool = False
    fused_qkv: bool = False
    vae_pixel_budget: int = 0
    cache_file: str | None = None  # the compile cache this replica loaded or would write
    cache_loaded: bool = False
    cache_saved: str | None = None
    warmup_s: float | None = None
    notes: list[str] = field(default_factory=list)


def denoiser_of(pipe):
    return getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)


def apply(pipe, settings, device: str) -> SpeedReport:
    """Apply the speed settings to ``pipe`` (already on ``device``), in place. Pipelines
    derived later with ``from_pipe`` share the modules, hence the settings."""
    report = SpeedReport(vae_pixel_budget=settings.vae_tiling_pixels)
    if settings.fuse_qkv:
        report.fused_qkv = fuse_qkv(pipe, report)
    want_cl = settings.channels_last
    if want_cl is None:
        want_cl = settings.compile and device == "cuda"
    if want_cl:
        report.channels_last = to_channels_last(pipe, report)
    vae = getattr(pipe, "vae", None)
    if vae is not None and settings.vae_tiling_pixels > 0:
        budget_vae(vae, settings.vae_tiling_pixels)
    if settings.compile:
        compile_pipeline(pipe, settings, device, report)
    applied = [
        name
        for name, on in (
            (f"compile ({report.compile_mode})", report.compiled),
            ("channels-last", report.channels_last),
            ("fused QKV", report.fused_qkv),
        )
        if on
    ]
    log.info(
        "speed settings: %s; VAE budget %s pixels",
        ", ".join(applied) or "none",
        settings.vae_tiling_pixels or "off",
    )
    return report


# ------------------------------------------------------------------- module settings


def fuse_qkv(pipe, report: SpeedReport) -> bool:
    """Fuse the attention projections where the pipeline (or its denoiser) can."""
    try:
        if hasattr(pipe, "fuse_qkv_projections"):
            try:
                pipe.fuse_qkv_projections()
            except ValueError:  # a VAE that is not an AutoencoderKL: the denoiser alone
                pipe.fuse_qkv_projections(vae=False)
            return True
        denoiser = denoiser_of(pipe)
        if denoiser is not None and hasattr(denoiser, "fuse_qkv_projections"):
            denoiser.fuse_qkv_projections()
            return True
    except (ValueError, AttributeError, TypeError) as exc:
        report.notes.append(f"fused QKV not applied: {exc}")
        log.warning("fused QKV projections not applied: %s", exc)
        return False
    report.notes.append(f"fused QKV not available for {type(pipe).__name__}")
    return False


def to_channels_last(pipe, report: SpeedReport) -> bool:
    """Channels-last for the 2-D models (a video denoiser's 5-D weights cannot be)."""
    import torch

    done = False
    for name in ("unet", "transformer", "vae"):
        module = getattr(pipe, name, None)
        if not isinstance(module, torch.nn.Module):
            continue
        if any(p.dim() == 5 for p in module.parameters()):
            report.notes.append(f"channels-last skipped for the {name} (3-D convolutions)")
            continue
        module.to(memory_format=torch.channels_last)
        done = True
    return done


def budget_vae(vae, budget: int) -> None:
    """Above ``budget`` pixels, slice a batch into single images, and tile an image that
    alone exceeds it. Decided per call from the tensor's shape, so smaller images take
    the plain path (bit for bit what they would without a budget)."""
    if not (hasattr(vae, "use_tiling") and hasattr(vae, "use_slicing")):
        return
    if getattr(vae, "_genai_budget", None) is not None:  # already wrapped (a reload)
        vae._genai_budget = budget
        return
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    vae._genai_budget = budget

    def budgeted(fn, per_pixel: int):
        def call(x, *args, **kwargs):
            pixels = int(x.shape[-1]) * int(x.shape[-2]) * per_pixel
            limit = vae._genai_budget
            vae.use_tiling = pixels > limit
            vae.use_slicing = pixels * int(x.shape[0]) > limit
            return fn(x, *args, **kwargs)

        call.__wrapped__ = fn
        return call

    vae.decode = budgeted(vae.decode, scale * scale)  # latents: 1/scale of the pixels a side
    vae.encode = budgeted(vae.encode, 1)


# ------------------------------------------------------------------- compile


def c_compiler() -> str | None:
    """Inductor's CPU code and Triton's GPU kernel launcher are built with a C compiler."""
    cc = os.environ.get("CC")
    if cc and shutil.which(cc):
        return cc
    return next((c for c in ("gcc", "cc", "clang") if shutil.which(c)), None)


def compile_pipeline(pipe, settings, device: str, report: SpeedReport) -> None:
    import torch

    if c_compiler() is None:
        msg = (
            "GENAI_COMPILE is on but there is no C compiler (gcc, cc, clang or $CC) in this "
            "image: torch.compile needs one to build its kernels; running uncompiled"
        )
        report.notes.append(msg)
        log.warning(msg)
        return
    if device == "cuda":
        # the settings of the published compiled figures (diffusers' fast_diffusion guide)
        cfg = torch._inductor.config
        cfg.conv_1x1_as_mm = True
        cfg.coordinate_descent_tuning = True
        cfg.epilogue_fusion = False
        cfg.coordinate_descent_check_all_directions = True
    name = cache_name(settings, device, pipe)
    report.cache_file = name
    report.cache_loaded = load_compile_cache(settings, name)
    mode = settings.compile_mode
    denoiser = denoiser_of(pipe)
    if denoiser is not None:
        denoiser.compile(mode=mode)
    vae = getattr(pipe, "vae", None)
    decoder = getattr(vae, "decoder", None)
    if isinstance(decoder, torch.nn.Module):
        decoder.compile(mode=mode)
    report.compiled = True
    report.compile_mode = mode


def device_name(device: str) -> str:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return device


def cache_name(settings, device: str, pipe) -> str:
    """The cache file for this replica: what a compiled artefact depends on beyond the
    graph itself (torch validates the rest and ignores what does not match)."""
    import torch

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    gpu = device_name(device)
    parts = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton_version,
        "device": gpu,
        "mode": settings.compile_mode,
        "dtype": str(getattr(denoiser_of(pipe), "dtype", None)),
        "channels_last": settings.channels_last,
        "fuse_qkv": settings.fuse_qkv,
        "pipeline": type(pipe).__name__,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"{slug}-{digest}.bin"


def cache_paths(settings, name: str) -> list[Path]:
    paths = []
    if settings.model_dir is not None:
        paths.append(Path(settings.model_dir) / CACHE_FOLDER / name)
    if settings.compile_cache_dir is not None:
        paths.append(Path(settings.compile_cache_dir) / name)
    return paths


def load_compile_cache(settings, name: str) -> bool:
    """Hot-load the first cache file found for this replica; a stale or foreign one is
    ignored by torch (its keys do not match), costing only the read."""
    import torch

    for path in cache_paths(settings, name):
        if not path.is_file():
            continue
        start = time.monotonic()
        torch_log = logging.getLogger("torch.compiler._cache")
        level = torch_log.level
        torch_log.setLevel(logging.ERROR)  # it logs a traceback for a bad file; one line here
        try:
            info = torch.compiler.load_cache_artifacts(path.read_bytes())
        except Exception:
            info = None
        finally:
            torch_log.setLevel(level)
        if info is None:  # corrupt, or not a cache: compile from scratch
            log.warning("compile cache %s not loaded: not a readable torch cache file", path)
            continue
        count = sum(len(v) for v in info.artifacts.values())
        log.info("compile cache %s: %d artefacts in %.1f s", path, count, time.monotonic() - start)
        return True
    log.info("no compile cache %s: compiling from scratch", name)
    return False


def save_compile_cache(settings, report: SpeedReport) -> Path | None:
    """Write what this process compiled to ``compile_cache_dir`` (if set), for shipping."""
    import torch

    if not (report.compiled and settings.compile_cache_dir and report.cache_file):
        return None
    saved = torch.compiler.save_cache_artifacts()
    if saved is None:
        return None
    data, _info = saved
    folder = Path(settings.compile_cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / report.cache_file
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    report.cache_saved = str(path)
    log.info("compile cache written: %s (%d bytes)", path, len(data))
    return path
