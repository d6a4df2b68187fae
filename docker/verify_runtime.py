"""Fail an image build whose runtime environment breaks the image's invariants.

Checked after the runtime stages install their packages:
- exactly one ONNX Runtime distribution is installed, the one the stage asked for (``onnxruntime``
  and ``onnxruntime-gpu`` share the ``onnxruntime`` import name; side by side, whichever was
  installed last silently wins, and the GPU build may end up without its CUDA provider);
- nothing of the ``train`` extra (torch, transformers, ...) is installed: the service image
  carries no training stack;
- the service package and ONNX Runtime import.

Usage: ``python verify_runtime.py --onnxruntime onnxruntime-gpu`` with ``pyproject.toml``,
``constraints.txt`` and ``stage_requirements.py`` next to it (the Dockerfile copies them to /build).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import sys
from collections.abc import Iterable
from pathlib import Path

from stage_requirements import ORT_DISTRIBUTIONS, distribution_name, stage_requirements


def installed_distributions() -> set[str]:
    """Normalised names of every distribution installed in this interpreter's environment."""
    return {distribution_name(d.metadata["Name"]) for d in metadata.distributions()}


def pinned_distributions(constraints: Path) -> set[str]:
    """Names pinned in a constraints file: the runtime closure, dependencies of dependencies too."""
    lines = constraints.read_text(encoding="utf-8").splitlines()
    return {distribution_name(line) for line in lines if line.strip() and line[0] != "#"}


def forbidden_distributions(pyproject: Path, constraints: Path) -> set[str]:
    """The ``train`` extra's distributions (torch first of all) that the runtime does not need.

    A train dependency can also be a dependency of a runtime package (``tqdm``, through
    ``tokenizers`` -> ``huggingface-hub``); the runtime closure in ``constraints`` is allowed.
    """
    base = stage_requirements(pyproject, "onnxruntime", [])
    train = stage_requirements(pyproject, "onnxruntime", ["train"])
    runtime = {distribution_name(r) for r in base} | pinned_distributions(constraints)
    return {distribution_name(r) for r in train} - runtime


def problems(installed: Iterable[str], onnxruntime: str, forbidden: Iterable[str]) -> list[str]:
    """Every broken invariant, as a message; empty when the environment is right."""
    installed = set(installed)
    found = []
    ort = sorted(installed & ORT_DISTRIBUTIONS)
    if ort != [onnxruntime]:
        found.append(
            f"expected exactly [{onnxruntime!r}] of {sorted(ORT_DISTRIBUTIONS)}, found {ort}"
        )
    stray = sorted(installed & set(forbidden))
    if stray:
        found.append(f"training-only packages in the runtime image: {stray}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Print what is wrong and return 1, or print what was checked and return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnxruntime", required=True, choices=sorted(ORT_DISTRIBUTIONS))
    here = Path(__file__).parent
    parser.add_argument("--pyproject", type=Path, default=here / "pyproject.toml")
    parser.add_argument("--constraints", type=Path, default=here / "constraints.txt")
    parser.add_argument("--skip-imports", action="store_true", help="check packages only")
    args = parser.parse_args(argv)
    forbidden = forbidden_distributions(args.pyproject, args.constraints)
    found = problems(installed_distributions(), args.onnxruntime, forbidden)
    for problem in found:
        print(f"verify_runtime: {problem}", file=sys.stderr)
    if found:
        return 1
    if not args.skip_imports:
        ort = importlib.import_module("onnxruntime")
        importlib.import_module("service.settings")
        print(f"verify_runtime: ok, onnxruntime {ort.__version__}, {ort.get_available_providers()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
