"""Per model family, on this machine: tiny-model build and load, and seconds per denoising
step at 64x64 (text-to-image; 8 frames for video), through the engine.

A benchmark, not a test: it prints numbers. Each step is timed between two consecutive
step callbacks, so text encoding and VAE decoding are outside it. Printed: the median
step over every run, and the fastest step, the closer to an undisturbed one when other
work shares the cores (the load average is printed too). Guidance 7.5: sd, sdxl, sd3 and
video run two model passes a step (classifier-free guidance); flux one (its guidance is an
input). Tiny random models: the figures compare the families' pipeline overheads, not real
checkpoints' cost.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/families.py [--families sd,flux]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

STEPS = 12  # per run: 11 timed steps (between 12 callbacks)


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
    print(
        f"{'family':8} {'build s':>8} {'load s':>8} {'s/step 64x64':>13} {'fastest':>9} "
        f"{'one call s':>11}"
    )
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

            def run(steps: int, req=request, sc=scorer, marks=None) -> None:
                job = sc.validate({**req, "num_inference_steps": steps})
                hook = (
                    (lambda i, n: marks.append(time.perf_counter())) if marks is not None else None
                )
                sc.execute(Parsed(Envelope.PLAIN, [job]), progress=hook)

            run(2)  # warm-up: first-call allocations
            steps: list[float] = []
            for _ in range(args.repeat):
                marks: list[float] = []
                run(STEPS, marks=marks)
                steps += [b - a for a, b in itertools.pairwise(marks)]
            call_s = best_s(lambda: run(4), args.repeat)
            print(
                f"{family:8} {build_s:8.2f} {load_s:8.2f} {statistics.median(steps):13.4f} "
                f"{min(steps):9.4f} {call_s:11.3f}"
            )
    print("s/step: median over every timed step; one call: 4 steps, encoding and decoding included")


if __name__ == "__main__":
    main()
