"""Which file of a model version serves: ``model.onnx`` (fp32) or its int8 variant.

The choice (``Settings.precision``, per model ``Settings.model_precisions``):

| setting | the version has an int8 variant                       | it has none |
|---------|-------------------------------------------------------|-------------|
| fp32    | fp32                                                  | fp32        |
| int8    | int8                                                  | fp32        |
| auto    | int8 on a CPU with VNNI or AMX and no GPU, else fp32  | fp32        |

A variant exists in the manifest only when it passed its quality gate at build time. int8
is served by default only where the CPU has int8 dot-product instructions (AVX512-VNNI,
AVX-VNNI, AMX; ``contract.cpu``): without them ONNX Runtime's u8s8 kernels saturate and the
answers drift further from fp32 (``contract.cpu`` has the figures). On CUDA the QDQ graph
would run through slower paths, so ``auto`` keeps fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.manifest import Manifest

INT8 = "int8"


@dataclass(frozen=True)
class Choice:
    """The precision that serves, its file in the version directory, and why."""

    precision: str
    file: str
    why: str


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
