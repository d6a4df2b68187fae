"""The sentiment heads' trainer learns a planted signal."""

from __future__ import annotations

import numpy as np
import torch

from training.sentiment.labels import pearson, to_class
from training.sentiment.train import HeadConfig, TrainData, train_ensemble


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


def test_a_second_task_without_valence_trains_beside_the_first():
    from training.sentiment.train import IGNORE

    rng = np.random.default_rng(1)
    features = rng.normal(size=(900, 2, 8)).astype(np.float32)
    valence = (np.tanh(features[:, 0, 0]) * 3).astype(np.float32)
    second = np.arange(900) >= 450  # the second corpus: a 3-class label, no valence
    tweet_label = np.digitize(features[:, 1, 2], [-0.5, 0.5])
    data = TrainData.from_numpy(
        features,
        np.where(second, np.nan, valence).astype(np.float32),
        np.where(second, IGNORE, to_class(valence)),
        np.arange(900) % 10 < 7,
        np.arange(900) % 10 == 7,
        np.where(second, tweet_label, IGNORE),
    )
    cfg = HeadConfig(hidden=32, max_epochs=40, patience=5, seeds=(0,), input_dropout=0.0)
    heads, losses = train_ensemble(data, cfg, np.ones(2, np.float32))
    assert all(np.isfinite(v) for v in losses[0].values())
    held = np.arange(900) % 10 >= 8
    with torch.no_grad():
        tweets = heads.tweet_sentiment(torch.from_numpy(features[held & second])).argmax(-1)
        out = heads(torch.from_numpy(features[held & ~second]))
    assert (tweets.numpy() == tweet_label[held & second]).mean() > 0.7  # majority: 0.38
    assert pearson(out["valence"].numpy(), valence[held & ~second]) > 0.8
