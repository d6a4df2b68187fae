"""Every architecture exports to ONNX with dynamic batch (and sequence) axes and matches PyTorch.

Tiny random models, exported with the real exporter, then run by ONNX Runtime at two batch
sizes and two sequence lengths; outputs must agree with PyTorch within 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from contract.manifest import read_manifest
from training.export import export_model
from training.export.specs import embedding_output, softmax_outputs
from training.methods.alignment import AlignmentModel, ImageTower, TextTower
from training.methods.build import build_model
from training.methods.config import FitConfig, ImageEncoderConfig, TextEncoderConfig
from training.methods.data import Normalisation
from training.methods.encoders import LSTMTextEncoder
from training.methods.exporting import image_input, text_inputs
from training.methods.tokenizer import build_tokenizer

SIZE, VOCAB = 16, 12
TINY = FitConfig(
    image=ImageEncoderConfig(image_size=SIZE, widths=(4, 8)),
    text=TextEncoderConfig(embed_dim=6, hidden=8),
    fusion_hidden=16,
    attention_dim=8,
    attention_heads=2,
    embed_dim=8,
)
CLASSES = {"shape": [f"s{i}" for i in range(4)], "color": ["r", "g", "b"]}


def _inputs(batch: int, seq: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=g)
    lengths[0] = seq  # at least one row fills the padded width
    mask = (torch.arange(seq)[None, :] < lengths[:, None]).long()  # right-padded
    ids = torch.randint(2, VOCAB, (batch, seq), generator=g) * mask
    return {
        "image": torch.randn(batch, 3, SIZE, SIZE, generator=g),
        "input_ids": ids,
        "attention_mask": mask,
    }


def _model(method: str, fusion: str = "concat") -> torch.nn.Module:
    torch.manual_seed(0)
    tasks = {"answer": 4} if method == "fusion" else {t: len(c) for t, c in CLASSES.items()}
    return build_model(TINY.replace(method=method, fusion=fusion), tasks, VOCAB).eval()


def _export_and_compare(
    module: torch.nn.Module, names: list[str], tmp_path: Path, inputs: list, outputs: list
) -> None:
    example = {n: t for n, t in _inputs(2, 5, 0).items() if n in names}
    check = {n: t for n, t in _inputs(3, 7, 1).items() if n in names}
    extra = {}
    if "input_ids" in names:
        extra["tokenizer.json"] = tmp_path / "tokenizer.json"
        build_tokenizer(["a b c"]).save(str(extra["tokenizer.json"]))
    export_model(
        module,
        example,
        models_dir=tmp_path,
        name="tiny",
        kind="multitask",
        inputs=inputs,
        outputs=outputs,
        check_example=check,
        extra_files=extra,
    )
    version = tmp_path / "tiny" / "1"
    assert max(read_manifest(version).parity.values()) <= 1e-4
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch, seq in [(1, 3), (5, 4), (4, 11)]:
        feed = {n: t for n, t in _inputs(batch, seq, batch * 7 + seq).items() if n in names}
        got = session.run(None, {n: t.numpy() for n, t in feed.items()})
        with torch.inference_mode():
            want = module(*(feed[n] for n in names))
        for spec, value in zip(outputs, got, strict=True):
            assert value.shape[0] == batch
            np.testing.assert_allclose(value, want[spec.name].numpy(), atol=1e-4, rtol=0)


NORM = Normalisation()


@pytest.mark.parametrize("method", ["hard_sharing", "soft_sharing"])
def test_multitask_models_export(method: str, tmp_path: Path) -> None:
    _export_and_compare(
        _model(method), ["image"], tmp_path, [image_input(SIZE, NORM)], softmax_outputs(CLASSES)
    )


@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_fusion_models_export_with_dynamic_batch_and_sequence(fusion: str, tmp_path: Path) -> None:
    model = _model("fusion", fusion)
    _export_and_compare(
        model,
        ["image", "input_ids", "attention_mask"],
        tmp_path,
        [image_input(SIZE, NORM), *text_inputs(16)],
        softmax_outputs({"answer": ["a", "b", "c", "d"]}),
    )


def test_alignment_towers_export(tmp_path: Path) -> None:
    model = _model("alignment")
    assert isinstance(model, AlignmentModel)
    out = [embedding_output(8, "tiny-space")]
    (tmp_path / "img").mkdir()
    (tmp_path / "txt").mkdir()
    _export_and_compare(
        ImageTower(model).eval(), ["image"], tmp_path / "img", [image_input(SIZE, NORM)], out
    )
    _export_and_compare(
        TextTower(model).eval(),
        ["input_ids", "attention_mask"],
        tmp_path / "txt",
        text_inputs(16),
        out,
    )


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_lstm_vector_ignores_right_padding(pooling: str) -> None:
    torch.manual_seed(0)
    encoder = LSTMTextEncoder(
        VOCAB, TextEncoderConfig(embed_dim=6, hidden=8, pooling=pooling)
    ).eval()
    ids = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0, 0]])
    with torch.inference_mode():
        short = encoder(ids, torch.ones_like(ids))
        long = encoder(padded, (padded > 0).long())
    torch.testing.assert_close(short, long, atol=1e-6, rtol=0)


def test_exported_embeddings_are_unit_vectors_and_softmax_sums_to_one() -> None:
    batch = _inputs(3, 5, 2)
    with torch.inference_mode():
        emb = TextTower(_model("alignment"))(batch["input_ids"], batch["attention_mask"])
        probs = _model("hard_sharing")(batch["image"])
    torch.testing.assert_close(emb["embedding"].norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(probs["shape"].sum(-1), torch.ones(3))


def test_hard_sharing_on_the_efficientnet_tower_exports(tmp_path: Path) -> None:
    config = TINY.replace(
        method="hard_sharing",
        image=ImageEncoderConfig(
            kind="efficientnet_lite0", image_size=32, pretrained=False, frozen=True
        ),
    )
    torch.manual_seed(0)
    model = build_model(config, {"shape": 4}).eval()
    image = torch.randn(2, 3, 32, 32)
    export_model(
        model,
        {"image": image},
        models_dir=tmp_path,
        name="eff",
        kind="multitask",
        inputs=[image_input(32, NORM)],
        outputs=softmax_outputs({"shape": CLASSES["shape"]}),
        check_example={"image": torch.randn(3, 3, 32, 32)},
    )
    assert max(read_manifest(tmp_path / "eff" / "1").parity.values()) <= 1e-4
