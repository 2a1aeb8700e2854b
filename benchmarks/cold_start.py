"""Cold start: server start to first image, against a plain diffusers script (issue 26).

Builds a Stable Diffusion 1.5-shaped model folder with random weights (nothing is
downloaded): SD 1.5's UNet (block channels 320/640/1280/1280, two layers per block,
cross-attention 768: ~860 M parameters, 3.4 GB of fp32 safetensors), a 12-layer CLIP-L
sized text encoder and SD's VAE, on the tiny model's tokenizer and scheduler
(``scoring.tiny``). ``--scale`` shrinks every width for a quick run. It packages the
folder for SageMaker, warms the page cache, then alternates, ``--runs`` times:

- plain: ``python -c "import diffusers; DiffusionPipeline.from_pretrained(folder); one image"``
- server: the process the SageMaker container runs (``python -m scoring.server serve``
  with the contract's environment: what ``genai-endpoints serve --cloud sagemaker`` execs),
  from process start to the first 64x64 2-step image answered (readiness polled every
  50 ms), verification on, as a plan deploys it: ``GENAI_TASK=text-to-image``, the
  package's ``GENAI_WEIGHTS_DIGEST``, warm-up at the served size (``GENAI_WARMUP_SIZES``).

Prints each run, the medians, the ratio server/plain, and the server's start-up phases
(its ``start-up phases`` log line; for code without it, ``--code`` an older checkout,
the phases read from that server's own log lines).

    .venv/bin/python benchmarks/cold_start.py                       # SD 1.5 size, 5 runs
    .venv/bin/python benchmarks/cold_start.py --scale 0.25 --runs 3  # quick
    .venv/bin/python benchmarks/cold_start.py --code /path/to/other/checkout  # "before"
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REQUEST = {"prompt": "a lighthouse", "num_inference_steps": 2, "width": 64, "height": 64}
PLAIN = """
import sys, time
import torch, diffusers
from diffusers import DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained(sys.argv[1])
pipe(prompt="a lighthouse", num_inference_steps=2, width=64, height=64,
     generator=torch.Generator("cpu").manual_seed(0))
