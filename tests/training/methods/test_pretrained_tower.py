"""EfficientNet-Lite0 with its last N blocks trained: what trains, at which rate, and the cache.

Random-initialised towers at 32 pixels keep these fast; the pretrained weights are exercised by
``tests/training/test_fit_efficientnet.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.errors import ConfigError
from training.methods.config import ImageEncoderConfig, TrainConfig, load_config
from training.methods.data import Batches, Examples, Normalisation
from training.methods.encoders import PretrainedEfficientNet
from training.methods.feature_cache import PrefixCache, cached_prefix
from training.methods.hard_sharing import HardSharingModel
from training.methods.objectives import ClassificationObjective
from training.methods.optim import param_groups
from training.methods.soft_sharing import SoftSharingModel
from training.methods.trainer import train

TASKS = {"a": 3, "b": 2}


def _encoder(blocks: int) -> PretrainedEfficientNet:
    torch.manual_seed(0)
    config = ImageEncoderConfig(
        kind="efficientnet_lite0", image_size=32, pretrained=False, trainable_blocks=blocks
    )
    return PretrainedEfficientNet(config)


def _batches(n: int = 12, batch_size: int = 4) -> Batches:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = {"a": rng.integers(0, 3, n), "b": rng.integers(0, 2, n)}
    classes = {"a": ["x", "y", "z"], "b": ["p", "q"]}
    return Batches(Examples("train", images, None, labels, classes), batch_size, Normalisation())


def _config_error(tmp_path: Path, data: dict[str, object]) -> str:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_trainable_blocks_and_tower_lr_are_checked_when_the_config_is_read(
    tmp_path: Path,
) -> None:
    eff = {"kind": "efficientnet_lite0"}
    assert "expected int" in _config_error(tmp_path, {"image": {**eff, "trainable_blocks": "2"}})
    message = _config_error(tmp_path, {"image": {**eff, "trainable_blocks": 17}})
    assert "c.json:4: image.trainable_blocks: must be 0 (frozen) to 16" in message
    assert "-1" in _config_error(tmp_path, {"image": {**eff, "trainable_blocks": -1}})
    assert "only for kind efficientnet_lite0" in _config_error(
        tmp_path, {"image": {"kind": "small_cnn", "trainable_blocks": 1}}
    )
    for frozen, blocks in ((True, 2), (False, 0)):
        message = _config_error(
            tmp_path, {"image": {**eff, "frozen": frozen, "trainable_blocks": blocks}}
        )
        assert "trains what trainable_blocks says" in message
    assert "tower_lr: must be > 0" in _config_error(tmp_path, {"tower_lr": 0})
    assert "expected float" in _config_error(tmp_path, {"tower_lr": "1e-4"})
    old_spelling = tmp_path / "frozen.json"
    old_spelling.write_text(json.dumps({"image": {**eff, "frozen": True}}))
    assert load_config(old_spelling).image.trainable_blocks == 0
    config = load_config("hard_sharing_efficientnet_finetune")
    assert config.image.trainable_blocks == 2 and config.resolved_tower_lr() == 3e-4
    assert load_config("hard_sharing_efficientnet").resolved_tower_lr() == pytest.approx(3e-4)


def test_only_the_last_blocks_and_the_head_conv_train_and_frozen_batchnorm_stays_in_eval() -> None:
    encoder = _encoder(2)
    tower = encoder.tower
    trained = {n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("_blocks") else "")
               for n, p in tower.named_parameters() if p.requires_grad}  # fmt: skip
    assert trained == {"_blocks.14", "_blocks.15", "_conv_head", "_bn1"}
    model = HardSharingModel(encoder, TASKS).train()
    assert not tower._bn0.training and not tower._blocks[13]._bn1.training
    assert tower._blocks[14]._bn1.training and tower._bn1.training
    before = tower._blocks[0]._bn1.running_mean.clone()
    logits = model.raw(torch.randn(4, 3, 32, 32))
    sum(v.sum() for v in logits.values()).backward()
    assert torch.equal(before, tower._blocks[0]._bn1.running_mean)  # frozen BN: no drift
    assert tower._blocks[15]._project_conv.weight.grad is not None
    assert tower._blocks[13]._project_conv.weight.grad is None
    assert encoder.describe()["trainable_blocks"] == 2


def test_frozen_and_whole_tower_settings() -> None:
    frozen = _encoder(0)
    assert frozen.frozen and not any(p.requires_grad for p in frozen.parameters())
    whole = _encoder(16)
    assert all(p.requires_grad for p in whole.parameters()) and not whole.has_frozen_prefix()


def test_tower_parameters_get_tower_lr_and_heads_get_lr() -> None:
    model = HardSharingModel(_encoder(1), TASKS)
    groups = param_groups(model, lr=1e-2, tower_lr=1e-4, weight_decay=0.05)
    tower = {id(p) for p in model.encoder.parameters() if p.requires_grad}
    heads = {id(p) for p in model.heads.parameters()}
    for group in groups:
        ids = {id(p) for p in group["params"]}
        assert ids <= tower if group["lr"] == 1e-4 else ids <= heads
        assert group["weight_decay"] == (0.05 if group["params"][0].dim() >= 2 else 0.0)
    covered = {id(p) for g in groups for p in g["params"]}
    assert covered == tower | heads  # frozen parameters are left out


def _trained(cache: bool, model_cls: type, blocks: int) -> dict[str, torch.Tensor]:
    encoder = _encoder(blocks)
    model = model_cls(encoder, TASKS)
    objective = ClassificationObjective(list(TASKS))
    batches = _batches()
    config = TrainConfig(epochs=2, batch_size=4, lr=1e-2, warmup_steps=1, threads=1)
    if cache:
        with cached_prefix(model, batches, {}, PrefixCache()) as (fed, _):
            assert fed is not batches  # the cache is really in use
            train(model, objective, fed, config, tower_lr=1e-3)
    else:
        train(model, objective, batches, config, tower_lr=1e-3)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("model_cls", "blocks"), [(HardSharingModel, 2), (HardSharingModel, 0), (SoftSharingModel, 1)]
)
def test_training_on_cached_prefixes_equals_training_on_pixels(
    model_cls: type, blocks: int
) -> None:
    plain, cached = _trained(False, model_cls, blocks), _trained(True, model_cls, blocks)
    initial = {k: v for k, v in HardSharingModel(_encoder(blocks), TASKS).state_dict().items()}
    for name, value in plain.items():
        torch.testing.assert_close(cached[name], value, rtol=1e-4, atol=1e-5, msg=name)
    moved = [k for k in initial if k in plain and not torch.equal(initial[k], plain[k])]
    assert any(k.startswith("heads") for k in moved)
    if blocks and model_cls is HardSharingModel:
        assert any(f"_blocks.{16 - blocks}" in k for k in moved)  # backprop reached the tower


def test_a_frozen_cut_is_finished_from_a_shallower_cached_one() -> None:
    batches, cache = _batches(n=6), PrefixCache()
    partly, frozen = _encoder(2), _encoder(0)
    maps = cache.features(partly, batches)
    assert maps.shape[1:] == (192, 1, 1)  # the map entering block 14 at 32 pixels
    pooled = cache.features(frozen, batches)
    frozen.eval()
    with torch.no_grad():
        direct = torch.cat([frozen.encode_image(b["image"]) for b in batches.epoch()])
    torch.testing.assert_close(pooled, direct, rtol=1e-4, atol=1e-5)
