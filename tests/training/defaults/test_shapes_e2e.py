"""End to end on the built shapes models (``make models``): ONNX Runtime on fresh held-out data.

Each model is run exactly as the service would (preprocessing from its manifest, its own
tokenizer.json) on held-out scenes drawn with a seed the build never used; accuracy and
recall must stay near what the manifest reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from contract.manifest import Manifest, read_manifest, verify_files
from tests.training.defaults.built import latest_version_dir
from training.methods.retrieval import bidirectional_recall
from training.shapes.datasets import ShapesSpec, generate

pytestmark = pytest.mark.e2e

FRESH_SEED = 1234  # never used by the build (seed 0)
N = 600


def _load(name: str) -> tuple[Manifest, Path, ort.InferenceSession]:
    version_dir = latest_version_dir(name)
    manifest = read_manifest(version_dir)
    verify_files(manifest, version_dir)
    session = ort.InferenceSession(
        str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return manifest, version_dir, session


def _feed(
    manifest: Manifest, version_dir: Path, images: np.ndarray | None, texts: list[str] | None
) -> dict[str, np.ndarray]:
    feed: dict[str, np.ndarray] = {}
    for spec in manifest.inputs:
        if spec.role == "image":
            assert images is not None and tuple(spec.size) == images.shape[1:3]
            x = images.astype(np.float32).transpose(0, 3, 1, 2)
            mean = np.array(spec.mean, np.float32)[None, :, None, None]
            std = np.array(spec.std, np.float32)[None, :, None, None]
            feed[spec.name] = (x - mean) / std
        elif spec.role == "text":
            assert texts is not None
            tok = Tokenizer.from_file(str(version_dir / spec.tokenizer))
            rows = [tok.encode(t.lower()).ids[: spec.max_length] for t in texts]
            width = max(map(len, rows))
            feed[spec.name] = np.array([r + [0] * (width - len(r)) for r in rows], np.int64)
    for spec in manifest.inputs:
        if spec.role == "attention_mask":
            text_name = next(s.name for s in manifest.inputs if s.role == "text")
            feed[spec.name] = (feed[text_name] != 0).astype(np.int64)
    return feed


def _accuracy(name: str, task: str) -> tuple[dict[str, float], Manifest]:
    manifest, version_dir, session = _load(name)
    examples = generate(ShapesSpec(task, "heldout", N, seed=FRESH_SEED))
    outputs = session.run(None, _feed(manifest, version_dir, examples.images, examples.texts))
    acc = {}
    for spec, probs in zip(manifest.outputs, outputs, strict=True):
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
        acc[spec.name] = float((probs.argmax(1) == examples.labels[spec.name]).mean())
    return acc, manifest


def test_shapes_multitask_meets_its_targets_on_fresh_heldout_scenes() -> None:
    acc, manifest = _accuracy("shapes-multitask", "objects")
    assert manifest.metrics["split"] == "heldout"
    assert manifest.metrics["shape_accuracy"] >= 0.95
    assert manifest.metrics["color_accuracy"] >= 0.98
    assert acc["shape"] >= 0.93 and acc["color"] >= 0.97, acc


def test_shapes_multitask_soft_answers_both_tasks() -> None:
    acc, _ = _accuracy("shapes-multitask-soft", "objects")
    assert acc["shape"] >= 0.85 and acc["color"] >= 0.95, acc


def test_shapes_fusion_meets_its_target_on_fresh_heldout_scenes() -> None:
    acc, manifest = _accuracy("shapes-fusion", "attribute")
    assert manifest.metrics["answer_accuracy"] >= 0.95  # 17 answers: chance is about 0.06
    assert acc["answer"] >= 0.93, acc


def test_shapes_vqa_binds_colour_to_shape_on_fresh_heldout_scenes() -> None:
    acc, manifest = _accuracy("shapes-vqa", "binding")
    assert manifest.metrics["answer_accuracy"] >= 0.85  # 10 shapes: chance is 0.1
    assert acc["answer"] >= 0.82, acc


def test_shapes_alignment_towers_share_a_space_and_retrieve() -> None:
    img_manifest, img_dir, img_session = _load("shapes-align-image")
    txt_manifest, txt_dir, txt_session = _load("shapes-align-text")
    assert img_manifest.outputs[0].space == txt_manifest.outputs[0].space == "shapes"
    examples = generate(ShapesSpec("objects", "heldout", N, seed=FRESH_SEED))
    (img,) = img_session.run(None, _feed(img_manifest, img_dir, examples.images, None))
    (txt,) = txt_session.run(None, _feed(txt_manifest, txt_dir, None, examples.texts))
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-4)
    recall = bidirectional_recall(img, txt, examples.keys or [])
    assert img_manifest.metrics["image_to_text_recall@1"] >= 0.90
    assert img_manifest.metrics["text_to_image_recall@1"] >= 0.90
    assert recall["image_to_text_recall@1"] >= 0.85, recall
    assert recall["text_to_image_recall@1"] >= 0.85, recall
