"""Add a model version to a repository the way the exporter does: staged, then renamed.

``copy_version(root, "vision", 1, 2)`` copies ``vision/1`` to ``vision/.2.building``, sets the
manifest's ``version`` (the checksum is unchanged: same ``model.onnx``), and renames it to
``vision/2`` in one step, so a poller never sees a half-written version.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from contract import layout
from contract.manifest import MANIFEST_FILE


def copy_version(root: Path, name: str, source: int, target: int) -> Path:
    """Write ``<root>/<name>/<target>`` as a copy of ``<source>``; return its directory."""
    final = layout.version_dir(root, name, target)
    staging = layout.staging_dir(final)
    shutil.copytree(layout.version_dir(root, name, source), staging)
    manifest_path = staging / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = target
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    staging.rename(final)
    return final
