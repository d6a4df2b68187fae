"""The image and text towers: exact weight loading, TF padding, MiniLM parity, ConSE, photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from contract.manifest import ImageInput
from contract.preprocess import image_tensor as preprocess
from training.encoders.conse import ConSE, class_prompts, clean_names, imagenet_labels
from training.encoders.efficientnet_lite import (
    BN_EPS,
    BN_MOMENTUM,
    EfficientNetLite0,
    pretrained_efficientnet_lite0,
    same_padding,
    weights_path,
)
from training.encoders.minilm import (
    MiniLMEncoder,
    embed_texts,
    load_tokenizer,
    mean_pool,
    serving_tokenizer_json,
    tokenize,
)
from training.encoders.photos import SAMPLE_PHOTOS, load_photo

# The Lite weights' scaling, (x - 127) / 128, at 224 after resizing the shorter side to 256.
SPEC = ImageInput(
    name="image",
    shape=["batch", 3, 224, 224],
    size=(224, 224),
    resize=256,
    mean=(127.0,) * 3,
    std=(128.0,) * 3,
)


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


def test_mean_pool_ignores_padding():
    states = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, -100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(states, mask), torch.tensor([[2.0, 2.0]]))


def test_tiny_minilm_embeddings_are_unit_length_and_padding_invariant():
    encoder, tokenizer = MiniLMEncoder.tiny(), load_tokenizer()
    alone = embed_texts(encoder, tokenizer, ["a cat"])
    padded = embed_texts(
        encoder, tokenizer, ["a cat", "a much longer sentence about dogs"], batch_size=2
    )
    assert alone.shape == (1, 32)
    assert torch.allclose(alone.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_serving_tokenizer_pads_per_batch_and_truncates_at_max_length():
    import json

    spec = json.loads(serving_tokenizer_json(max_length=16))
    assert spec["padding"] is None and spec["truncation"]["max_length"] == 16
    batch = tokenize(load_tokenizer(max_length=16), ["hi", "word " * 50])
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"][0].sum() == 3  # [CLS] hi [SEP], the rest is padding


@pytest.mark.slow
def test_minilm_matches_sentence_transformers_encode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the reference must load from disk too
    from sentence_transformers import SentenceTransformer

    from training.encoders.minilm import minilm_dir

    texts = ["a cat", "I HATE this movie!!! :(", "naïve café, résumé 😀", "word " * 300]
    ours = embed_texts(MiniLMEncoder.pretrained(), load_tokenizer(), texts, batch_size=2)
    reference = SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)
    assert np.abs(ours.numpy() - reference.encode(texts)).max() < 1e-5


def test_conse_one_hot_returns_that_class_embedding():
    torch.manual_seed(0)
    table = torch.randn(6, 4)
    conse = ConSE(table, top_t=2)
    probs = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.5, 0.3, 0.0, 0.0, 0.2, 0.0]])
    out = conse(probs)
    assert torch.allclose(out[0], torch.nn.functional.normalize(table[2], dim=0), atol=1e-6)
    expected = torch.nn.functional.normalize(0.5 * table[0] + 0.3 * table[1], dim=0)
    assert torch.allclose(out[1], expected, atol=1e-6)  # class 4 is outside the top 2
    with pytest.raises(ValueError):
        ConSE(table, top_t=7)


def test_imagenet_names_and_prompts():
    labels, names = imagenet_labels(), clean_names()
    assert len(labels) == len(names) == 1000
    assert labels[281] == "tabby, tabby cat"
    assert class_prompts("a photo of a {}.")[967] == f"a photo of a {names[967]}."


def test_preprocess_follows_the_manifest():
    flat = Image.new("RGB", (640, 480), (255, 127, 0))
    out = preprocess(flat, SPEC)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    assert np.allclose(out[:, 100, 100], [(255 - 127) / 128, 0.0, -127 / 128])


def test_every_sample_photo_loads_from_the_installed_packages():
    assert len(SAMPLE_PHOTOS) == 11
    for photo in SAMPLE_PHOTOS:
        image = load_photo(photo.name)
        assert image.mode == "RGB" and min(image.size) >= 100, photo.name
