"""Engine figures on this machine: tiny-model load, time per denoising step, encode times.

A benchmark, not a test: it prints numbers. Run: .venv/bin/python benchmarks/engine.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def timed(fn, repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    t0 = time.perf_counter()
    import diffusers  # noqa: F401
    import torch

    from scoring.encoders import encode
    from scoring.engine import Engine
    from scoring.envelopes import Envelope
    from scoring.schema import OutputFormat
    from scoring.service import Parsed, Scorer
    from scoring.settings import EngineSettings
    from scoring.tiny import TinyKind, build_tiny_model

    import_s = time.perf_counter() - t0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"import torch + diffusers + scoring:        {import_s:7.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "t2i", TinyKind.TEXT_TO_IMAGE)
        video = build_tiny_model(Path(tmp) / "t2v", TinyKind.TEXT_TO_VIDEO)
        load_s = timed(lambda: Engine(EngineSettings(model_dir=model)), repeat=5)
        print(f"tiny text-to-image model load (median/5): {load_s:7.3f} s")
        scorer = Scorer(Engine(EngineSettings(model_dir=model, request_timeout_s=600)))
        vscorer = Scorer(Engine(EngineSettings(model_dir=video, request_timeout_s=600)))

        for side in (64, 512):
            per_step = []
            for steps in (5, 25):
                job = scorer.validate(
                    {"prompt": "a lighthouse", "width": side, "height": side,
                     "num_inference_steps": steps, "seed": 0},
                )  # fmt: skip
                parsed = Parsed(Envelope.PLAIN, [job])
                per_step.append(timed(lambda p=parsed: scorer.execute(p), repeat=3))
            step_s = (per_step[1] - per_step[0]) / 20  # the slope: excludes text encode, VAE
            print(f"denoising step, tiny t2i {side}x{side}:       {step_s * 1000:7.1f} ms")
        job = vscorer.validate(
            {"prompt": "waves", "num_frames": 16, "num_inference_steps": 5, "seed": 0},
        )
        video_s = timed(lambda: vscorer.execute(Parsed(Envelope.PLAIN, [job])), 3)
        print(f"tiny t2v 16 frames 64x64, 5 steps:        {video_s:7.3f} s")

    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    ramp = np.arange(1024) % 256
    xx, yy = np.meshgrid(ramp, ramp)
    smooth = Image.fromarray(np.stack([xx, yy, np.full_like(xx, 128)], -1).astype(np.uint8))
    for name, img in (("noise", noise), ("gradient", smooth)):
        s = timed(lambda img=img: encode([img], OutputFormat.PNG, 8))
        print(f"encode 1024x1024 PNG ({name:8}):          {s * 1000:7.1f} ms")
    frames = [
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(16)
    ]
    s = timed(lambda: encode(frames, OutputFormat.MP4, 8), repeat=3)
    print(f"encode 16-frame 512x512 MP4 (noise):      {s * 1000:7.1f} ms")
    grad = [smooth.resize((512, 512)).rotate(i * 5) for i in range(16)]
    s = timed(lambda: encode(grad, OutputFormat.MP4, 8), repeat=3)
    print(f"encode 16-frame 512x512 MP4 (gradient):   {s * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
