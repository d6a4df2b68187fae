"""One ONNX Runtime session per model: session options, batch collation and splitting.

Per-item inputs are ``dict[input name -> array without the batch axis]``. A batch is collated by
stacking; sequence inputs of different lengths are padded to the longest item of that batch.
Results are split back into one ``dict[output name -> array]`` per item, after checking that
every output has exactly one row per item.

A batch of texts of very different lengths is first sorted by length and cut into buckets of
similar length, one ``session.run`` each, so that a short sentence is not padded to the length
of a long one (a transformer's cost grows with the padded length, padding included).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from contract.cpu import CPU_DISABLED_OPTIMIZERS
from contract.manifest import Manifest
from service.errors import InferenceError, InvalidInputError
from service.inference.providers import CUDA, requested_providers, resolve_mode

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger(__name__)

Inputs = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]

_GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
# A new bucket starts at the first item (longest first) shorter than this share of the bucket's
# longest: each item is padded to at most ~1.4x its own length. Measured on the text model with
# batches of 32 test-split corpus sentences (median 23 tokens, max 65), 2 threads, load ~11:
# 945 ms a batch unbucketed, 578 ms at 0.5, 493 ms at 0.7; one more session.run costs far less.
BUCKET_RATIO = 0.7
MIN_BUCKET = 4  # items; smaller groups are kept with their neighbours (one call each is waste)
_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "int64": np.dtype(np.int64),
}


@dataclass(frozen=True)
class SessionConfig:
    """How sessions are created (see ``Settings`` for each field; no defaults of its own)."""

    providers: str  # auto | cpu | cuda
    intra_op_threads: int
    inter_op_threads: int
    graph_optimization: str
    spinning: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionConfig:
        """The session options of ``settings``: the one mapping the service and the bench share."""
        return cls(
            providers=settings.providers,
            intra_op_threads=settings.intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
            graph_optimization=settings.graph_optimization,
            spinning=settings.ort_spinning,
        )

    def resolved(self) -> SessionConfig:
        """This config with ``auto`` replaced by what works here (one quiet probe, one log line)."""
        return dataclasses.replace(self, providers=resolve_mode(self.providers))


def create_session(model_path: Path, config: SessionConfig) -> ort.InferenceSession:
    """Create an ``InferenceSession`` with the configured threads, optimisation and providers.

    Pass a ``resolved()`` config: ``auto`` asks for the CPU alone here.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = _GRAPH_LEVELS[config.graph_optimization]
    # Spinning keeps idle ORT threads busy-waiting between ops: a little lower latency on a
    # dedicated machine, but it steals the cores that decoding and HTTP need on a small one.
    spin = "1" if config.spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    cpu_only = config.providers == "cpu"
    return ort.InferenceSession(
        str(model_path),
        sess_options=options,
        providers=requested_providers(config.providers),
        disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS) if cpu_only else None,
    )


