"""Export a PyTorch model into the model repository: export, check, compare, evaluate, install.

Follows timm's ``utils/onnx.py`` and Optimum's ``validate_model_outputs``: nothing lands in
``models/`` until ``onnx.checker`` passes and ONNX Runtime agrees with PyTorch (max abs
difference within ``atol``) on the example batch and on a second batch of another size, which
also proves that the dynamic axes really are dynamic (pytorch#148886). The caller's evaluation,
variant and report hooks run on the staged directory too, so an installed version is never
rewritten; a lower-precision variant (``training.export.variants``) lands beside ``model.onnx``
only when it passed its gate against the fp32 file.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from contract.layout import MODEL_FILE, next_version, version_dir
from contract.manifest import (
    InputSpec,
    Manifest,
    OutputSpec,
    sha256_file,
    verify_files,
    write_manifest,
)
from training.export.pad_fusion import fuse_pads
from training.export.staging import install, staged_version
from training.export.variants import MakeVariants, keep_passing
from training.versions import VersionTakenError

log = logging.getLogger(__name__)

OPSET = 17


_REPLACE_HINT = "leave the version out for the next free one, or write over it on purpose (--force)"


class ExportError(RuntimeError):
    """The exported graph is invalid or disagrees with PyTorch; nothing was installed."""


class _TupleOutputs(nn.Module):
    """Present a dict-returning model to the exporter as a tuple in manifest output order."""

    def __init__(self, model: nn.Module, output_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.output_names = output_names

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(*args)
        missing = [n for n in self.output_names if n not in out]
        if missing:
            raise ExportError(
                f"forward() did not return outputs {missing}; it returned {list(out)}"
            )
        return tuple(out[n] for n in self.output_names)


def _dynamic_axes(specs: list[Any]) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for spec in specs:
        dyn = {
            i: (d if isinstance(d, str) else f"{spec.name}_dim{i}")
            for i, d in enumerate(spec.shape)
            if isinstance(d, str) or d == -1
        }
        if dyn:
            axes[spec.name] = dyn
    return axes


def _ordered(
    example: Mapping[str, torch.Tensor], inputs: list[InputSpec]
) -> tuple[torch.Tensor, ...]:
    names = [i.name for i in inputs]
    if set(example) != set(names):
        raise ExportError(f"example inputs {sorted(example)} do not match manifest inputs {names}")
    return tuple(example[n] for n in names)


def _torch_outputs(model: nn.Module, args: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.detach().cpu().numpy() for t in model(*args)]


def _compare(
    session: ort.InferenceSession,
    wrapped: nn.Module,
    args: tuple[torch.Tensor, ...],
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
) -> dict[str, float]:
    feed = {spec.name: t.cpu().numpy() for spec, t in zip(inputs, args, strict=True)}
    got = session.run([o.name for o in outputs], feed)
    want = _torch_outputs(wrapped, args)
    diffs: dict[str, float] = {}
    for spec, g, w in zip(outputs, got, want, strict=True):
        if g.shape != w.shape:
            raise ExportError(
                f"output {spec.name!r}: ONNX shape {g.shape} != PyTorch shape {w.shape}"
            )
        diffs[spec.name] = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64))))
    return diffs


def _export_graph(
    wrapped: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
) -> None:
    # The TorchScript exporter with dynamic_axes is pinned on purpose: since torch 2.9 the
    # default dynamo path converts dynamic_axes only partially (pytorch#165748).
    torch.onnx.export(
        wrapped,
        args,
        str(path),
        input_names=[i.name for i in inputs],
        output_names=[o.name for o in outputs],
        dynamic_axes=_dynamic_axes([*inputs, *outputs]),
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    graph = onnx.load(str(path))
    if fuse_pads(graph):
        onnx.save(graph, str(path))
    onnx.checker.check_model(str(path), full_check=True)


def _check_example(example: Mapping[str, torch.Tensor]) -> None:
    for name, tensor in example.items():
        if tensor.dim() > 0 and tensor.shape[0] < 2:
            raise ExportError(
                f"example input {name!r} has batch {tensor.shape[0]}; use >= 2 "
                "so the batch axis is not specialised to a constant"
            )


Evaluate = Callable[[Path], Mapping[str, Any]]
"""Measures the staged version directory (its ``model.onnx`` and extra files, before anything is
installed) and returns metrics, merged into the manifest's ``metrics``."""

