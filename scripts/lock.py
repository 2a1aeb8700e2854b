"""Write the two locks: ``constraints.txt`` (what set-up and the tests install) and
``runtime/serve.lock`` (what the runtime image installs: the same versions, for Linux
x86_64 and CPython 3.11, plus torch's CUDA libraries, each with its sha256).

    python3 scripts/lock.py            # keep every current pin; add new, drop unused
    python3 scripts/lock.py --upgrade  # re-resolve everything from scratch
    python3 scripts/lock.py --runtime-only

Then run the tests and commit both files. The runtime lock is resolved against PyPI
itself (the image build downloads from there), ignoring local wheel folders.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
RUNTIME_LOCK = ROOT / "runtime" / "serve.lock"
PIP = "26.3"
TORCH = "2.13.0"
PLATFORMS = [f"manylinux_2_{v}_x86_64" for v in (5, 12, 17, 18, 24, 25, 26, 27, 28)] + [
    "manylinux1_x86_64",
    "manylinux2010_x86_64",
    "manylinux2014_x86_64",
    "linux_x86_64",
]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def lock_dev(upgrade: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        py = Path(tmp) / "venv" / "bin" / "python"
        run([sys.executable, "-m", "venv", str(Path(tmp) / "venv")])
        run([str(py), "-m", "pip", "install", "--quiet", f"pip=={PIP}"])
        pins = [] if upgrade else ["-c", str(CONSTRAINTS)]
        run([str(py), "-m", "pip", "install", "--quiet", *pins, f"torch=={TORCH}", ".[serve,dev]"],
            cwd=ROOT)  # fmt: skip
        frozen = run([str(py), "-m", "pip", "freeze", "--all", "--exclude", "genai-endpoints",
                      "--exclude", "pip"],
                     capture_output=True).stdout  # fmt: skip
    lines = sorted(
        (re.sub(r"^(torch==[0-9.]+)\+cpu$", r"\1", line) for line in frozen.splitlines()),
        key=str.lower,
    )
    header = [
        "# Every version set-up installs, so two set-ups months apart install the same thing.",
        "# Regenerate: python3 scripts/lock.py (--upgrade to take new releases). torch is the",
        "# CPU build where a local wheel provides it (this project's dev machines), else PyPI's;",
        "# runtime/serve.lock pins the same versions for the runtime image.",
        f"pip=={PIP}",
    ]
    CONSTRAINTS.write_text("\n".join(header + lines) + "\n")
    print(f"lock: wrote {CONSTRAINTS.name} ({len(lines)} pins)")


def serve_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["optional-dependencies"]["serve"]


def lock_runtime() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # PyPI itself, not local wheel folders
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--report", str(report), "--only-binary=:all:", *platforms, "--python-version", "3.11",
             "--implementation", "cp", "--target", str(Path(tmp) / "t"),
             "--index-url", "https://pypi.org/simple", "-c", str(CONSTRAINTS),
             *serve_requirements()], env=env)  # fmt: skip
        installs = json.loads(report.read_text())["install"]
    entries = []
    for item in installs:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        entries.append((name.lower(), f"{name}=={version} \\\n    --hash=sha256:{digest}"))
    header = [
        "# The runtime image installs exactly this (pip install --no-deps --require-hashes):",
        "# the serving closure of pyproject's `serve` extra at the versions constraints.txt pins",
        "# for the tests, resolved for Linux x86_64 / CPython 3.11 from PyPI, so torch is the",
        "# CUDA build and its CUDA libraries (nvidia-*, cuda-*, triton) are the only additions.",
        "# Regenerate with python3 scripts/lock.py; tests/test_runtime_lock.py checks the match.",
    ]
    body = [text for _, text in sorted(entries)]
    RUNTIME_LOCK.write_text("\n".join(header + body) + "\n")
    print(f"lock: wrote {RUNTIME_LOCK.relative_to(ROOT)} ({len(body)} pins)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="re-resolve from scratch")
    parser.add_argument("--runtime-only", action="store_true", help="only runtime/serve.lock")
    args = parser.parse_args()
    if not args.runtime_only:
        lock_dev(args.upgrade)
    lock_runtime()


if __name__ == "__main__":
    main()
