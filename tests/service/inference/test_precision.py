"""Which file serves: the precision setting, the gated variant, the CPU's int8 instructions."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.cpu import cpu_has_int8_dot, int8_dot_flags
from contract.manifest import Manifest
from service.inference.precision import choose
from tests.contract.test_manifest import BASE, _variant

FP32_ONLY = Manifest.model_validate(BASE)
WITH_INT8 = Manifest.model_validate({**BASE, "variants": [_variant()]})
CPUINFO = """processor\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni
"""


def test_int8_dot_product_flags_are_read_from_cpuinfo() -> None:
    assert int8_dot_flags(CPUINFO) == {"avx512_vnni"}
    assert int8_dot_flags("flags : fpu avx_vnni amx_int8 amx_tile\n") == {"avx_vnni", "amx_int8"}
    assert int8_dot_flags("flags : fpu sse2 avx2 avx512f\n") == frozenset()
    assert int8_dot_flags("") == frozenset()


def test_cpu_has_int8_dot_reads_the_file_and_survives_its_absence(tmp_path: Path) -> None:
    (tmp_path / "with").write_text(CPUINFO)
    (tmp_path / "without").write_text("flags : fpu sse2 avx2\n")
    assert cpu_has_int8_dot(tmp_path / "with") is True
    assert cpu_has_int8_dot(tmp_path / "without") is False
    assert cpu_has_int8_dot(tmp_path / "missing") is False


@pytest.mark.parametrize(
    ("manifest", "setting", "fast", "gpu", "served"),
    [
        (WITH_INT8, "auto", True, False, "int8"),
        (WITH_INT8, "auto", False, False, "fp32"),  # no VNNI/AMX: int8 buys nothing
        (WITH_INT8, "auto", True, True, "fp32"),  # a GPU serves fp32
        (WITH_INT8, "fp32", True, False, "fp32"),  # fp32 stays one setting away
        (WITH_INT8, "int8", False, False, "int8"),  # asked for explicitly
        (FP32_ONLY, "int8", True, False, "fp32"),  # no gated variant: fp32
        (FP32_ONLY, "auto", True, False, "fp32"),
    ],
)
def test_the_choice_follows_the_table(
    manifest: Manifest, setting: str, fast: bool, gpu: bool, served: str
) -> None:
    choice = choose(manifest, setting, fast_int8=fast, on_gpu=gpu)
    assert choice.precision == served
    assert choice.file == ("model.int8.onnx" if served == "int8" else "model.onnx")
    assert choice.why
