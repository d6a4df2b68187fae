"""Which default models ``build-defaults`` builds, and into which version.

| ``--version`` | ``--force`` | the model's folders             | action                           |
|---------------|-------------|---------------------------------|----------------------------------|
| not given     | no          | latest version verifies         | skip: ``make models`` idempotent |
| not given     | no          | no version, or latest is broken | build the next free version      |
| not given     | yes         | any                             | rebuild the latest, in place     |
| N             | no          | N verifies                      | skip                             |
| N             | no          | N missing                       | build N                          |
| N             | no          | N exists, does not verify       | refuse (``--force`` writes it)   |
| N             | yes         | any                             | build N, over it if it exists    |

A broken latest version is left for inspection, not written over: the new one is built beside
it, and the service serves the highest version. ``--force`` without ``--version`` rebuilds in
place, so repeated forced builds never pile up versions. The replaced directory is swapped in
atomically (``training.export.staging``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from contract.layout import latest_version, version_dir
from contract.manifest import read_manifest, verify_files
from training.defaults import BuildRequest, DefaultModel
from training.versions import VersionTakenError, next_free_version

log = logging.getLogger(__name__)

_Target = tuple[int, bool]  # (version, replace)


def _verified(version_dir: Path) -> bool:
    """True when the version directory's manifest matches its files."""
    try:
        verify_files(read_manifest(version_dir), version_dir)
    except (OSError, ValueError) as exc:
        log.warning("%s does not verify (%s)", version_dir, exc)
        return False
    return True


def _without_version(models_dir: Path, model: DefaultModel, force: bool) -> _Target | None:
    tops = [latest_version(models_dir / name) for name in model.names]
    if force:
        latest = max((t for t in tops if t is not None), default=None)
        return (1, False) if latest is None else (latest, True)
    pairs = zip(model.names, tops, strict=True)
    built = [version_dir(models_dir, n, t) for n, t in pairs if t is not None]
    if len(built) == len(tops) and all(_verified(folder) for folder in built):
        log.info("already built: %s", ", ".join(model.names))
        return None
    return next_free_version(models_dir, model.names), False


def _with_version(
    models_dir: Path, model: DefaultModel, version: int, force: bool
) -> _Target | None:
    folders = [version_dir(models_dir, name, version) for name in model.names]
    if force:
        return version, True
    if all(_verified(folder) for folder in folders):
        log.info("already built: %s version %d", ", ".join(model.names), version)
        return None
    taken = [str(folder) for folder in folders if folder.exists()]
    if taken:
        raise VersionTakenError(
            f"{', '.join(taken)} exist but do not verify; add --force to write over them, "
            "or leave --version out to build the next free version"
        )
    return version, False


def plan(
    models_dir: Path,
    models: Sequence[DefaultModel],
    *,
    version: int | None = None,
    force: bool = False,
    quick: bool = False,
) -> list[BuildRequest]:
    """The build requests for ``models``, in their order; see the module doc for the rules."""
    requests = []
    for model in models:
        if version is None:
            target = _without_version(models_dir, model, force)
        else:
            target = _with_version(models_dir, model, version, force)
        if target is not None:
            requests.append(BuildRequest(model, models_dir, *target, quick=quick))
    return requests
