"""``fit`` with the pretrained-tower configs (MiniLM, EfficientNet-Lite0, LiT) on shapes-world
JSONL data: each exported model is served unchanged by the service, and LiT retrieval works."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

from contract.manifest import read_manifest, verify_files
from service.app import create_app
from service.settings import Settings
from training.cli import main
from training.methods.config import CONFIG_DIR, load_config
from training.methods.jsonl import load_jsonl
from training.shapes.datasets import ShapesSpec, generate
from training.shapes.jsonl import write_jsonl
from training.towers.minilm import MiniLMEncoder, embed_texts, load_tokenizer

pytestmark = pytest.mark.slow

MINILM_VOCAB = 30522


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 one-object scenes with captions (and shape / colour / size labels) as JSONL."""
    examples = generate(ShapesSpec("objects", "train", 200, 64, seed=3))
    return write_jsonl(examples, tmp_path_factory.mktemp("shapes"))


def _small(data: Path, n: int, out: Path) -> Path:
    """The first ``n`` lines of ``data``, beside the same images."""
    out.write_text("".join(data.read_text().splitlines(keepends=True)[:n]))
    return out


def _fit(config: str, data: Path, models: Path, name: str, epochs: int = 1) -> None:
    args = ["fit", "--config", config, "--data", str(data), "--models-dir", str(models)]
    assert main([*args, "--name", name, "--epochs", str(epochs)]) == 0


@contextmanager
def _serve(models: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(model_dir=models, providers="cpu", gallery_data_dir=tmp_path / "gallery")
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(app.state.engine.wait_loaded, 120)
        yield client


def _b64(data: Path, line: dict[str, str]) -> str:
    return base64.b64encode((data.parent / line["image"]).read_bytes()).decode()


def _lines(data: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in data.read_text().splitlines()]


def _check_text_model(version: Path) -> None:
    """MiniLM's tokenizer ships beside the model and the manifest says how to use it."""
    manifest = read_manifest(version)
    verify_files(manifest, version)
    text = next(spec for spec in manifest.inputs if spec.role == "text")
    assert (text.max_length, text.tokenizer) == (256, "tokenizer.json")
    assert {spec.role for spec in manifest.inputs} <= {"image", "text", "attention_mask"}
    assert Tokenizer.from_file(str(version / text.tokenizer)).get_vocab_size() == MINILM_VOCAB
    assert manifest.training["config"]["text"]["kind"] == "minilm"


@pytest.mark.parametrize("config", ["fusion_minilm", "fusion_minilm_finetune"])
def test_fusion_with_minilm_is_served_by_classify(
    config: str, shapes: Path, tmp_path: Path
) -> None:
    data, models = _small(shapes, 24, shapes.parent / f"{config}.jsonl"), tmp_path / "models"
    _fit(config, data, models, "fused")
    _check_text_model(models / "fused" / "1")
    line = _lines(data)[0]
    item = {"image": _b64(data, line), "text": line["text"]}
    with _serve(models, tmp_path) as client:
        response = client.post("/v1/classify", json={"model": "fused", "items": [item]})
    assert response.status_code == 200, response.text
    heads = response.json()["results"][0]["heads"]
    assert set(heads) == {"shape", "color", "size"}
    for head in heads.values():
        assert sum(label["score"] for label in head["labels"]) <= 1.0 + 1e-5


@pytest.mark.parametrize(("config", "dim"), [("alignment_minilm", 256), ("lit_text_locked", 384)])
def test_alignment_with_minilm_is_served_by_embed(
    config: str, dim: int, shapes: Path, tmp_path: Path
) -> None:
    data, models = _small(shapes, 24, shapes.parent / f"{config}.jsonl"), tmp_path / "models"
    _fit(config, data, models, "pairs")
    _check_text_model(models / "pairs-text" / "1")
    line = _lines(data)[0]
    inputs = [{"type": "text", "text": line["text"]}, {"type": "image", "image": _b64(data, line)}]
    with _serve(models, tmp_path) as client:
        response = client.post("/v1/embed", json={"space": "pairs", "inputs": inputs})
    assert response.status_code == 200, response.text
    text, image = response.json()["embeddings"]
    assert (text["model"], image["model"]) == ("pairs-text", "pairs-image")
    assert text["dim"] == image["dim"] == dim
    if config == "lit_text_locked":  # the locked text side is all-MiniLM-L6-v2 itself
        expected = embed_texts(MiniLMEncoder.pretrained(), load_tokenizer(), [line["text"]])
        assert torch.allclose(torch.tensor(text["vector"]), expected[0], atol=1e-4)


def test_lit_with_the_image_tower_locked_retrieves_the_matching_caption(
    shapes: Path, tmp_path: Path
) -> None:
    """LiT on 200 shapes scenes: held-out images find their own caption over HTTP."""
    config = load_config("lit_image_locked")
    assert config.image.locked and config.text.trainable_layers > 0
    # The named config, with a batch small enough for several steps on 160 training pairs.
    body = json.loads((CONFIG_DIR / "lit_image_locked.json").read_text())
    custom = tmp_path / "lit.json"
    custom.write_text(json.dumps({**body, "train": {**body["train"], "batch_size": 32}}))
    models = tmp_path / "models"
    _fit(str(custom), shapes, models, "lit", epochs=2)
    _check_text_model(models / "lit-text" / "1")
    manifest = read_manifest(models / "lit-image" / "1")
    assert manifest.outputs[0].shape == ["batch", 1280]  # the locked tower's own features
    chance = 5 / manifest.metrics["examples"]
    assert manifest.metrics["text_to_image_recall@5"] > 3 * chance
    held = _held_out_with_distinct_captions(shapes)[:8]
    captions = [{"type": "text", "text": x["text"]} for x in held]
    ranks = []
    with _serve(models, tmp_path) as client:
        for i, line in enumerate(held):
            query = {"type": "image", "image": _b64(shapes, line)}
            request = {"space": "lit", "query": query, "candidates": captions}
            response = client.post("/v1/rank", json=request)
            assert response.status_code == 200, response.text
            order = [r["index"] for r in response.json()["results"]]
            ranks.append(order.index(i) + 1)
    assert np.mean(ranks) < 3.0, ranks  # chance: 4.5 of 8


def _held_out_with_distinct_captions(data: Path) -> list[dict[str, str]]:
    """Lines of the fifth ``fit`` held out (the JSONL loader's split), one per caption."""
    _train, held = load_jsonl(data, 8)
    texts = set(held.texts or [])
    lines: dict[str, dict[str, str]] = {}
    for line in _lines(data):
        if line["text"] in texts:
            lines.setdefault(line["text"], line)
    return list(lines.values())
