"""What the CPU path depends on: int8 dot-product instructions, and one ONNX Runtime fusion.

Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI, AMX):

Shared because both sides depend on it: the service serves an int8 variant by default only
where they exist (``service.inference.precision``), and the build records them beside an int8
gate (``training.defaults.vision_int8``). Without them ONNX Runtime's x86 u8s8 kernels sum pairs
of uint8 x int8 products in int16 (AVX2 ``vpmaddubsw``), which saturates; with them the sums are
exact int32. Measured on an AVX2-only EPYC with the default ``vision`` variant: top-1 agreement
with fp32 0.862 through those kernels against 0.938 for the same file in exact arithmetic.

:data:`CPU_DISABLED_OPTIMIZERS`: the ONNX Runtime graph fusions a CPU session is opened without,
by the service and by the build's gates and timings alike, so both run the same arithmetic.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)

INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# ONNX Runtime 1.31's CPU SkipLayerNormalization kernel is 3.4x slower than the Add, Add and
# LayerNormalization it replaces (1,015 against 295 us on 16 x 30 x 384 floats, one thread,
# Intel Xeon with AMX, 2026-12-07); it was 27% of the int8 `text` graph's kernel time. The
# build leaves it out of the file (``training.export.quantize``) and sessions must not put it
# back at load. On CUDA the fused kernel is the faster one, so only CPU sessions skip it.
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
CPUINFO = Path("/proc/cpuinfo")


def int8_dot_flags(cpuinfo: str) -> frozenset[str]:
    """The int8 dot-product flags in the text of ``/proc/cpuinfo``."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return frozenset(flags & INT8_DOT_FLAGS)


@functools.cache
def cpu_int8_dot_flags(path: Path = CPUINFO) -> frozenset[str]:
    """This CPU's int8 dot-product flags (read once; none where cpuinfo is unreadable)."""
    try:
        found = int8_dot_flags(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return frozenset()
    log.info("CPU int8 dot-product instructions: %s", ", ".join(sorted(found)) or "none")
    return found


def cpu_has_int8_dot(path: Path = CPUINFO) -> bool:
    """True when this CPU has VNNI or AMX int8."""
    return bool(cpu_int8_dot_flags(path))
