"""The model repository layout: ``<root>/<name>/<version>/`` and the files inside a version.

The one place for these rules; the service (discovery, hot reload), the training exporter and
the benchmarks all read the repository through these functions. Layout follows Triton's:

```
<root>/<name>/<version>/model.onnx
                        model.int8.onnx  (when an int8 variant passed its gate)
                        manifest.json
                        tokenizer.json   (models that take text)
                        report/          (evaluation figures; not read by the service)
```

* A version directory's name is a positive integer written without leading zeros (``1``,
  ``12``); anything else under a model folder is ignored, so a half-written export, which the
  exporter stages under a hidden name (:func:`staging_name`), never looks like a version.
* A model name matches :data:`MODEL_NAME_PATTERN` (it is used in URLs and file paths).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
REPORT_DIR = "report"

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""Lowercase letters, digits and ``_.-``, at most 64 characters, not starting with a symbol."""

STAGING_PREFIX = "."
"""Directories the exporter writes before the atomic rename start with this (hidden, ignored)."""

_VERSION_NAME = re.compile(r"^[1-9][0-9]{0,17}$")
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)


def variant_file(precision: str) -> str:
    """The file of a lower-precision variant beside ``model.onnx``: ``model.<precision>.onnx``."""
    return f"model.{precision}.onnx"


def is_model_name(name: str) -> bool:
    """True when ``name`` is a valid model name."""
    return _MODEL_NAME.fullmatch(name) is not None


def is_version_name(name: str) -> bool:
    """True when a directory called ``name`` is a version directory (a positive integer)."""
    return _VERSION_NAME.fullmatch(name) is not None


def is_staging_name(name: str) -> bool:
    """True for a directory the exporter is still writing (watchers must ignore it)."""
    return name.startswith(STAGING_PREFIX)


def model_names(root: Path) -> list[str]:
    """The model folders under the repository ``root`` (sorted; invalid names skipped)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_model_name(p.name))


def versions(model_dir: Path) -> list[int]:
    """The version numbers present under ``model_dir``, ascending (empty when none)."""
    if not model_dir.is_dir():
        return []
    found = (p.name for p in model_dir.iterdir() if p.is_dir() and is_version_name(p.name))
    return sorted(int(name) for name in found)


def version_dir(root: Path, name: str, version: int) -> Path:
    """``<root>/<name>/<version>``."""
    if version < 1:
        raise ValueError(f"a model version is a positive integer, got {version}")
    return Path(root) / name / str(version)


def latest_version(model_dir: Path) -> int | None:
    """The highest version number under ``model_dir``, or None when there is none."""
    found = versions(model_dir)
    return found[-1] if found else None


def latest_version_dir(root: Path, name: str) -> Path:
    """The directory of the highest version of model ``name``; ``FileNotFoundError`` if none."""
    latest = latest_version(Path(root) / name)
    if latest is None:
        raise FileNotFoundError(f"no version directory of model {name!r} under {root}")
    return version_dir(root, name, latest)


def next_version(model_dir: Path) -> int:
    """The version number a new export of this model takes: one above the highest present."""
    return (latest_version(model_dir) or 0) + 1


def staging_name(version: int) -> str:
    """A fresh staging directory name for ``version``: hidden, never a version name, and unique
    per call, so two exports of one version never share a directory."""
    return f"{STAGING_PREFIX}{version}.{secrets.token_hex(4)}.staging"


def staging_dir(target: Path) -> Path:
    """A fresh directory beside the version directory ``target`` to write it in, then rename."""
    return target.with_name(staging_name(int(target.name)))
