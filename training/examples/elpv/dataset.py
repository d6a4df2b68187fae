"""The elpv package's images and labels, in the JSONL format of ``fit``.

The package holds ``data/labels.csv`` (whitespace-separated: image path, defect probability,
type) and ``data/images/cellNNNN.png``. Each line written is
``{"image": "images/cellNNNN.png", "defect": "0.33", "cell_type": "poly"}``: the defect
probability as a two-decimal string, so the four classes sort in numeric order.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from training.errors import FitInputError

LABELS = "labels.csv"
JSONL = "elpv.jsonl"
#: The four expert grades, as fractions of 1 (the CSV writes them as floats).
GRADES = (0.0, 1 / 3, 2 / 3, 1.0)


@dataclass(frozen=True)
class Cell:
    image: str  # relative to the package's data directory
    defect: str  # "0.00", "0.33", "0.67" or "1.00"
    cell_type: str  # "mono" or "poly"


def package_data_dir() -> Path:
    """``elpv_dataset/data`` of the installed package, or an error saying how to install it."""
    try:
        import elpv_dataset
    except ImportError as exc:
        raise FitInputError(
            "the elpv data is not installed: `pip install elpv-dataset` (CC BY-NC-SA 4.0, "
            "non-commercial use only)"
        ) from exc
    return Path(elpv_dataset.__file__).resolve().parent / "data"


def _grade(text: str, path: Path, line: int) -> str:
    try:
        value = float(text)
    except ValueError:
        raise FitInputError(f"defect probability {text!r} is not a number", path, line) from None
    nearest = min(GRADES, key=lambda g: abs(g - value))
    if abs(nearest - value) > 1e-3:
        raise FitInputError(f"defect probability {value} is not one of 0, 1/3, 2/3, 1", path, line)
    return f"{nearest:.2f}"


def read_labels(data_dir: Path) -> list[Cell]:
    """The cells of ``data_dir/labels.csv``; errors name the file and line."""
    path = data_dir / LABELS
    if not path.is_file():
        raise FitInputError("no labels file: is this the elpv package's data directory?", path)
    cells = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[2] not in ("mono", "poly"):
            raise FitInputError(
                f"expected `path probability mono|poly`, got {line!r}", path, number
            )
        cells.append(Cell(fields[0], _grade(fields[1], path, number), fields[2]))
    if not cells:
        raise FitInputError("holds no cells", path)
    return cells


def write_jsonl(data_dir: Path, out: Path) -> Path:
    """Copy the images under ``out/images/`` and write ``out/elpv.jsonl``; returns its path."""
    cells = read_labels(data_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for cell in cells:
        source = data_dir / cell.image
        if not source.is_file():
            raise FitInputError(f"image {cell.image} is listed but missing", data_dir / LABELS)
        target = Path("images") / source.name
        shutil.copyfile(source, out / target)
        record = {"image": target.as_posix(), "defect": cell.defect, "cell_type": cell.cell_type}
        lines.append(json.dumps(record))
    jsonl = out / JSONL
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return jsonl
