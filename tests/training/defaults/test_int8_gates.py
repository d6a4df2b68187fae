"""The int8 gates of the default models, on synthetic outputs: each check can fail on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data.augment import VIEWS_PER_PHOTO, views
from training.data.imagenet_photos import imagenet_photos
from training.data.photos import SAMPLE_PHOTOS
from training.data.sentiment_corpora import CORPORA, Item
from training.defaults import text_int8, vision_int8

N_NET = 20
RNG = np.random.default_rng(0)


def _photo_set() -> vision_int8.PhotoSet:
    """11 sample photos then 20 ImageNet photos (classes 100..119), VIEWS_PER_PHOTO each."""
    names = [p.name for p in SAMPLE_PHOTOS] + [f"imagenet_{k:02d}" for k in range(N_NET)]
    classes = [None] * len(SAMPLE_PHOTOS) + list(range(100, 100 + N_NET))
    return vision_int8.PhotoSet(np.zeros((len(names) * VIEWS_PER_PHOTO, 1)), names, classes)


def _labels() -> list[str]:
    """Class k (k < 11) is the expected label of sample photo k, so top-1 = k is right."""
    labels = [f"class {k}" for k in range(1000)]
    for k, photo in enumerate(SAMPLE_PHOTOS):
        labels[k] = photo.labels[0] if photo.labels else labels[k]
    return labels


def _fp32(photos: vision_int8.PhotoSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities peaked on each photo's class, one unit embedding axis per photo, and the
    queries (the sample photos' axes), so every query finds its photo."""
    n = len(photos.images)
    owner = np.arange(n) // VIEWS_PER_PHOTO
    top = np.array([photos.imagenet_labels[o] or o for o in owner])
    probs = np.full((n, 1000), 0.1 / 999)
    probs[np.arange(n), top] = 0.9
    embeddings = np.zeros((n, 64))
    embeddings[np.arange(n), owner] = 1.0
    return probs, embeddings, np.eye(64)[: len(SAMPLE_PHOTOS)]


def _vision_failures(change: str) -> list[str]:
    photos = _photo_set()
    probs, embeddings, queries = _fp32(photos)
    p8, e8 = probs.copy(), embeddings.copy()
    if change == "agreement":  # 6 % of views change their top-1, none of them an original
        views_ = [k for k in range(len(p8)) if k % VIEWS_PER_PHOTO][: int(0.06 * len(p8))]
        p8[views_] = np.roll(p8[views_], 1, axis=1)
    elif change == "expected":  # coffee (sample photo 1) is no longer an espresso
        p8[VIEWS_PER_PHOTO] = np.roll(p8[VIEWS_PER_PHOTO], 500)
    elif change == "imagenet":  # one ImageNet photo itself misclassified
        k = len(SAMPLE_PHOTOS) * VIEWS_PER_PHOTO
        p8[k] = np.roll(p8[k], 3)
    elif change == "cosine":  # every embedding tilted by ~3 degrees
        e8 = e8 + 0.05 * np.roll(e8, 1, axis=1)
        e8 /= np.linalg.norm(e8, axis=1, keepdims=True)
    elif change == "crossmodal":  # the horse's photo moves onto the astronaut's axis
        e8[5 * VIEWS_PER_PHOTO] = embeddings[3 * VIEWS_PER_PHOTO]
    figures, failed = vision_int8.gate_figures(
        photos, (probs, embeddings), (p8, e8), _labels(), queries
    )
    assert figures["samples"] == len(probs)
    return failed


def test_the_vision_gate_passes_an_identical_model() -> None:
    assert _vision_failures("none") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("agreement", "top-1 agreement"),
        ("expected", "sample photos with an expected label 4/5"),
        ("imagenet", "ImageNet-20 top-1 0.95 below fp32's 1.00"),
        ("cosine", "embedding cosine median"),
        ("crossmodal", "no longer ranking their photo first: ['horse']"),
    ],
)
def test_each_vision_check_fails_on_its_own(change: str, message: str) -> None:
    failed = _vision_failures(change)
    assert len(failed) == 1 and message in failed[0], failed


def _text_items(per_corpus: int = 200) -> list[Item]:
    return [
        Item(corpus, str(k), float(RNG.uniform(-4, 4)), f"sentence {k}")
        for corpus in CORPORA
        for k in range(per_corpus)
    ]


def _text_outputs(items: list[Item], noise: float) -> text_int8.Outputs:
    truth = np.array([i.mean for i in items])
    valence = truth + RNG.normal(0, noise, len(truth))
    sentiment = np.eye(3)[np.where(valence > 0.05, 2, np.where(valence < -0.05, 0, 1))]
    embedding = RNG.normal(size=(len(items), 16))
    return sentiment, valence, embedding / np.linalg.norm(embedding, axis=1, keepdims=True)


def test_the_text_gate_passes_equal_outputs_and_fails_a_worse_model() -> None:
    items = _text_items()
    fp32 = _text_outputs(items, noise=1.0)
    figures, failed = text_int8.gate_figures(items, fp32, fp32)
    assert failed == []
    assert set(figures["corpora"]) == set(CORPORA)
    worse = _text_outputs(items, noise=3.0)
    _, failed = text_int8.gate_figures(items, fp32, (worse[0], worse[1], fp32[2]))
    assert failed and all("more than 0.01 apart" in f for f in failed)
    _, failed = text_int8.gate_figures(items, fp32, (fp32[0], fp32[1], worse[2]))
    assert len(failed) == 1 and "embedding cosine median" in failed[0]


def test_every_photo_has_its_views_and_foolbox_gives_20_labelled_photos() -> None:
    photos = imagenet_photos()
    assert len(photos) == 20 and all(0 <= p.label < 1000 for p in photos)
    original = photos[0].load()
    made = views(original)
    assert len(made) == VIEWS_PER_PHOTO
    assert made[0].size == original.size  # view 0 is the photo itself
    assert len({v.size for v in made}) > 1