Report = Callable[[Path, Manifest], None]
"""Writes the report (``report/`` in the staged version directory) for the manifest there."""


def export_model(
    model: nn.Module,
    example: Mapping[str, torch.Tensor],
    *,
    models_dir: Path,
    name: str,
    kind: str,
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
    version: int | None = None,
    replace: bool = False,
    description: str = "",
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, Path] | None = None,
    check_example: Mapping[str, torch.Tensor] | None = None,
    evaluate: Evaluate | None = None,
    report: Report | None = None,
    variants: MakeVariants | None = None,
    atol: float = 1e-4,
) -> Manifest:
    """Export ``model`` to ``models_dir/name/version/`` and return the manifest written there.

    ``model.forward`` takes the inputs positionally in the order of ``inputs`` and returns a dict
    keyed by output names. In a staging directory beside the target: export, ``onnx.checker``,
    ONNX Runtime against PyTorch on ``example`` and ``check_example``, the ``extra_files``, then
    ``evaluate`` (its metrics join ``metrics``), ``variants`` (the ones that pass their gate are
    listed in the manifest, the others deleted; every gate's figures join ``metrics``), the
    manifest, ``report``; only then is the directory renamed into place. ``version=None`` takes
    the next free version; an existing version is written over only with ``replace=True``.

    Raises ``ExportError`` (and installs nothing) when the graph fails the checker, ONNX Runtime
    differs from PyTorch by more than ``atol`` on any output, the files do not match the manifest,
    or the version exists and ``replace`` is False.
    """
    _check_example(example)
    model.eval()
    wrapped = _TupleOutputs(model, [o.name for o in outputs]).eval()
    batches = [_ordered(example, inputs)]
    if check_example is not None:
        batches.append(_ordered(check_example, inputs))
    model_dir = Path(models_dir) / name
    target = version_dir(models_dir, name, next_version(model_dir) if version is None else version)
    version = int(target.name)
    if target.exists() and not replace:
        raise ExportError(f"{target} already exists; {_REPLACE_HINT}")
    with staged_version(model_dir, version) as staged:
        path = staged / MODEL_FILE
        _export_graph(wrapped, batches[0], path, inputs, outputs)
        parity = _checked_parity(path, wrapped, batches, inputs, outputs, name, atol)
        for filename, source in (extra_files or {}).items():
            shutil.copy2(source, staged / filename)
        measured = evaluate(staged) if evaluate is not None else {}
        built, gates = keep_passing(name, staged, variants(staged)) if variants else ([], {})
        manifest = Manifest.model_validate(
            {
                "name": name,
                "version": version,
                "kind": kind,
                "description": description,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "inputs": inputs,
                "outputs": outputs,
                "metrics": {**(metrics or {}), **measured, **gates},
                "parity": parity,
                "sha256": sha256_file(path),
                "training": dict(training or {}),
                "variants": built,
            }
        )
        _write_checked(manifest, staged)
        if report is not None:
            report(staged, manifest)
        try:
            install(staged, target, replace=replace)
        except VersionTakenError as exc:
            raise ExportError(f"{exc}; {_REPLACE_HINT}") from None
    log.info("exported %s v%d to %s (parity %s)", name, version, target, _fmt(parity))
    return manifest


def _checked_parity(
    path: Path,
    wrapped: nn.Module,
    batches: list[tuple[torch.Tensor, ...]],
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
    name: str,
    atol: float,
) -> dict[str, float]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    parity = _parity(session, wrapped, batches, inputs, outputs)
    bad = {k: v for k, v in parity.items() if not v <= atol}
    if bad:
        raise ExportError(f"{name}: ONNX Runtime differs from PyTorch by more than {atol}: {bad}")
    return parity


def _write_checked(manifest: Manifest, staged: Path) -> None:
    write_manifest(manifest, staged)
    try:
        verify_files(manifest, staged, check_location=False)
    except ValueError as exc:  # e.g. a text model exported without its tokenizer
        raise ExportError(f"{manifest.name}: {exc}") from None


def _parity(
    session: ort.InferenceSession,
    wrapped: nn.Module,
    batches: list[tuple[torch.Tensor, ...]],
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
) -> dict[str, float]:
    parity: dict[str, float] = {}
    for args in batches:
        for key, diff in _compare(session, wrapped, args, inputs, outputs).items():
            parity[key] = max(parity.get(key, 0.0), diff)
    return parity


def _fmt(parity: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.2e}" for k, v in parity.items())
