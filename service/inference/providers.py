"""Execution providers: which ONNX Runtime providers the sessions ask for, decided once.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on a machine without a GPU
or without the CUDA libraries; asking for it there makes ONNX Runtime log a red ERROR (e.g.
``libcublasLt.so.13: cannot open shared object file``) and fall back to the CPU. With
``MMS_PROVIDERS=auto`` the service therefore probes once, quietly, on a tiny graph, and then
asks every session for exactly what works, logging one line that says which.
"""

from __future__ import annotations

import logging

import onnxruntime as ort

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# ONNX Runtime's default logger severity (warning); 4 (fatal) silences the probe's failure.
_DEFAULT_SEVERITY = 2
_SILENT = 4
# A one-node graph (float[1] -> Identity -> float[1], opset 13), serialised. Made with
# onnx.helper.make_graph([make_node("Identity", ["x"], ["y"])], "probe", [x], [y]) and
# make_model(graph, opset_imports=[make_opsetid("", 13)], ir_version=8): the service has no onnx.
_PROBE_MODEL = bytes.fromhex(
    "080812003a3b0a100a017812017922084964656e74697479120570726f62655a0f0a0178120a0a0808"
    "0112040a020801620f0a0179120a0a08080112040a02080142040a00100d"
)


def requested_providers(mode: str) -> list[str]:
    """Providers to ask ORT for: ``cuda`` asks CUDA first (CPU as fallback), else the CPU alone.

    ORT silently drops CUDA when it cannot use it, so callers must read
    ``session.get_providers()`` to learn what is really in use.
    """
    return [CUDA, CPU] if mode == "cuda" else [CPU]


def cuda_usable() -> bool:
    """Whether a session can run on CUDA here; ONNX Runtime's logging is silenced meanwhile."""
    if CUDA not in ort.get_available_providers():
        return False
    options = ort.SessionOptions()
    options.log_severity_level = _SILENT
    ort.set_default_logger_severity(_SILENT)  # the provider library's load failure logs here
    try:
        session = ort.InferenceSession(_PROBE_MODEL, sess_options=options, providers=[CUDA, CPU])
        return CUDA in session.get_providers()
    except Exception:  # any failure means: not usable
        return False
    finally:
        ort.set_default_logger_severity(_DEFAULT_SEVERITY)


def resolve_mode(mode: str) -> str:
    """``auto`` becomes ``cuda`` or ``cpu`` after one quiet probe; ``cpu``/``cuda`` stay as set."""
    if mode != "auto":
        return mode
    if cuda_usable():
        log.info("ONNX Runtime can use CUDA: sessions run on the GPU")
        return "cuda"
    log.info("no usable GPU for ONNX Runtime (no device or no CUDA libraries): the CPU serves")
    return "cpu"
