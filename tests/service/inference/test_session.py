"""The model runner: length buckets for texts, and that they change no output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
