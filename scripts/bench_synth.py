"""Time the Pulumi program under mocks (prod stack) against merely importing its SDKs.

Usage: .venv/bin/python scripts/bench_synth.py [--stack prod] [--runs 5]
Prints, from one process: the time to import pulumi + the provider submodules the program
uses, then the first program run under mocks and the median of the following runs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def provider_usage() -> tuple[list[str], list[str]]:
    """The provider submodules the program imports and the classes it uses from them,
    read from infra/'s sources, so the import figure covers exactly what the program pays."""
    modules: set[str] = set()
    used: set[str] = set()
    for path in (ROOT / "infra").rglob("*.py"):
        text = path.read_text()
        aliases = dict(
            (alias, mod)
            for mod, alias in re.findall(r"^import (pulumi_\w+(?:\.\w+)*) as (\w+)", text, re.M)
        )
        modules.update(aliases.values())
        for alias, attr in re.findall(r"\b(\w+)\.([A-Z]\w*)\b", text):
            if alias in aliases:
                used.add(f"{aliases[alias]}.{attr}")
        for mod, names in re.findall(r"^from (pulumi_\w+(?:\.\w+)*) import ([\w, ]+)", text, re.M):
            modules.add(mod)
            used.update(f"{mod}.{n.strip()}" for n in names.split(","))
    return ["pulumi", *sorted(modules)], sorted(used)


SDK_MODULES, USED = provider_usage()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    assert not any(m.startswith("pulumi") for m in sys.modules), "SDK already imported"

    t0 = time.perf_counter()
    import importlib

    for name in SDK_MODULES:
        importlib.import_module(name)
    t_sdk = time.perf_counter() - t0

    # pulumi_aws submodules load their resource files lazily, on first attribute access:
    # touch every class the program uses so the import figure is not flattered.
    t0 = time.perf_counter()
    for dotted in USED:
        module, _, attr = dotted.rpartition(".")
        getattr(importlib.import_module(module), attr)
    t_lazy = time.perf_counter() - t0

    t0 = time.perf_counter()
    from infra.synth import synth

    t_program_import = time.perf_counter() - t0
    # the fixture packages and the stand-in project folder whose serving lock they match
    fixtures = ROOT / "tests" / "infra" / "fixtures"
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        result = synth(
            args.stack,
            ROOT / f"Pulumi.{args.stack}.yaml",
            package_dir=fixtures / "packages",
            project_dir=fixtures / "project",
        )
        times.append(time.perf_counter() - t0)
    print(f"python {sys.version.split()[0]}, stack {args.stack}, {len(result.resources)} resources")
    print(f"import pulumi + {len(SDK_MODULES) - 1} provider submodules: {t_sdk * 1000:8.1f} ms")
    label = "resolve the provider classes used (lazy submodules):"
    print(f"{label}   {t_lazy * 1000:8.1f} ms")
    total = (t_sdk + t_lazy) * 1000
    print(f"SDK import total:                                        {total:8.1f} ms")
    label = "import infra program modules (config, catalog, synth):"
    print(f"{label}   {t_program_import * 1000:8.1f} ms")
    print(f"program run under mocks, first:                          {times[0] * 1000:8.1f} ms")
    if len(times) > 1:
        print(
            f"program run under mocks, median of next {len(times) - 1}:             "
            f"{statistics.median(times[1:]) * 1000:8.1f} ms"
        )


if __name__ == "__main__":
    main()
