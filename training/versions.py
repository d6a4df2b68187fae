"""Which version number a build writes: the next free one unless asked; over one only on purpose."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def next_version(model_dir: Path) -> int:  # TODO(contract): contract.repository.next_version
    numbers = [int(p.name) for p in model_dir.glob("*") if p.name.isdigit()]
    return max(numbers, default=0) + 1


class VersionTakenError(FileExistsError):
    """The version asked for exists and writing over it was not asked for (``--force``)."""


def next_free_version(models_dir: Path, names: Sequence[str]) -> int:
    """The lowest version above every existing one of each of ``names`` (towers share theirs)."""
    return max(next_version(Path(models_dir) / name) for name in names)


def require_free(models_dir: Path, names: Sequence[str], version: int) -> None:
    """Raise ``VersionTakenError`` when any of ``names`` already has ``version``."""
    folders = [Path(models_dir) / name / str(version) for name in names]
    taken = [str(folder) for folder in folders if folder.exists()]
    if taken:
        raise VersionTakenError(
            f"{', '.join(taken)} already exist: leave --version out to write "
            "the next free version, or add --force to write over it"
        )
