"""The ``text`` default model: three heads on one MiniLM pass, exported."""

from __future__ import annotations

from pathlib import Path

import torch

from contract.manifest import read_manifest, verify_files


def test_text_model_exports_with_three_heads(tmp_path: Path):
    from training.defaults import text as text_mod
    from training.export import export_model
    from training.sentiment.heads import HeadEnsemble, SentimentHead
    from training.towers.minilm import MiniLMEncoder, serving_tokenizer_json

    encoder = MiniLMEncoder.tiny()
    layers = encoder.bert.config.num_hidden_layers + 1
    heads = HeadEnsemble([SentimentHead(torch.ones(layers), encoder.dim, hidden=16)]).eval()
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text(serving_tokenizer_json(), encoding="utf-8")
    manifest = export_model(
        text_mod.TextModel(encoder, heads),
        text_mod._examples(text_mod.EXAMPLE_TEXTS),
        models_dir=tmp_path,
        name="text",
        kind="multitask",
        inputs=text_mod._inputs(),
        outputs=text_mod._outputs(),
        extra_files={"tokenizer.json": tokenizer},
        check_example=text_mod._examples(text_mod.CHECK_TEXTS),
    )
    assert [o.name for o in manifest.outputs] == ["sentiment", "valence", "embedding"]
    assert max(manifest.parity.values()) <= 1e-4
    assert manifest.output("embedding").space == "semantic"
    folder = tmp_path / "text" / "1"
    verify_files(read_manifest(folder), folder)
