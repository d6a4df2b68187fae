"""The JSONL reader names the line and the file that are wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from training.errors import FitInputError
from training.methods.jsonl import load_jsonl


def test_jsonl_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"image": "a.png", "text": "x", "label": "y"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_jsonl(path, 32)
    path.write_text('{"image": "missing.png", "text": "x", "label": "y"}\n' * 3)
    with pytest.raises(FitInputError, match=r"bad\.jsonl:1: image .*missing\.png does not exist"):
        load_jsonl(path, 32)


def _image(root: Path) -> None:
    Image.new("RGB", (8, 8), (10, 20, 30)).save(root / "a.png")


def test_missing_image_names_its_jsonl_line(tmp_path: Path) -> None:
    _image(tmp_path)
    path = tmp_path / "data.jsonl"
    lines = [{"image": "a.png", "text": f"t{i}", "y": str(i % 2)} for i in range(6)]
    lines[4]["image"] = "gone.png"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(FitInputError, match=r"data\.jsonl:5: image .*gone\.png"):
        load_jsonl(path, 8)


def test_missing_labels_name_the_lines(tmp_path: Path) -> None:
    _image(tmp_path)
    path = tmp_path / "data.jsonl"
    lines: list[dict[str, str]] = [
        {"image": "a.png", "text": f"t{i}", "y": "a", "cell_type": "mono"} for i in range(9)
    ]
    for i in (2, 6, 7):
        del lines[i]["cell_type"]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(
        FitInputError,
        match=r"data\.jsonl:3: label field .cell_type. is missing \(3 of 9 lines lack it: 3, 7, 8",
    ):
        load_jsonl(path, 8)
