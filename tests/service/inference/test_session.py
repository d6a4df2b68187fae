"""The model runner: length buckets for texts, and that they change no output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from contract.cpu import CPU_DISABLED_OPTIMIZERS
from contract.layout import variant_file
from contract.manifest import MODEL_FILE, read_manifest
from service.inference import session as runner_module
from service.inference.prepare import Preprocessor
from service.inference.session import ModelRunner, SessionConfig, create_session
from tests.live_server import require_models
from tests.service.tiny_models import WORDS

CPU = SessionConfig(providers="cpu", intra_op_threads=1, inter_op_threads=1,
                    graph_optimization="all", spinning=False)  # fmt: skip


@pytest.fixture(scope="module")
def text_model(model_repo: Path) -> tuple[ModelRunner, Preprocessor]:
    version_dir = model_repo / "text" / "1"
    manifest = read_manifest(version_dir)
    preprocessor = Preprocessor(manifest, version_dir, max_image_pixels=10_000, max_text_chars=500)
    onnx = create_session(version_dir / MODEL_FILE, CPU)
    return ModelRunner(manifest, onnx, preprocessor.pad_values()), preprocessor


def _sentences(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = rng.choice([1, 2, 12, 14], size=count)  # short and long (max_length is 16 tokens)
    return [" ".join(rng.choice(WORDS, size=n)) for n in lengths]


def test_a_mixed_batch_runs_in_buckets_with_the_outputs_of_single_items(
    text_model: tuple[ModelRunner, Preprocessor], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, preprocessor = text_model
    items = [preprocessor.prepare(text=t) for t in _sentences(24)]
    calls: list[tuple[int, ...]] = []
    run_once = runner._run

    def counted(batch: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        calls.append(runner._collate("input_ids", batch).shape)
        return run_once(batch)

    monkeypatch.setattr(runner, "_run", counted)
    batched = runner.run(items)
    assert len(calls) == 2  # long ones padded to 16, short ones to their own longest
    assert sorted(shape[1] for shape in calls) == [4, 16]
    assert sum(shape[0] for shape in calls) == len(items)
    for item, outputs in zip(items, batched, strict=True):
        alone = run_once([item])[0]
        assert outputs.keys() == alone.keys()
        for name, value in alone.items():
            np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-6)


def test_buckets_cover_every_item_once_longest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "BUCKET_RATIO", 0.5)

    class Fake(ModelRunner):
        def __init__(self) -> None:
            self._sequences = ["ids"]

    lengths = [3, 40, 5, 38, 4, 30, 6, 2, 39, 36, 1, 20]
    items = [{"ids": np.zeros(n, dtype=np.int64)} for n in lengths]
    groups = Fake().buckets(items)
    assert sorted(i for g in groups for i in g) == list(range(len(items)))
    by_length = [[lengths[i] for i in g] for g in groups]
    assert by_length == [[40, 39, 38, 36, 30, 20], [6, 5, 4, 3], [2, 1]]
    assert Fake().buckets(items[:5]) == [[0, 1, 2, 3, 4]]  # too few to split: one call
    assert Fake().buckets([{"ids": np.zeros(n, dtype=np.int64)} for n in (9, 9, 8, 8, 7, 7, 6, 5)]
                          ) == [[0, 1, 2, 3, 4, 5, 6, 7]]  # similar lengths: one call  # fmt: skip


def test_release_memory_hands_the_arena_of_a_large_batch_back() -> None:
    """The int8 `vision` model: a batch of 16 grows the arena by tens of MiB; released after."""
    psutil = pytest.importorskip("psutil")
    version_dir = require_models() / "vision" / "1"
    manifest = read_manifest(version_dir)
    if not (version_dir / variant_file("int8")).is_file():
        pytest.skip("the int8 vision variant is not built here")
    runner = ModelRunner(manifest, create_session(version_dir / variant_file("int8"), CPU))
    item = {"image": np.zeros((3, 224, 224), np.float32)}
    resident = psutil.Process().memory_info
    runner.run([item])
    small = resident().rss
    answer = runner.run([item])[0]
    runner.run([item] * 16)
    grown = resident().rss
    runner.release_memory(item)
    released = resident().rss
    assert grown - small > 32 * 2**20  # measured: 50-51 MiB (one thread)
    assert released - small < (grown - small) / 3  # measured: 2.0-2.4 MiB left
    again = runner.run([item])[0]
    assert all(np.array_equal(again[name], answer[name]) for name in answer)


def _residual_layer_norm(path: Path) -> Path:
    """A graph ONNX Runtime fuses into SkipLayerNormalization: x + bias + skip, LayerNorm."""
    hidden = 8
    floats = onnx.TensorProto.FLOAT
    weights = [onnx.numpy_helper.from_array(np.full(hidden, v, np.float32), name)
               for name, v in (("gamma", 1.0), ("beta", 0.0), ("bias", 0.5))]  # fmt: skip
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Add", ["x", "bias"], ["biased"]),
         onnx.helper.make_node("Add", ["biased", "skip"], ["sum"]),
         onnx.helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1)],
        "residual",
        [onnx.helper.make_tensor_value_info(n, floats, [2, 3, hidden]) for n in ("x", "skip")],
        [onnx.helper.make_tensor_value_info("y", floats, [2, 3, hidden])],
        weights,
    )  # fmt: skip
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def _fused_ops(model: Path, out: Path, disabled: list[str]) -> set[str]:
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"],
                         disabled_optimizers=disabled)  # fmt: skip
    return {node.op_type for node in onnx.load(str(out)).graph.node}


def test_cpu_sessions_keep_the_residual_add_and_layer_norm_apart(tmp_path: Path) -> None:
    """The fusion that ``CPU_DISABLED_OPTIMIZERS`` names exists, and naming it stops it."""
    model = _residual_layer_norm(tmp_path / "residual.onnx")
    assert "SkipLayerNormalization" in _fused_ops(model, tmp_path / "fused.onnx", [])
    kept = _fused_ops(model, tmp_path / "kept.onnx", list(CPU_DISABLED_OPTIMIZERS))
    assert "SkipLayerNormalization" not in kept and "LayerNormalization" in kept


@pytest.mark.parametrize(("providers", "disabled"), [("cpu", True), ("cuda", False)])
def test_create_session_disables_the_cpu_fusions_on_the_cpu_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, providers: str, disabled: bool
) -> None:
    seen: dict[str, object] = {}
    real = ort.InferenceSession

    def recording(*args: object, **kwargs: object) -> ort.InferenceSession:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_module.ort, "InferenceSession", recording)
    config = dataclasses.replace(CPU, providers=providers)
    create_session(_residual_layer_norm(tmp_path / "residual.onnx"), config)
    expected = list(CPU_DISABLED_OPTIMIZERS) if disabled else None
    assert seen["disabled_optimizers"] == expected