class ModelRunner:
    """Runs batches of items through one model's session."""

    def __init__(
        self,
        manifest: Manifest,
        session: ort.InferenceSession,
        pad_values: dict[str, int] | None = None,
    ) -> None:
        self.manifest = manifest
        self.session = session
        self.providers: list[str] = list(session.get_providers())
        self._pad = pad_values or {}
        self._output_names = [o.name for o in manifest.outputs]
        # inputs with a dynamic axis after the batch axis: the ones padded, hence bucketed
        self._sequences = [i.name for i in manifest.inputs if _has_dynamic_axis(i.shape[1:])]
        _check_io(manifest, session)

    def close(self) -> None:
        """Drop the ONNX Runtime session so its memory is freed (after the last batch ran)."""
        del self.session

    def release_memory(self, item: Inputs) -> None:
        """Run ``item`` and let ONNX Runtime hand its arena's free memory back to the system.

        A run keeps the arena at the largest batch it has seen; the batch-size autotuning's
        trials grow it past what the limit it chooses needs (the int8 `vision` model: 146 MiB
        resident after a batch of 16, 78 MiB after this, 88 MiB once a batch of 4 ran again).
        """
        arenas = "cpu:0;gpu:0" if CUDA in self.providers else "cpu:0"
        options = ort.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", arenas)
        self.session.run(self._output_names, self._feeds([item]), options)

    def check_item(self, item: Inputs) -> None:
        """Raise ``InvalidInputError`` unless every input is there with its dtype and shape."""
        expected = {i.name for i in self.manifest.inputs}
        if set(item) != expected:
            raise InvalidInputError(
                f"model {self.manifest.name!r} takes inputs {sorted(expected)}, got {sorted(item)}"
            )
        for spec in self.manifest.inputs:
            _check_array(spec.name, item[spec.name], _NUMPY_DTYPES[spec.dtype], spec.shape[1:])

    def run(self, items: list[Inputs]) -> list[Outputs]:
        """Run ``items`` (in length buckets when they have sequences); one output dict per item,
        in order."""
        buckets = self.buckets(items)
        if len(buckets) == 1:
            return self._run(items)
        results: list[Outputs] = [{} for _ in items]
        for bucket in buckets:
            for index, outputs in zip(bucket, self._run([items[i] for i in bucket]), strict=True):
                results[index] = outputs
        return results

    def buckets(self, items: list[Inputs]) -> list[list[int]]:
        """Item indices grouped by sequence length, longest first (one group without sequences).

        Sorted longest first, a group ends before the first item shorter than
        ``BUCKET_RATIO`` x its longest, once it holds ``MIN_BUCKET`` items.
        """
        if not self._sequences or len(items) < 2 * MIN_BUCKET:
            return [list(range(len(items)))]
        lengths = [max(item[name].shape[0] for name in self._sequences) for item in items]
        order = sorted(range(len(items)), key=lambda i: -lengths[i])
        groups = [[order[0]]]
        for index in order[1:]:
            group = groups[-1]
            if len(group) >= MIN_BUCKET and lengths[index] < BUCKET_RATIO * lengths[group[0]]:
                groups.append([index])
            else:
                group.append(index)
        return groups

    def _run(self, items: list[Inputs]) -> list[Outputs]:
        arrays = self.session.run(self._output_names, self._feeds(items))
        results: list[Outputs] = [{} for _ in items]
        for name, array in zip(self._output_names, arrays, strict=True):
            if array.shape[:1] != (len(items),):
                raise InferenceError(
                    f"model {self.manifest.name!r} output {name!r} has shape {array.shape} "
                    f"for a batch of {len(items)}; it must have one row per item"
                )
            for result, row in zip(results, array, strict=True):
                result[name] = row
        return results

    def _feeds(self, items: list[Inputs]) -> dict[str, np.ndarray]:
        return {spec.name: self._collate(spec.name, items) for spec in self.manifest.inputs}

    def _collate(self, name: str, items: list[Inputs]) -> np.ndarray:
        arrays = [item[name] for item in items]
        shape = tuple(max(dims) for dims in zip(*(a.shape for a in arrays), strict=True))
        if all(a.shape == shape for a in arrays):
            return np.stack(arrays)
        batch = np.full((len(arrays), *shape), self._pad.get(name, 0), dtype=arrays[0].dtype)
        for row, array in zip(batch, arrays, strict=True):
            row[tuple(slice(0, n) for n in array.shape)] = array
        return batch


def _has_dynamic_axis(dims: list[int | str]) -> bool:
    return any(not isinstance(d, int) or d < 0 for d in dims)


def _check_array(name: str, array: np.ndarray, dtype: np.dtype[Any], dims: list[int | str]) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != dtype:
        got = getattr(array, "dtype", type(array).__name__)
        raise InvalidInputError(f"input {name!r} must be {dtype}, got {got}")
    if array.ndim != len(dims):
        raise InvalidInputError(
            f"input {name!r} must have {len(dims)} dimensions per item, got shape {array.shape}"
        )
    for axis, (want, got_dim) in enumerate(zip(dims, array.shape, strict=True)):
        if (isinstance(want, int) and want > 0 and got_dim != want) or got_dim == 0:
            raise InvalidInputError(
                f"input {name!r} axis {axis + 1} must be {want}, got shape {array.shape}"
            )


def _check_io(manifest: Manifest, session: ort.InferenceSession) -> None:
    """The ONNX graph's input and output names must be exactly the manifest's."""
    graph_in = {i.name for i in session.get_inputs()}
    graph_out = {o.name for o in session.get_outputs()}
    want_in = {i.name for i in manifest.inputs}
    want_out = {o.name for o in manifest.outputs}
    if graph_in != want_in or not want_out <= graph_out:
        raise ValueError(
            f"model.onnx has inputs {sorted(graph_in)} and outputs {sorted(graph_out)}, the "
            f"manifest declares inputs {sorted(want_in)} and outputs {sorted(want_out)}"
        )
