"""Print the pip requirements of one image stage, derived from ``pyproject.toml``.

The base dependencies in ``pyproject.toml`` pick ``onnxruntime-gpu`` on Linux x86_64 through
environment markers, which is right for a developer machine but wrong for a CPU image: there the
CPU package must be the only one installed (the two packages share the ``onnxruntime`` import name
and overwrite each other's files when installed side by side). So the images never let pip read
those markers: they install the requirements printed here, with the ONNX Runtime flavour named
explicitly, and then the project itself with ``--no-deps``.

Usage (inside the Dockerfile)::

    python docker/stage_requirements.py --onnxruntime onnxruntime==1.31.1 > requirements.txt
    python docker/stage_requirements.py --onnxruntime onnxruntime==1.31.1 --extra train

Runs on the Python standard library alone (3.11+), because it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import tomllib

ORT_DISTRIBUTIONS = frozenset({"onnxruntime", "onnxruntime-gpu"})
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def distribution_name(requirement: str) -> str:
    """The normalised (PEP 503) distribution name of a PEP 508 requirement string."""
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def stage_requirements(pyproject: Path, onnxruntime: str, extras: list[str]) -> list[str]:
    """Base (plus ``extras``) dependencies with every ONNX Runtime line replaced by ``onnxruntime``.

    Args:
        pyproject: path to the project's ``pyproject.toml``.
        onnxruntime: the one ONNX Runtime requirement the stage installs, e.g.
            ``onnxruntime-gpu==1.31.1``; it must name ``onnxruntime`` or ``onnxruntime-gpu``.
        extras: optional-dependency groups to add (``train`` for the training stage).

    Raises:
        ValueError: when ``onnxruntime`` names another package or an extra does not exist.
    """
    if distribution_name(onnxruntime) not in ORT_DISTRIBUTIONS:
        raise ValueError(f"--onnxruntime must name one of {sorted(ORT_DISTRIBUTIONS)}")
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"unknown extra {extra!r}; pyproject.toml has {sorted(optional)}")
        requirements += optional[extra]
    kept = [r for r in requirements if distribution_name(r) not in ORT_DISTRIBUTIONS]
    return [*kept, onnxruntime]


def main(argv: list[str] | None = None) -> int:
    """Command line: print one requirement per line on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--onnxruntime", required=True, help="e.g. onnxruntime==1.31.1")
    parser.add_argument("--extra", action="append", default=[], help="optional group to add")
    args = parser.parse_args(argv)
    try:
        lines = stage_requirements(args.pyproject, args.onnxruntime, args.extra)
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
