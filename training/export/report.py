"""The evaluation report written beside an exported model: ``<version>/report/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.layout import REPORT_DIR


def report_dir(version_dir: Path) -> Path:
    path = Path(version_dir) / REPORT_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_metrics(version_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``report/metrics.json`` (pretty-printed, keys sorted for stable diffs)."""
    path = report_dir(version_dir) / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def save_figure(fig: Any, version_dir: Path, filename: str) -> Path:
    """Save a matplotlib figure as ``report/<filename>`` (PNG) and close it."""
    import matplotlib.pyplot as plt  # imported late: only report writers need matplotlib

    path = report_dir(version_dir) / filename
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
