"""What is tested is what serves: the runtime image installs runtime/serve.lock, and that
lock must be exactly the serving closure this test environment runs (torch aside, which
is the same version as its CUDA build, and the CUDA libraries that only the image has)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "runtime" / "serve.lock"
DOCKERFILE = ROOT / "runtime" / "Dockerfile"
# only in the image: torch's CUDA build pulls these on Linux, the CPU build does not
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")


def lock_pins() -> dict[str, tuple[str, list[str]]]:
    text = LOCK.read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        spec, *hashes = line.split("--hash=")
        name, _, version = spec.strip().partition("==")
        pins[canonicalize_name(name)] = (version, [h.strip() for h in hashes])
    return pins


def serving_closure() -> dict[str, str]:
    """Every distribution the `serve` extra needs here, with its installed version."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["optional-dependencies"]["serve"]]
    env = default_environment()
    seen: dict[str, str] = {}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[name] = dist.version
        for dep in dist.requires or []:
            r = Requirement(dep)
            if r.marker is None or r.marker.evaluate({**env, "extra": ""}):
                todo.append(r)
    return seen


def test_every_pin_is_exact_and_hashed():
    pins = lock_pins()
    assert len(pins) > 20
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), name
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_image_lock_equals_what_the_tests_run():
    pins = lock_pins()
    closure = serving_closure()
    missing = sorted(set(closure) - set(pins))
    assert not missing, f"the tests run {missing}, the image would not install them"
    differ = {
        name: (closure[name], pins[name][0])
        for name in closure
        if closure[name].split("+")[0] != pins[name][0]  # 2.13.0+cpu here, 2.13.0 (CUDA) there
    }
    assert not differ, f"tested version != image version: {differ}"
    extra = sorted(n for n in set(pins) - set(closure) if not CUDA_ONLY.match(n))
    assert not extra, f"the image would install {extra}, which no test runs"


def test_constraints_pin_the_same_versions():
    pins = lock_pins()
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            constraints[canonicalize_name(name)] = version.strip()
    for name, (version, _) in pins.items():
        if not CUDA_ONLY.match(name):
            assert constraints.get(name) == version, name


def test_dockerfile_installs_exactly_the_lock_on_a_pinned_base():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE=\S+@sha256:[0-9a-f]{64}$", text, re.M)
    assert "FROM ${BASE}" in text
    assert "ARG LOCK=runtime/serve.lock" in text and "COPY ${LOCK} /opt/genai/serve.lock" in text
    install = re.search(r"RUN pip install ([^\n]*\\\n)*[^\n]*", text)[0]
    for flag in (
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "-r /opt/genai/serve.lock",
    ):
        assert flag in install
    assert 'ENTRYPOINT ["python", "-m", "scoring.server"]' in text
    # starts as root (SageMaker requires it); the server drops to uid 10001 on the other
    # clouds (scoring/server/privileges.py, tests/scoring/server/test_privileges.py)
    assert not re.search(r"^USER ", text, re.M)
    assert "useradd --system --uid 10001 --gid 10001" in text
    assert re.search(r"^ENV GENAI_RUN_AS=10001$", text, re.M)
    # nothing is installed when a container starts: the entry point is the server itself
    assert "pip install" not in text.split("ENTRYPOINT")[1]
