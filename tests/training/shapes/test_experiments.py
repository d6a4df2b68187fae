"""The comparison script prints markdown tables (quick budget here; figures come from full runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.shapes.experiments import main, markdown


def test_markdown_table() -> None:
    text = markdown([{"a": "1", "b": "x"}, {"a": "2", "b": "y"}])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2 | y |"]


@pytest.mark.slow
def test_binding_experiment_compares_both_fusions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "binding.md"
    assert main(["binding", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| concat (pooled image + question) |" in printed
    assert "| cross-modal attention (question over 8x8 map) |" in printed
    assert out.read_text() in printed + "\n"
