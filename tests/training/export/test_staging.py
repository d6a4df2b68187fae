"""Staging directories are hidden from repository readers; installing is one rename."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import layout
from training.export import staging
from training.versions import VersionTakenError


def _version(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_text(content)
    return folder


def test_staging_names_are_hidden_never_digits_and_unique() -> None:
    names = {staging.staging_name(3) for _ in range(50)}
    assert len(names) == 50
    assert all(layout.is_staging_name(n) and not layout.is_version_name(n) for n in names)
    assert all(not n.lstrip(".").isdigit() for n in names)


def test_the_repository_sees_no_version_while_an_export_is_staged(tmp_path: Path) -> None:
    with staging.staged_version(tmp_path / "m", 1) as staged:
        (staged / "model.onnx").write_text("half")
        assert layout.versions(tmp_path / "m") == []
        assert layout.next_version(tmp_path / "m") == 1


def test_a_staged_directory_is_removed_when_the_export_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staging.staged_version(tmp_path / "m", 1) as staged:
        (staged / "model.onnx").write_text("half")
        raise RuntimeError("export failed")
    assert list((tmp_path / "m").iterdir()) == []


def test_install_refuses_an_existing_version(tmp_path: Path) -> None:
    target = _version(tmp_path / "m" / "1", "old")
    staged = _version(tmp_path / "m" / staging.staging_name(1), "new")
    with pytest.raises(VersionTakenError, match="already exists"):
        staging.install(staged, target)
    assert (target / "model.onnx").read_text() == "old"


@pytest.mark.parametrize("atomic", [True, False])
def test_install_with_replace_swaps_the_whole_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic: bool
) -> None:
    if not atomic:  # a kernel or file system without renameat2(RENAME_EXCHANGE)
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    target = _version(tmp_path / "m" / "1", "old")
    (target / "stale.txt").write_text("only in the old version")
    staged = _version(tmp_path / "m" / staging.staging_name(1), "new")
    staging.install(staged, target, replace=True)
    assert (target / "model.onnx").read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx"]


def test_exchange_swaps_two_directories_in_one_step(tmp_path: Path) -> None:
    a, b = _version(tmp_path / "a", "A"), _version(tmp_path / "b", "B")
    if not staging._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert (a / "model.onnx").read_text() == "B" and (b / "model.onnx").read_text() == "A"
