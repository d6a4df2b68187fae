"""The JSONL reader names the line and the file that are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.methods.jsonl import load_jsonl


def test_jsonl_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"image": "a.png", "text": "x", "label": "y"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_jsonl(path, 32)
    path.write_text('{"image": "missing.png", "text": "x", "label": "y"}\n' * 3)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_jsonl(path, 32)
