"""The fp32-vs-int8 timing table runs on a real repository with an int8 variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import precision
from tests.service.tiny_models import build_int8_repository


def test_the_table_times_both_precisions_of_each_model_with_a_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        precision.main(["--models-dir", str(build_int8_repository(tmp_path)), "--threads", "1,2"])
        == 0
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| vision")]
    assert [row.split(" | ")[1] for row in rows] == ["1", "2"]
    for row in rows:
        fp32, int8 = (float(cell) for cell in row.split(" | ")[2:4])
        assert fp32 > 0 and int8 > 0
