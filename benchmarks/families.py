"""Per model family, on this machine: tiny-model build and load, and seconds per denoising
step at 64x64 (text-to-image; 8 frames for video), through the engine.

A benchmark, not a test: it prints numbers. The per-step figure is the slope between two
step counts, so it excludes text encoding and VAE decoding. Tiny random models: the
figures compare the families' pipeline overheads, not real checkpoints' cost.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/families.py [--families sd,flux]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

FEW, MANY = 4, 20  # step counts whose time difference gives the cost of one step


def best_s(fn, repeat: int) -> float:
    """The fastest of ``repeat`` runs: on a shared machine, the least disturbed one."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="sd,sdxl,sd3,flux,video")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import torch

    from scoring.engine import Engine
    from scoring.envelopes import Envelope
    from scoring.service import Parsed, Scorer
    from scoring.settings import EngineSettings
    from scoring.tiny import build_tiny_model

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'family':8} {'build s':>8} {'load s':>8} {'s/step 64x64':>13} {'one call s':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            start = time.perf_counter()
            model = build_tiny_model(Path(tmp) / family, family)
            build_s = time.perf_counter() - start
            settings = EngineSettings(model_dir=model, device="cpu", request_timeout_s=600)
            load_s = best_s(lambda s=settings: Engine(s), repeat=3)
            scorer = Scorer(Engine(settings))
            request = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "seed": 0}
            if family == "video":
                request["num_frames"] = 8

            def run(steps: int, req=request, sc=scorer) -> None:
                job = sc.validate({**req, "num_inference_steps": steps})
                sc.execute(Parsed(Envelope.PLAIN, [job]))

            run(FEW)  # warm-up: first-call allocations
            few = best_s(lambda: run(FEW), args.repeat)
            many = best_s(lambda: run(MANY), args.repeat)
            step_s = (many - few) / (MANY - FEW)
            print(f"{family:8} {build_s:8.2f} {load_s:8.2f} {step_s:13.4f} {few:11.3f}")
    print(f"one call: {FEW} steps, text encoding and VAE decode included")


if __name__ == "__main__":
    main()
