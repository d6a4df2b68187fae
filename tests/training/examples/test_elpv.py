"""The elpv converter on a few synthetic cells in the package's format (no real data needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.errors import FitInputError
from training.examples.elpv import dataset
from training.examples.elpv.__main__ import main
from training.examples.elpv.study import ROWS, Budget, Measured, table
from training.methods.config import load_config
from training.methods.jsonl import load_jsonl

# labels.csv as the package writes it: path, probability as a float, type; padded columns.
CELLS = [
    ("cell0001.png", "1.0", "mono"),
    ("cell0002.png", "0.3333333333333333", "poly"),
    ("cell0003.png", "0.6666666666666666", "mono"),
    ("cell0004.png", "0.0", "poly"),
    ("cell0005.png", "0.0", "mono"),
    ("cell0006.png", "1.0", "poly"),
]


def _package_dir(root: Path, cells: list[tuple[str, str, str]] = CELLS) -> Path:
    data = root / "data"
    (data / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, _p, _t in cells:
        grey = rng.integers(0, 256, (300, 300), dtype=np.uint8)  # 300x300 greyscale, like elpv
        Image.fromarray(grey, mode="L").save(data / "images" / name)
    lines = [f"images/{name:<12} {p:<20} {t}" for name, p, t in cells]
    (data / dataset.LABELS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


def test_prepare_writes_fit_jsonl_with_the_two_tasks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["prepare", "--source", str(_package_dir(tmp_path)), "--out", str(out)]) == 0
    records = [json.loads(x) for x in (out / dataset.JSONL).read_text().splitlines()]
    assert [r["defect"] for r in records] == ["1.00", "0.33", "0.67", "0.00", "0.00", "1.00"]
    assert [r["cell_type"] for r in records] == ["mono", "poly", "mono", "poly", "mono", "poly"]
    assert all((out / r["image"]).is_file() for r in records)
    train, held = load_jsonl(out / dataset.JSONL, 32)
    assert train.classes == {"cell_type": ["mono", "poly"],
                             "defect": ["0.00", "0.33", "0.67", "1.00"]}  # fmt: skip
    assert train.images is not None and train.images.shape[1:] == (32, 32, 3)  # grey -> RGB
    assert len(train) + len(held) >= len(CELLS)


def test_bad_labels_name_the_file_and_line(tmp_path: Path) -> None:
    cells = [*CELLS[:2], ("cell0009.png", "0.5", "mono")]
    data = _package_dir(tmp_path, cells)
    with pytest.raises(FitInputError, match=r"labels.csv:3: defect probability 0.5 is not one"):
        dataset.write_jsonl(data, tmp_path / "out")
    (data / dataset.LABELS).write_text("images/cell0001.png 1.0 thin\n")
    with pytest.raises(FitInputError, match=r"labels.csv:1: expected `path probability"):
        dataset.read_labels(data)


def test_missing_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "elpv_dataset", None)  # import now raises ImportError
    assert main(["prepare", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "pip install elpv-dataset" in err and "\n" not in err


def test_table_has_a_row_per_model_and_the_majority_baseline() -> None:
    metrics = {"defect_accuracy": 0.7, "defect_macro_f1": 0.5, "cell_type_accuracy": 0.9,
               "defect_majority": 0.57, "cell_type_majority": 0.6}  # fmt: skip
    text = table([Measured("hard", metrics, 3_400_000, 12.5, 40.0)])
    lines = text.splitlines()
    assert lines[2] == "| hard | 0.700 | 0.500 | 0.900 | 3.40 M | 12.5 | 40 |"
    assert lines[3].startswith("| majority class (train) | 0.570 |")


def test_table_joins_results_of_several_runs_in_row_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = {"defect_accuracy": 0.7, "defect_macro_f1": 0.5, "cell_type_accuracy": 0.9}
    paths = []
    for i, label in enumerate([ROWS[-1].label, ROWS[0].label]):
        row = {"label": label, "metrics": metrics, "parameters": 10, "ms_per_image": 1.0,
               "train_seconds": 2.0}  # fmt: skip
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps({"epochs": 2, "rows": [row]}))
    assert main(["table", *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0][2:] for line in lines[2:]] == [ROWS[0].label, ROWS[-1].label]


def test_frozen_rows_take_the_frozen_budget() -> None:
    budget = Budget(epochs=3, frozen_epochs=30)
    assert budget.of(load_config("hard_sharing_efficientnet")) == 30
    assert budget.of(load_config("soft_sharing_efficientnet_finetune")) == 3
