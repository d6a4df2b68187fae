"""Command line of the training package: ``python -m training <command>``.

``build-defaults`` builds the default models that are missing (what ``make models`` runs; the
versions it writes follow ``training.defaults.plan``); ``fit`` trains one of the four methods on
a JSONL dataset (``training.fit``). Both write the next free version unless ``--version`` says
otherwise, and write over an existing version only with ``--force``. A wrong input (config,
JSONL, image) is one line on stderr, ``error: <file>:<line>: <message>``, and exit code 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from contract.manifest import Manifest
from training.defaults import DEFAULT_MODELS, BuildRequest, DefaultModel, default_model_names
from training.defaults.plan import plan
from training.errors import INPUT_ERROR_EXIT, FitInputError
from training.versions import VersionTakenError

log = logging.getLogger(__name__)


def _load_builder(model: DefaultModel) -> Callable[[BuildRequest], list[Manifest]]:
    module, _, function = model.builder.partition(":")
    builder: Callable[[BuildRequest], list[Manifest]] = getattr(
        importlib.import_module(module), function
    )
    return builder


def _selected(only: str) -> list[DefaultModel]:
    """The default models ``--only`` names (by model or repository name), in build order."""
    if not only:
        return list(DEFAULT_MODELS)
    wanted = set(only.split(","))
    known = {m.name for m in DEFAULT_MODELS} | set(default_model_names())
    if wanted - known:
        raise SystemExit(
            f"unknown default model(s) {sorted(wanted - known)}; known: {sorted(known)}"
        )
    return [m for m in DEFAULT_MODELS if wanted & {m.name, *m.names}]


def build_defaults(args: argparse.Namespace) -> int:
    args.models_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        requests = plan(
            args.models_dir,
            _selected(args.only),
            version=args.version,
            force=args.force,
            quick=args.quick,
        )
    except VersionTakenError as exc:
        raise SystemExit(str(exc)) from None
    for request in requests:
        t0 = time.perf_counter()
        verb = "rebuilding" if request.replace else "building"
        log.info("%s %s version %d", verb, ", ".join(request.model.names), request.version)
        manifests = _load_builder(request.model)(request)
        log.info(
            "built %s in %.0f s", ", ".join(m.name for m in manifests), time.perf_counter() - t0
        )
    log.info("default models ready in %s (%.0f s)", args.models_dir, time.perf_counter() - started)
    return 0


def _add_build_defaults(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("build-defaults", help="build the default models that are missing")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="version to build (default: the next free one for missing models)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even the models already built, over their latest version (or --version)",
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
    try:
        result: int = args.func(args)
    except FitInputError as exc:
        if getattr(args, "debug", False):
            raise
        # One line, no traceback: the message names the file and line to fix.
        print(f"error: {exc}", file=sys.stderr)
        return INPUT_ERROR_EXIT
    return result
