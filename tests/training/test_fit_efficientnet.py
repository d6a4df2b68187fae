"""``fit`` with each EfficientNet-Lite0 config: the exported model is served, unchanged, over HTTP.

The configs are the shipped ones (224-pixel tower with its ImageNet weights), trained for one
epoch on a few synthetic pictures; the manifest records what trained, and the service (no
torch) classifies a posted PNG with both heads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contract.manifest import read_manifest
from service.app import create_app
from service.settings import Settings
from tests.service.media import b64, png
from tests.training.test_fit import _write_dataset
from training.cli import main


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "blocks"),
    [
        ("hard_sharing_efficientnet", 0),
        ("hard_sharing_efficientnet_finetune", 2),
        ("soft_sharing_efficientnet_finetune", 2),
    ],
)
def test_fit_with_a_pretrained_tower_config_is_served(
    config: str, blocks: int, tmp_path: Path
) -> None:
    data = _write_dataset(tmp_path, n=20)
    models = tmp_path / "models"
    argv = ["fit", "--config", config, "--data", str(data), "--models-dir", str(models),
            "--name", "eff", "--epochs", "1"]  # fmt: skip
    assert main(argv) == 0
    manifest = read_manifest(models / "eff" / "1")
    (image,) = manifest.inputs
    assert image.shape == ["batch", 3, 224, 224]  # the tower's size, not the small CNN's 64
    towers = manifest.training["towers"]
    assert {t["trainable_blocks"] for t in towers} == {blocks}
    assert len(towers) == (2 if config.startswith("soft") else 1)
    assert (towers[0]["trained_parameters"] > 0) == (blocks > 0)
    assert manifest.training["tower_lr"] == pytest.approx(3e-4)

    settings = Settings(model_dir=models, models=["eff"], providers="cpu",
                        gallery_data_dir=tmp_path / "gallery")  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        client.portal.call(app.state.engine.wait_loaded, 120)
        body = {"model": "eff", "items": [{"image": b64(png((220, 30, 30)))}], "top_k": 2}
        response = client.post("/v1/classify", json=body)
    assert response.status_code == 200, response.text
    heads = response.json()["results"][0]["heads"]
    assert set(heads) == {"color", "shape"}
    for head in heads.values():
        assert {x["label"] for x in head["labels"]} <= {"red", "blue", "square", "disc"}
        assert sum(x["score"] for x in head["labels"]) == pytest.approx(1.0, abs=1e-4)
