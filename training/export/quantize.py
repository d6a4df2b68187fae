"""int8 variants of an exported fp32 ONNX file: static QDQ for CNNs, dynamic MatMul for BERTs.

* :func:`quantize_static_qdq`: ONNX Runtime's ``quant_pre_process`` (shape inference and graph
  folding, so the quantizer sees fused Conv+BN), then QDQ with per-channel int8 weights and
  uint8 activations calibrated (MinMax) on real inputs. Dynamic quantization is never used on
  a CNN: it emits ``ConvInteger``, which ONNX Runtime's CPU provider runs slowly or not at all.
* :func:`quantize_dynamic_matmul`: optionally the transformer optimizer first (fuses attention,
  embedding LayerNorm and GELU; not the residual Add into LayerNorm, ``contract.cpu``), then
  int8 weights for every ``MatMul`` (and, optionally, the fused ``Attention``'s input
  projection) with activations quantized per call, so no calibration set is needed.

Both write ``out`` and return how they did it (recorded beside the variant in the manifest).
Whether the result may be installed is the gate's decision (``training.export.variants``).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from contract.cpu import CPU_DISABLED_OPTIMIZERS

log = logging.getLogger(__name__)


class _Batches(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
    """Feeds the calibration samples one at a time (MinMax keeps only running extremes)."""

    def __init__(self, input_name: str, samples: np.ndarray) -> None:
        self._rows: Iterator[np.ndarray] = iter(samples)
        self._name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        row = next(self._rows, None)
        return None if row is None else {self._name: row[None]}


def quantize_static_qdq(
    fp32: Path,
    out: Path,
    input_name: str,
    calibration: np.ndarray,
    *,
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """Static QDQ int8 of ``fp32`` into ``out``, calibrated on ``calibration`` ``(N, ...)``.

    ``exclude`` names nodes (of the pre-processed graph) that stay fp32.
    """
    with tempfile.TemporaryDirectory(prefix="quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Batches(input_name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=list(exclude),
        )
    return {
        "method": "static QDQ (onnxruntime.quantization), quant_pre_process first",
        "weights": "int8 per channel",
        "activations": "uint8 per tensor, MinMax calibration",
        "calibration_samples": len(calibration),
        "fp32_nodes": sorted(exclude),
    }


def quantize_dynamic_matmul(
    fp32: Path,
    out: Path,
    *,
    num_heads: int,
    hidden_size: int,
    keep_fp32: str | None = None,
    optimize: bool = True,
    attention: bool = False,
) -> dict[str, Any]:
    """Dynamic int8 of the MatMuls of a BERT-like ``fp32`` into ``out``.

    Weights are int8 per output channel: per tensor, a few outlier columns of MiniLM's
    feed-forward weights set the scale for all and the sentence embedding drifts (median cosine
    0.961 against fp32 on the held-out sentences; 0.994 per channel). Nodes whose name contains
    ``keep_fp32`` stay fp32.

    ``attention`` also quantizes the optimizer's fused ``Attention`` (``QAttention``): its
    query/key/value projection is a quarter of each layer's weights, and left fp32 it was 44% of
    the int8 graph's kernel time (MiniLM, 8 sentences of 24 tokens, one thread, Intel Xeon with
    AMX: 19.0 ms a batch with it fp32, 13.7 ms quantized; 2026-12-07).
    """
    with tempfile.TemporaryDirectory(prefix="quant-") as tmp:
        source = fp32
        if optimize:
            from onnxruntime.transformers.fusion_options import FusionOptions
            from onnxruntime.transformers.optimizer import optimize_model

            source = Path(tmp) / "optimized.onnx"
            fusions = FusionOptions("bert")
            # Add + LayerNormalization stay unfused: ONNX Runtime's CPU SkipLayerNormalization
            # is the slower kernel (contract.cpu.CPU_DISABLED_OPTIMIZERS)
            fusions.enable_skip_layer_norm = False
            optimized = optimize_model(
                str(fp32),
                model_type="bert",
                num_heads=num_heads,
                hidden_size=hidden_size,
                optimization_options=fusions,
            )
            optimized.save_model_to_file(str(source))
        nodes = onnx.load(str(source), load_external_data=False).graph.node
        kept = sorted(n.name for n in nodes if keep_fp32 and keep_fp32 in n.name)
        quantize_dynamic(
            str(source),
            str(out),
            op_types_to_quantize=["MatMul", "Attention"] if attention else ["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=kept,
            # the fused ops (com.microsoft domain) defeat ONNX shape inference: say it is float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    onnx.checker.check_model(str(out))
    return {
        "method": "dynamic int8 (onnxruntime.quantization.quantize_dynamic) of MatMul"
        + (" and Attention" if attention else "")
        + (", after the BERT graph optimizer" if optimize else ""),
        "weights": "int8 per channel",
        "activations": "uint8, quantized per call",
        "fp32_nodes": kept,
    }


def cpu_session(path: Path, options: ort.SessionOptions | None = None) -> ort.InferenceSession:
    """``path`` on ONNX Runtime's CPU provider, opened as the service opens it on a CPU."""
    return ort.InferenceSession(
        str(path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS),
    )


def ms_per_item(path: Path, items: dict[str, np.ndarray], *, threads: int = 1) -> float:
    """Median milliseconds of one batch-1 run of ``path`` over the rows of ``items``.

    A rough figure recorded beside the gate (the machine may be busy); one warm-up run first.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = cpu_session(path, options)
    rows = len(next(iter(items.values())))
    feeds = [{name: array[k : k + 1] for name, array in items.items()} for k in range(rows)]
    session.run(None, feeds[0])
    times = []
    for feed in feeds:
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return round(1000.0 * float(np.median(times)), 2)