def test_without_foolbox_the_vision_variant_is_skipped_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.metadata

    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    hook = vision_int8.VisionInt8(None, [], np.zeros((0, 4)))  # type: ignore[arg-type]
    [candidate] = hook(tmp_path)
    assert not candidate.passed
    assert candidate.skipped is not None and "pip install --no-deps foolbox" in candidate.skipped


def test_exact_run_computes_the_qdq_graph_as_written(tmp_path: Path) -> None:
    """``_run(exact=True)`` gives what the Quantize/DequantizeLinear nodes say, bit for bit."""
    from onnx import TensorProto, helper, save

    scale, zero = 0.05, 128
    graph = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["image", "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["imagenet"]),
            helper.make_node("Identity", ["imagenet"], ["embedding"]),
        ],
        "qdq",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, 4, 4])],
        [
            helper.make_tensor_value_info("imagenet", TensorProto.FLOAT, [None, 3, 4, 4]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, 3, 4, 4]),
        ],
        [
            helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("z", TensorProto.UINT8, [], [zero]),
        ],
    )
    path = tmp_path / "qdq.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    save(model, str(path))
    images = RNG.normal(0.0, 4.0, (20, 3, 4, 4)).astype(np.float32)  # some beyond the range
    probs, embeddings = vision_int8._run(path, images, exact=True)
    want = (np.clip(np.rint(images / np.float32(scale)) + zero, 0, 255) - zero) * np.float32(scale)
    np.testing.assert_array_equal(probs, want.astype(np.float32))
    np.testing.assert_array_equal(embeddings, probs)


def test_exact_run_turns_off_the_graph_fusions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fused, ONNX Runtime would run QLinearConv kernels, which saturate on AVX2-only CPUs."""
    seen = []

    class Session:
        def __init__(self, path: str, options: object, providers: list[str]) -> None:
            seen.append(options.graph_optimization_level)  # type: ignore[attr-defined]

        def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            return [feeds["image"], feeds["image"]]

    monkeypatch.setattr(vision_int8.ort, "InferenceSession", Session)
    vision_int8._run(Path("m.onnx"), np.zeros((2, 1)), exact=True)
    vision_int8._run(Path("m.onnx"), np.zeros((2, 1)))
    assert seen == [
        vision_int8.ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        vision_int8.ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    ]


def test_the_stem_first_block_and_head_stay_fp32(tmp_path: Path) -> None:
    """The nodes before ``_blocks.1`` and from the softmax on; their Constants are not named."""
    from onnx import TensorProto, helper, save

    names = [
        ("/model/trunk/_conv_stem/Constant", "Constant"),
        ("/model/trunk/_conv_stem/Conv", "Relu"),
        ("/model/trunk/Clip", "Relu"),
        ("/model/trunk/_blocks.0/_project_conv/Conv", "Relu"),
        ("/model/trunk/_blocks.1/_expand_conv/Conv", "Relu"),
        ("/model/trunk/Clip_1", "Relu"),
        ("/model/Softmax", "Softmax"),
        ("/model/conse/TopK", "Relu"),
    ]
    nodes, previous = [], "image"
    for k, (name, op) in enumerate(names):
        if op == "Constant":
            value = helper.make_tensor("v", TensorProto.FLOAT, [], [1.0])
            nodes.append(helper.make_node(op, [], [f"c{k}"], name=name, value=value))
            continue
        nodes.append(helper.make_node(op, [previous], [f"t{k}"], name=name))
        previous = f"t{k}"
    graph = helper.make_graph(
        nodes,
        "names",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "names.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert vision_int8._fp32_nodes(path) == [
        "/model/trunk/_conv_stem/Conv",
        "/model/trunk/Clip",
        "/model/trunk/_blocks.0/_project_conv/Conv",
        "/model/Softmax",
        "/model/conse/TopK",
    ]


@pytest.mark.parametrize("attention_passes", [True, False])
def test_the_text_variant_falls_back_to_matmul_only_when_quantized_attention_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, attention_passes: bool
) -> None:
    """QAttention is tried first; when its file fails the gate, the MatMul-only file is made,
    gated and kept, and the manifest figures say what was rejected."""
    items = _text_items()
    fp32 = _text_outputs(items, noise=1.0)
    worse = _text_outputs(items, noise=3.0)
    made: list[bool] = []

    def quantize(fp32_path: Path, out: Path, **kwargs: object) -> dict[str, str]:
        made.append(bool(kwargs["attention"]))
        out.write_text("attention" if kwargs["attention"] else "matmul")
        return {"method": "with attention" if kwargs["attention"] else "matmul only"}

    def run(path: Path, texts: list[str]) -> text_int8.Outputs:
        failing = path.name != "model.onnx" and path.read_text() == "attention"
        return worse if failing and not attention_passes else fp32

    monkeypatch.setattr(text_int8, "quantize_dynamic_matmul", quantize)
    monkeypatch.setattr(text_int8, "run_texts", run)
    monkeypatch.setattr(text_int8, "ms_per_item", lambda path, items: 1.0)
    (tmp_path / "model.onnx").write_text("fp32")
    (candidate,) = text_int8.TextInt8(items)(tmp_path)
    assert candidate.passed
    if attention_passes:
        assert made == [True] and candidate.method["method"] == "with attention"
        assert "rejected_first" not in candidate.figures
    else:
        assert made == [True, False] and candidate.method["method"] == "matmul only"
        (rejected,) = candidate.figures["rejected_first"]
        assert rejected["method"] == "with attention" and rejected["failures"]
        assert (tmp_path / candidate.file).read_text() == "matmul"
