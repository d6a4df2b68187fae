"""Command line of the training package: ``python -m training <command>``.

``build-defaults`` builds the default models that are missing (what ``make models`` runs);
``fit`` trains one of the four methods on a JSONL dataset (``training.fit``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from contract import layout
from contract.manifest import Manifest, read_manifest, verify_files
from training.defaults import DEFAULT_GROUPS, DefaultGroup

log = logging.getLogger(__name__)


def _is_built(models_dir: Path, name: str) -> bool:
    """True when the model's highest version has a manifest matching its files."""
    latest = layout.latest_version(models_dir / name)
    if latest is None:
        return False
    version_dir = layout.version_dir(models_dir, name, latest)
    try:
        verify_files(read_manifest(version_dir), version_dir)
    except (OSError, ValueError) as exc:
        log.warning("%s is incomplete (%s); rebuilding it", version_dir, exc)
        return False
    return True


def _load_builder(group: DefaultGroup) -> Callable[..., list[Manifest]]:
    module, _, function = group.builder.partition(":")
    builder: Callable[..., list[Manifest]] = getattr(importlib.import_module(module), function)
    return builder


def _groups_to_build(args: argparse.Namespace) -> list[DefaultGroup]:
    wanted = set(args.only.split(",")) if args.only else None
    known = {name for group in DEFAULT_GROUPS for name in group.models}
    if wanted and wanted - known:
        raise SystemExit(
            f"unknown default model(s) {sorted(wanted - known)}; known: {sorted(known)}"
        )
    groups = []
    for group in DEFAULT_GROUPS:
        names = [n for n in group.models if wanted is None or n in wanted]
        if not names:
            continue
        missing = [n for n in names if args.force or not _is_built(args.models_dir, n)]
        if missing:
            groups.append(group)
        else:
            log.info("already built: %s", ", ".join(names))
    return groups


def build_defaults(args: argparse.Namespace) -> int:
    args.models_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for group in _groups_to_build(args):
        t0 = time.perf_counter()
        log.info("building %s", ", ".join(group.models))
        manifests = _load_builder(group)(args.models_dir, quick=args.quick)
        log.info(
            "built %s in %.0f s", ", ".join(m.name for m in manifests), time.perf_counter() - t0
        )
    log.info("default models ready in %s (%.0f s)", args.models_dir, time.perf_counter() - started)
    return 0


def _add_build_defaults(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("build-defaults", help="build the default models that are missing")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument(
        "--force", action="store_true", help="rebuild even the models already built"
    )
    parser.add_argument("--only", default="", help="comma-separated model names to build")
    parser.add_argument(
        "--quick", action="store_true", help="tiny data and few steps: for tests, not for serving"
    )
    parser.set_defaults(func=build_defaults)


def _add_fit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from training import fit  # the fit command owns its own arguments

    parser = sub.add_parser("fit", help="train a method on a JSONL dataset and export it")
    fit.add_arguments(parser)
    parser.set_defaults(func=fit.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_build_defaults(sub)
    _add_fit(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    result: int = args.func(args)
    return result
