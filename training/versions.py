"""Which version number a build writes: the next free one unless asked; over one only on purpose.

The version-directory rules themselves (what counts as a version, the latest, the next) are the
contract's (``contract.layout``); this module applies them to builds that write several models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from contract.layout import next_version, version_dir


class VersionTakenError(FileExistsError):
    """The version asked for exists and writing over it was not asked for (``--force``)."""


def next_free_version(models_dir: Path, names: Sequence[str]) -> int:
    """The lowest version above every existing one of each of ``names`` (towers share theirs)."""
    return max(next_version(Path(models_dir) / name) for name in names)


def require_free(models_dir: Path, names: Sequence[str], version: int) -> None:
    """Raise ``VersionTakenError`` when any of ``names`` already has ``version``."""
    folders = [version_dir(models_dir, name, version) for name in names]
    taken = [str(folder) for folder in folders if folder.exists()]
    if taken:
        raise VersionTakenError(
            f"{', '.join(taken)} already exist: leave --version out to write "
            "the next free version, or add --force to write over it"
        )
