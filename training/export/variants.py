"""Lower-precision variants of a staged model: measured against fp32, installed only if they pass.

A variant builder (one per default model, e.g. ``training.defaults.vision_int8``) writes its file
into the staged version directory and returns a :class:`Candidate`: the file, how it was made,
the gate's figures and the gate's failures. :func:`keep_passing` is the one place that decides:
a candidate with any failure has its file deleted and is left out of the manifest (with a
warning saying why); the others become manifest :class:`~contract.manifest.Variant` entries. The
figures of every candidate go into the manifest's ``metrics["<precision>_gate"]``, so a build
that did not install a variant still records how close it came.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.manifest import Variant, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One variant written into the staged directory and measured against fp32.

    ``failures`` is empty when the gate passed; ``skipped`` says why no file was made at all.
    """

    precision: str
    file: str
    method: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return self.skipped is None and not self.failures


MakeVariants = Callable[[Path], Sequence[Candidate]]
"""Builds and gates the variants of the staged version directory (its ``model.onnx`` is fp32)."""


def failures(checks: Iterable[tuple[bool, str]]) -> list[str]:
    """The messages of the checks that did not hold: ``[(condition, message), ...]``."""
    return [message for ok, message in checks if not ok]


def keep_passing(
    name: str, staged: Path, candidates: Sequence[Candidate]
) -> tuple[list[Variant], dict[str, Any]]:
    """The manifest entries of the candidates that passed, and every candidate's gate metrics.

    The file of a candidate that failed is deleted from ``staged``, so it is never installed.
    """
    installed: list[Variant] = []
    metrics: dict[str, Any] = {}
    for cand in candidates:
        path = staged / cand.file
        gate: dict[str, Any] = {"passed": cand.passed, "failures": cand.failures, **cand.figures}
        if cand.skipped is not None:
            gate["skipped"] = cand.skipped
            log.warning("%s: no %s variant: %s", name, cand.precision, cand.skipped)
        elif cand.failures:
            path.unlink(missing_ok=True)
            log.warning(
                "%s: %s variant failed its gate, not installed: %s",
                name, cand.precision, "; ".join(cand.failures),
            )  # fmt: skip
        else:
            installed.append(
                Variant(
                    precision=cand.precision,  # type: ignore[arg-type]
                    file=cand.file,
                    sha256=sha256_file(path),
                    method=cand.method,
                )
            )
            gate["bytes"] = path.stat().st_size
            log.info("%s: %s variant passed its gate (%s)", name, cand.precision, _fmt(cand))
        gate["build_seconds"] = round(cand.seconds, 1)
        metrics[f"{cand.precision}_gate"] = gate
    return installed, metrics


def _fmt(cand: Candidate) -> str:
    return ", ".join(f"{k}={v}" for k, v in cand.figures.items() if not isinstance(v, dict))
