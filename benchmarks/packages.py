"""Package build time for a model with a 1 GB weights file, against `cp -r` and `tar czf`
of the same folder; and each local server's median latency against a direct engine call.

A benchmark, not a test. Run: .venv/bin/python benchmarks/packages.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from genai_endpoints.commands.rehearsal import package_server
from model_packages.build import CLOUDS, build_packages
from model_packages.staging import stage_local
from scoring.server.contracts import CONTRACTS
from scoring.tiny import build_tiny_model

GB = 1 << 30


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build_times(tmp: Path) -> None:
    model = build_tiny_model(tmp / "model")
    big = model / "unet" / "extra_weights.safetensors"
    with big.open("wb") as fh:  # incompressible, like real weights
        for _ in range(GB // (64 << 20)):
            fh.write(os.urandom(64 << 20))
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file())
    print(f"model folder: {size / 1e9:.2f} GB, warm page cache (the file was just written)")
    from model_packages.sagemaker import serving_image

    t_sdk = seconds(serving_image)  # the sagemaker SDK's import, paid once per process
    print(f"sagemaker SDK import + image_uris lookup:       {t_sdk:6.2f} s (excluded below)")
    t_pkg = seconds(lambda: build_packages(stage_local(model), list(CLOUDS), tmp / "pkg"))
    t_pkg1 = seconds(lambda: build_packages(stage_local(model), ["sagemaker"], tmp / "pkg1"))
    t_cp = seconds(lambda: subprocess.run(["cp", "-r", str(model), str(tmp / "cp")], check=True))
    t_tar = seconds(
        lambda: subprocess.run(
            ["tar", "czf", str(tmp / "m.tgz"), "-C", str(tmp), "model"], check=True
        )
    )
    print(f"package, all 3 clouds (hash once + hard links): {t_pkg:6.2f} s")
    print(f"package, sagemaker only:                        {t_pkg1:6.2f} s")
    print(f"cp -r of the same folder:                       {t_cp:6.2f} s")
    print(f"tar czf of the same folder:                     {t_tar:6.2f} s")
    for d in ("pkg", "pkg1", "cp"):
        shutil.rmtree(tmp / d)
    big.unlink()


def latencies(tmp: Path, n: int = 15) -> None:
    from scoring.engine import Engine
    from scoring.service import Accept, Scorer
    from scoring.settings import EngineSettings

    model = tmp / "model"
    request = {
        "prompt": "a lighthouse",
        "num_inference_steps": 2,
        "seed": 1,
        "width": 64,
        "height": 64,
    }
    scorer = Scorer(Engine(EngineSettings(model_dir=model)))
    body = json.dumps(request).encode()

    def direct_call():  # the server's stages, in process: parse, run, render
        return scorer.render(scorer.execute(scorer.parse(body)), Accept(None))

    direct_call()  # warm up
    direct = [seconds(direct_call) for _ in range(n)]
    ms = statistics.median(direct) * 1000
    print(f"in process (parse, run, render), 64x64, 2 steps: median {ms:6.1f} ms")
    build_packages(stage_local(model), list(CLOUDS), tmp / "pkg")
    for cloud in CLOUDS:
        with package_server(cloud, tmp / "pkg" / cloud, tmp / "logs") as server:
            payload = CONTRACTS[cloud].wrap(request)
            server.predict(payload)  # warm up
            times = [server.predict(payload).latency_s for _ in range(n)]
        ms = statistics.median(times) * 1000
        print(f"{cloud:9} over HTTP on loopback:              median {ms:6.1f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        build_times(Path(tmp))
        latencies(Path(tmp))


if __name__ == "__main__":
    main()