"""


def width(n: int, scale: float) -> int:
    """A channel count scaled, kept a multiple of 32 (the group norms' groups)."""
    return max(32, round(n * scale / 32) * 32)


def build_model(out: Path, scale: float) -> Path:
    """The tiny SD pipeline's tokenizer and scheduler with SD 1.5-sized modules."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from scoring.tiny import _clip_tokenizer, build_tiny_model

    torch.manual_seed(0)
    build_tiny_model(out, "sd")
    tokenizer = _clip_tokenizer()
    hidden = width(768, scale)
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,  # CLIP-L's embedding table, as SD 1.5 ships it
            hidden_size=hidden,
            intermediate_size=4 * hidden,
            num_hidden_layers=12,
            num_attention_heads=max(1, hidden // 64),
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=tuple(width(c, scale) for c in (320, 640, 1280, 1280)),
        layers_per_block=2,
        cross_attention_dim=hidden,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[width(c, scale) for c in (128, 256, 512, 512)],
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    for name, module in (("text_encoder", text), ("unet", unet), ("vae", vae)):
        shutil.rmtree(out / name)
        module.save_pretrained(out / name, safe_serialization=True)
    params = sum(p.numel() for p in unet.parameters())
    print(f"built {out}: UNet {params / 1e6:.0f} M parameters", flush=True)
    return out


def package(model: Path, out: Path) -> Path:
    from model_packages.build import build_packages
    from model_packages.staging import stage_local

    build_packages(stage_local(model), ["sagemaker"], out)
    return out / "sagemaker"


def warm_page_cache(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                while fh.read(64 << 20):
                    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_plain(model: Path) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", PLAIN, str(model)], check=True, capture_output=True)
    return time.monotonic() - start


def http(port: int, path: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=600) as reply:
            reply.read()
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def run_server(pkg: Path, code: Path, log: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from process start to the first image answered, and the wall-clock time
    the process started (for reading its log's timestamps)."""
    from genai_endpoints.commands.local_serve import server_command

    port = free_port()
    # what `genai-endpoints serve` execs and a SageMaker container runs: the server itself
    cmd, full_env = server_command("sagemaker", pkg, port)
    full_env.update(env, PYTHONPATH=str(code))
    with log.open("wb") as out:
        wall = time.time()
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=code, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if http(port, "/ping") == 200:
                    break
            time.sleep(0.05)
        status = http(port, "/invocations", json.dumps(REQUEST).encode())
        took = time.monotonic() - start
        if status != 200:
            raise RuntimeError(f"predict answered {status}: {log.read_text()[-2000:]}")
        return took, wall
    finally:
        from genai_endpoints.commands.rehearsal import stop_group

        stop_group(proc)


STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def phases_from_log(text: str, wall: float) -> dict[str, float]:
    """The server's ``start-up phases`` line; for code without one, what its log lines
    say: start to 'verified' (interpreter, imports, hashing), the engine's 'loaded ... in
    X s' (torch/diffusers imports and loading), the warm-up, start to 'model ready'."""
    found = re.search(r"start-up phases: (.*)", text)
    if found:
        parts = (part.rsplit(" ", 2) for part in found.group(1).strip().split(", "))
        return {name: float(seconds) for name, seconds, _unit in parts}

    def at(pattern: str) -> float | None:
        for line in text.splitlines():
            stamp = STAMP.match(line)
            if stamp and re.search(pattern, line):
                when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                return when - wall
        return None

    out: dict[str, float] = {}
    if (t := at(r"verified \d+ files")) is not None:
        out["start to verified (imports + hashing)"] = t
    if m := re.search(r"loaded .* in ([\d.]+) s", text):
        out["load (torch/diffusers import + load)"] = float(m.group(1))
    if m := re.search(r"warm-up: \d+ generations in ([\d.]+) s", text):
        out["warm-up"] = float(m.group(1))
    if (t := at(r"model ready")) is not None:
        out["start to ready"] = t
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", "--unet-scale", type=float, default=1.0,
                        help="every module's width x this (1.0: SD 1.5's size)")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("/tmp/genai-cold-start"))
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout the server runs")
    parser.add_argument("--warmup-sizes", default="64x64")
    parser.add_argument("--task", default="text-to-image", help="GENAI_TASK, as the plan sets")
    args = parser.parse_args()

    work = args.work / f"scale-{args.scale:g}"
    model, packages = work / "model", work / "packages"
    if not (packages / "sagemaker" / "model" / "model_index.json").is_file():
        shutil.rmtree(work, ignore_errors=True)
        build_model(model, args.scale)
        package(model, packages)
        shutil.rmtree(model)  # the package holds its own copy
    pkg = packages / "sagemaker"
    size = sum(p.stat().st_size for p in pkg.rglob("*.safetensors"))
    print(f"package {pkg}: {size / 1e9:.2f} GB of safetensors; server code: {args.code}")
    warm_page_cache(pkg)
    manifest = json.loads((pkg / "manifest.json").read_text())
    env = {
        "GENAI_WARMUP_SIZES": args.warmup_sizes,
        "GENAI_VERIFY_WEIGHTS": "true",
        "GENAI_TASK": args.task,
        "GENAI_WEIGHTS_DIGEST": manifest["weights"]["digest"],
    }
    plain, server, phases = [], [], []
    for i in range(args.runs):
        arms = ("plain", "server") if i % 2 == 0 else ("server", "plain")
        for arm in arms:
            if arm == "plain":
                plain.append(run_plain(pkg / "model"))
            else:
                log = work / f"server-{i}.log"
                took, wall = run_server(pkg, args.code, log, env)
                server.append(took)
                phases.append(phases_from_log(log.read_text(), wall))
        print(f"run {i + 1}: plain {plain[-1]:.2f} s, server {server[-1]:.2f} s", flush=True)
    mp, ms = statistics.median(plain), statistics.median(server)
    print(f"\nmedian of {args.runs}: plain {mp:.2f} s, server {ms:.2f} s, ratio {ms / mp:.2f}x")
    print("server start-up phases (median over runs, s):")
    for name in phases[0]:
        values = [p[name] for p in phases if name in p]
        print(f"  {name:40s} {statistics.median(values):7.2f}")
    print(f"(the package stays in {work} for the next run; delete it when done)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
