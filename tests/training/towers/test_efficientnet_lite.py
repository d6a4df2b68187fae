"""EfficientNet-Lite0: weight loading, TF "SAME" padding, the Lite0 table, labels on photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contract.preprocess import image_tensor as preprocess
from training.data.photos import load_photo
from training.defaults.vision import image_input
from training.towers.conse import imagenet_labels
from training.towers.efficientnet_lite import (
    BN_EPS,
    BN_MOMENTUM,
    EfficientNetLite0,
    pretrained_efficientnet_lite0,
    same_padding,
    weights_path,
)

SPEC = image_input()  # the default vision model's preprocessing (Lite weights' scaling)


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    torch.manual_seed(0)
    return EfficientNetLite0().eval()


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (224, 3, 2, (0, 1)),  # the stem: TF pads only after, unlike PyTorch's symmetric 1
        (112, 3, 2, (0, 1)),
        (56, 5, 2, (1, 2)),
        (112, 3, 1, (1, 1)),
        (14, 5, 1, (2, 2)),
        (7, 1, 1, (0, 0)),
    ],
)
def test_same_padding_matches_tf_formula(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_feature_map_and_head_shapes(lite0):
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert lite0.features(x).shape == (2, 1280, 7, 7)
        assert lite0.encode_image(x).shape == (2, 1280)
        assert lite0(x).shape == (2, 1000)


def test_block_resolutions_follow_the_lite0_table(lite0):
    sizes: list[int] = []
    hooks = [
        block.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
        for block in lite0._blocks
    ]
    with torch.no_grad():
        lite0(torch.randn(2, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    assert sizes == [112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7]


def test_lite_specifics_relu6_no_se_bn_settings(lite0):
    names = {name for name, _ in lite0.named_modules()}
    assert not any("_se_" in n for n in names)
    bns = [m for m in lite0.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == BN_EPS and m.momentum == BN_MOMENTUM for m in bns)
    assert lite0._conv_stem.pad == (0, 1, 0, 1)


def test_packaged_state_dict_loads_strictly():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


@pytest.mark.slow
def test_pretrained_lite0_recognises_the_cat_and_the_espresso():
    x = torch.from_numpy(np.stack([preprocess(load_photo(n), SPEC) for n in ("chelsea", "coffee")]))
    with torch.no_grad():
        top = pretrained_efficientnet_lite0()(x).argmax(-1).tolist()
    labels = imagenet_labels()
    assert labels[top[0]] in {"tabby, tabby cat", "tiger cat", "Egyptian cat"}
    assert labels[top[1]] == "espresso"
