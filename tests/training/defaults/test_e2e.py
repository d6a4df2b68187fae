"""End to end on the built default models: the exported ONNX files, run as the service would.

Needs ``models/vision`` and ``models/text`` (``make models``; CI builds them first). Inputs are
prepared only from the manifests and the shipped ``tokenizer.json``: the same contract the
service reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from contract.layout import variant_file
from contract.manifest import MODEL_FILE, Manifest, read_manifest, verify_files
from tests.training.defaults.built import latest_version_dir
from training.data.photos import SAMPLE_PHOTOS, sample_batch

pytestmark = pytest.mark.e2e


def _load(name: str) -> tuple[Manifest, ort.InferenceSession, Path]:
    folder = latest_version_dir(name)
    manifest = read_manifest(folder)
    verify_files(manifest, folder)
    session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
    return manifest, session, folder


@pytest.fixture(scope="module")
def vision() -> tuple[Manifest, ort.InferenceSession, Path]:
    return _load("vision")


@pytest.fixture(scope="module")
def text() -> tuple[Manifest, ort.InferenceSession, Path]:
    return _load("text")


def _run_text(text: tuple[Manifest, ort.InferenceSession, Path], texts: list[str]) -> dict:
    manifest, session, folder = text
    spec = manifest.input("text")
    tokenizer = Tokenizer.from_file(str(folder / spec.tokenizer))
    tokenizer.enable_truncation(max_length=spec.max_length)
    tokenizer.enable_padding(pad_id=0)
    encoded = tokenizer.encode_batch([t.lower() if spec.lowercase else t for t in texts])
    by_role = {
        "text": [e.ids for e in encoded],
        "attention_mask": [e.attention_mask for e in encoded],
        "token_type_ids": [e.type_ids for e in encoded],
    }
    feed = {i.name: np.asarray(by_role[i.role], dtype=np.int64) for i in manifest.inputs}
    names = [o.name for o in manifest.outputs]
    return dict(zip(names, session.run(names, feed), strict=True))


def _run_vision(vision: tuple[Manifest, ort.InferenceSession, Path]) -> dict:
    manifest, session, _ = vision
    spec = manifest.input("image")
    names = [o.name for o in manifest.outputs]
    return dict(zip(names, session.run(names, {spec.name: sample_batch(spec)}), strict=True))


def test_sample_photos_get_their_imagenet_labels(vision):
    labels = vision[0].output("imagenet").labels
    probs = _run_vision(vision)["imagenet"]
    for photo, row in zip(SAMPLE_PHOTOS, probs, strict=True):
        if photo.labels:
            assert labels[int(row.argmax())] in photo.labels, photo.name


def test_queries_find_their_photo_across_modalities(vision, text):
    assert vision[0].output("embedding").space == text[0].output("embedding").space == "semantic"
    images = _run_vision(vision)["embedding"]
    queries = _run_text(text, [p.query for p in SAMPLE_PHOTOS])["embedding"]
    first = (queries @ images.T).argmax(axis=1)
    hits = [p.name for k, p in enumerate(SAMPLE_PHOTOS) if first[k] == k]
    assert len(hits) >= 8, f"only {hits} ranked their photo first"
    assert hits[:3] == ["chelsea", "coffee", "rocket"]


def test_text_heads_read_obvious_sentiment(text):
    out = _run_text(
        text,
        ["I love this, it is wonderful!", "This is awful, I hate it.", "The meeting is at noon."],
    )
    classes = text[0].output("sentiment").labels
    predicted = [classes[int(k)] for k in out["sentiment"].argmax(axis=1)]
    assert predicted[:2] == ["positive", "negative"]
    assert out["valence"][0] > 1.0 and out["valence"][1] < -1.0
    assert np.allclose(np.linalg.norm(out["embedding"], axis=1), 1.0, atol=1e-4)


def test_text_model_handles_one_item_and_the_longest_input(text):
    one = _run_text(text, ["ok"])
    long = _run_text(text, ["word " * 1000])  # truncated to max_length by the tokenizer
    assert one["embedding"].shape == (1, 384) and long["embedding"].shape == (1, 384)


def test_text_manifest_records_the_vader_comparison(text):
    report = text[0].metrics["sentiment_vs_vader"]
    assert "test" in report["split"]
    assert set(report["corpora"]) == {"tweets", "movie", "amazon", "nyt"}
    if not text[0].training.get("quick"):
        # The floor a build must keep (the target, F1 above VADER on tweets too, is
        # recorded per corpus as `target_met` and not reached yet: see the README's table).
        rows = report["corpora"]
        for corpus in ("movie", "amazon", "nyt"):
            ours, vader = rows[corpus]["model"], rows[corpus]["vader"]
            assert ours["pearson_r"] > vader["pearson_r"], (corpus, rows[corpus])
            assert ours["f1_weighted"] > vader["f1_weighted"], (corpus, rows[corpus])
        tweets = rows["tweets"]
        assert tweets["model"]["pearson_r"] >= tweets["vader"]["pearson_r"] - 0.03, tweets
    assert (latest_version_dir("text") / "report" / "metrics.json").is_file()


def test_the_text_int8_file_keeps_the_residual_add_and_layer_norm_apart(text):
    """The build leaves SkipLayerNormalization out (``contract.cpu.CPU_DISABLED_OPTIMIZERS``)."""
    if not any(v.precision == "int8" for v in text[0].variants):
        pytest.skip("this build installed no int8 text variant")
    ops = [n.op_type for n in onnx.load(str(text[2] / variant_file("int8"))).graph.node]
    assert "SkipLayerNormalization" not in ops
    assert ops.count("LayerNormalization") == 12  # two per MiniLM layer
    assert "QAttention" in ops or "DynamicQuantizeLinear" in ops  # and still quantized
