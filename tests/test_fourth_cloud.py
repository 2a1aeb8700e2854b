"""The fourth-cloud rule (docs/architecture.md, "Adding a cloud"), enforced: which files
know a cloud by name, and that the list does not grow.

For each cloud, every file of the code packages (``scoring/``, ``model_packages/``,
``infra/``, ``genai_endpoints/``) that names it in either vocabulary (``aws``/``sagemaker``,
``gcp``/``vertex``, ``azure``/``azureml``; whole words, any case) is listed, less the
cloud's own files (a folder or module named after it, e.g. ``infra/aws/``,
``scoring/server/contracts/sagemaker.py``) and the registries, where each cloud is one
line. What is left is shared code that knows a cloud: ``fourth_cloud.json`` holds it, and
a new file there fails this test. Put the new knowledge in the cloud's own files or read
it from the cloud's descriptor (``scoring.server.contracts.CLOUDS``) instead.

Docs, tests, examples and benchmarks are not code a fourth cloud must touch, so they are
not scanned. After files move (a refactor, not a new mention), refresh the list with one
command and review the diff:

    PYTHONPATH=$PWD .venv/bin/python -m tests.test_fourth_cloud --write
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from scoring.server.contracts import DESCRIPTORS, Descriptor

ROOT = Path(__file__).resolve().parents[1]
LIST = Path(__file__).with_name("fourth_cloud.json")
PACKAGES = ("scoring", "model_packages", "infra", "genai_endpoints")
SUFFIXES = {".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".md", ".cfg", ".ini"}
WRITE = "PYTHONPATH=$PWD .venv/bin/python -m tests.test_fourth_cloud --write"


def names(d: Descriptor) -> tuple[str, str]:
    return (d.name, d.cloud)


def code_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            parts = path.relative_to(ROOT).parts
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in parts:
                files.append(path)
    return sorted(files)


# a cloud's object store, where its own module is named after the store (stores/s3.py)
STORE_NAMES = {"aws": ("s3",), "gcp": ("gcs",), "azure": ()}


def own(rel: str, d: Descriptor) -> bool:
    """A folder or module named after the cloud, in either vocabulary, or its store."""
    parts = rel.split("/")
    mine = (*names(d), *STORE_NAMES.get(d.cloud, ()))
    return any(p.lower() in mine for p in [*parts[:-1], Path(parts[-1]).stem])


def knowing(d: Descriptor, registries: list[str]) -> list[str]:
    """Shared files that name ``d``'s cloud: everything but its own files and registries."""
    word = re.compile(r"\b(" + "|".join(map(re.escape, names(d))) + r")\b", re.IGNORECASE)
    found = []
    for path in code_files():
        rel = path.relative_to(ROOT).as_posix()
        if own(rel, d) or rel in registries:
            continue
        if word.search(path.read_text(errors="replace")):
            found.append(rel)
    return found


def listed() -> dict:
    return json.loads(LIST.read_text())


@pytest.mark.parametrize("d", DESCRIPTORS, ids=lambda d: "/".join(names(d)))
def test_shared_knowledge_of_a_cloud_does_not_grow(d):
    known = listed()
    allowed = set(known["shared"].get(d.cloud, []))
    new = [rel for rel in knowing(d, known["registries"]) if rel not in allowed]
    assert not new, (
        f"{len(new)} shared file(s) now name {'/'.join(names(d))}: {', '.join(new)}. "
        "Move that knowledge into the cloud's own files or read its descriptor "
        f"(scoring.server.contracts.CLOUDS); after a move that adds none, run: {WRITE}"
    )


def test_every_registry_exists_and_names_every_cloud():
    for rel in listed()["registries"]:
        text = (ROOT / rel).read_text()
        for d in DESCRIPTORS:
            assert re.search(rf"\b({d.name}|{d.cloud})\b", text, re.IGNORECASE), (rel, d.name)


def write() -> None:
    """Rewrite the list from the tree as it is (keeping the registries)."""
    known = listed()
    known["shared"] = {d.cloud: knowing(d, known["registries"]) for d in DESCRIPTORS}
    LIST.write_text(json.dumps(known, indent=2) + "\n")
    for d in DESCRIPTORS:
        print(f"{'/'.join(names(d))}: {len(known['shared'][d.cloud])} shared files")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {WRITE}")
    write()
