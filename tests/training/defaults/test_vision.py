"""The ``vision`` default model's graph: one trunk pass, ImageNet head + ConSE, exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from contract.manifest import MODEL_FILE, read_manifest
from training.data.photos import SAMPLE_PHOTOS
from training.defaults import vision as vision_mod
from training.export import export_model
from training.towers.conse import ConSE
from training.towers.efficientnet_lite import EfficientNetLite0


def _random_vision_model() -> vision_mod.VisionModel:
    torch.manual_seed(0)
    table = torch.nn.functional.normalize(torch.randn(1000, 384), dim=-1)
    return vision_mod.VisionModel(EfficientNetLite0(), ConSE(table, top_t=vision_mod.TOP_T)).eval()


def test_forward_gives_probabilities_and_unit_embeddings():
    with torch.no_grad():
        out = _random_vision_model()(torch.randn(2, 3, 224, 224))
    assert out["imagenet"].shape == (2, 1000)
    assert torch.allclose(out["imagenet"].sum(-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(out["embedding"].norm(dim=-1), torch.ones(2), atol=1e-5)


def test_manifest_image_input_is_the_lite_preprocessing():
    spec = vision_mod.image_input()
    assert spec.size == (224, 224) and spec.resize == 256 and spec.crop == "center"
    assert spec.interpolation == "bicubic"
    assert spec.mean == (127.0, 127.0, 127.0) and spec.std == (128.0, 128.0, 128.0)


def test_random_vision_model_exports_and_evaluates(tmp_path: Path):
    labels = [f"class {i}" for i in range(1000)]
    manifest = export_model(
        _random_vision_model(),
        vision_mod._photo_tensor(["chelsea", "coffee"]),
        models_dir=tmp_path,
        name="vision",
        kind="multitask",
        inputs=[vision_mod.image_input()],
        outputs=vision_mod._outputs(labels),
        check_example=vision_mod._photo_tensor(["rocket", "china", "flower"]),
    )
    assert max(manifest.parity.values()) <= 1e-4
    folder = tmp_path / "vision" / "1"
    assert read_manifest(folder).output("embedding").space == "semantic"
    queries = np.eye(len(SAMPLE_PHOTOS), 384, dtype=np.float32)
    metrics, similarity = vision_mod.evaluate_onnx(folder / MODEL_FILE, labels, queries)
    assert set(metrics["sample_photos"]) == {p.name for p in SAMPLE_PHOTOS}
    assert metrics["top1_correct"] == "0/5"  # random weights cannot name the photos
    assert similarity.shape == (len(SAMPLE_PHOTOS), len(SAMPLE_PHOTOS))
