"""Which file of a model version serves: ``model.onnx`` (fp32) or its int8 variant.

The choice (``Settings.precision``, per model ``Settings.model_precisions``):

| setting | the version has an int8 variant                       | it has none |
|---------|-------------------------------------------------------|-------------|
| fp32    | fp32                                                  | fp32        |
| int8    | int8                                                  | fp32        |
| auto    | int8 on a CPU with VNNI or AMX and no GPU, else fp32  | fp32        |

A variant exists in the manifest only when it passed its quality gate at build time. int8
pays off only where the CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI, AMX):
without them ONNX Runtime's int8 kernels are barely faster than fp32 and the accuracy cost
buys nothing. On CUDA the QDQ graph would run through slower paths, so ``auto`` keeps fp32.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from contract.manifest import Manifest

log = logging.getLogger(__name__)

INT8 = "int8"
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Choice:
    """The precision that serves, its file in the version directory, and why."""

    precision: str
    file: str
    why: str


def int8_dot_flags(cpuinfo: str) -> frozenset[str]:
    """The int8 dot-product flags in the text of ``/proc/cpuinfo``."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return frozenset(flags & INT8_DOT_FLAGS)


@functools.cache
def cpu_has_int8_dot(path: Path = CPUINFO) -> bool:
    """True when this CPU has VNNI or AMX int8 (read once; False where cpuinfo is unreadable)."""
    try:
        found = int8_dot_flags(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False
    log.info("CPU int8 dot-product instructions: %s", ", ".join(sorted(found)) or "none")
    return bool(found)


def choose(manifest: Manifest, setting: str, *, fast_int8: bool, on_gpu: bool) -> Choice:
    """The file of ``manifest``'s version that serves under ``setting`` (module table)."""
    fp32 = manifest.precision
    if setting == fp32:
        return Choice(fp32, manifest.model_file(fp32), "precision setting fp32")
    if manifest.variant(INT8) is None:
        return Choice(fp32, manifest.model_file(fp32), "no int8 variant passed the build's gate")
    if setting == INT8:
        return Choice(INT8, manifest.model_file(INT8), "precision setting int8")
    if on_gpu:
        return Choice(fp32, manifest.model_file(fp32), "auto: fp32 on a GPU")
    if not fast_int8:
        return Choice(fp32, manifest.model_file(fp32), "auto: this CPU has no VNNI or AMX")
    return Choice(INT8, manifest.model_file(INT8), "auto: gated int8 variant, CPU has VNNI/AMX")
