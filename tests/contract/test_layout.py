"""The repository layout rules: version directories, staging names, model names."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import layout


def _tree(root: Path, *dirs: str) -> Path:
    for d in dirs:
        (root / d).mkdir(parents=True)
    return root


def test_only_positive_integers_without_leading_zeros_are_versions(tmp_path: Path) -> None:
    model = _tree(tmp_path / "m", "1", "2", "10", "0", "007", ".3.building", "3a", "report")
    (model / "4").write_text("a file, not a directory")
    assert layout.versions(model) == [1, 2, 10]
    assert layout.latest_version(model) == 10
    assert layout.next_version(model) == 11


def test_a_missing_or_empty_model_folder_has_no_version(tmp_path: Path) -> None:
    assert layout.versions(tmp_path / "absent") == []
    assert layout.latest_version(tmp_path) is None
    assert layout.next_version(tmp_path / "absent") == 1
    with pytest.raises(FileNotFoundError, match="no version directory of model 'absent'"):
        layout.latest_version_dir(tmp_path, "absent")


def test_latest_version_dir_is_the_highest_number_not_the_last_in_text_order(
    tmp_path: Path,
) -> None:
    _tree(tmp_path, "vision/9", "vision/10")
    assert layout.latest_version_dir(tmp_path, "vision") == tmp_path / "vision" / "10"


def test_the_exporters_staging_directory_is_never_a_version(tmp_path: Path) -> None:
    target = layout.version_dir(tmp_path, "vision", 3)
    staging = layout.staging_dir(target)
    assert staging.parent == target.parent
    assert layout.is_staging_name(staging.name)
    assert not layout.is_version_name(staging.name)


def test_model_names(tmp_path: Path) -> None:
    _tree(tmp_path, "vision", "shapes-align-text", "Bad Name", ".hidden", "_x")
    (tmp_path / "README.md").write_text("not a model")
    assert layout.model_names(tmp_path) == ["shapes-align-text", "vision"]
    assert layout.model_names(tmp_path / "absent") == []
    assert layout.is_model_name("a" * 64) and not layout.is_model_name("a" * 65)


def test_versions_are_positive() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        layout.version_dir(Path("models"), "vision", 0)
