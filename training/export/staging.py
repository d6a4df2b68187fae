"""Stage a version directory beside its final place, then install it with one rename.

A version directory is written under a staging name in the model's folder
(``.<version>.<token>.staging``: it starts with a dot, so a repository reader or watcher skips
it, see ``contract.layout.is_staging_name``), and only a complete, verified directory is renamed
to ``<version>``.
Writing over an existing version (``replace=True``) swaps the two directories in one step where
the kernel can (Linux ``renameat2(RENAME_EXCHANGE)``), so a reader sees the old files or the new
ones, never a missing or half-written folder.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.layout import staging_name
from training.versions import VersionTakenError

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@contextmanager
def staged_version(model_dir: Path, version: int) -> Iterator[Path]:
    """An empty staging directory in ``model_dir``; removed on leaving unless it was installed."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staged = model_dir / staging_name(version)
    staged.mkdir()
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # a no-op once installed (renamed away)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the C library, kernel or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def install(staged: Path, target: Path, *, replace: bool = False) -> None:
    """Rename the complete ``staged`` directory to ``target``.

    Raises ``VersionTakenError`` when ``target`` exists and ``replace`` is False (also when
    another export installed it meanwhile: ``rename`` never merges into a non-empty directory).
    """
    if target.exists() and not replace:
        raise VersionTakenError(f"{target} already exists")
    if not target.exists():
        try:
            staged.rename(target)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise VersionTakenError(f"{target} appeared while exporting") from None
            raise
        return
    if _exchange(staged, target):
        shutil.rmtree(staged)  # the old version, now under the staging name
        return
    # No atomic exchange here: move the old version aside first (a moment without it).
    old = target.with_name(staging_name(int(target.name)))
    target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    log.debug("replaced %s without an atomic exchange", target)
