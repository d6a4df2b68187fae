"""Build a model, its objective and its pixel normalisation from a ``FitConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from training.methods.alignment import AlignmentModel
from training.methods.base import MultiOutputModel
from training.methods.config import FitConfig, ImageEncoderConfig
from training.methods.data import Examples, Normalisation
from training.methods.encoders import (
    ImageEncoder,
    TextEncoder,
    build_image_encoder,
    build_text_encoder,
)
from training.methods.fusion import ConcatFusion, CrossAttentionFusion
from training.methods.hard_sharing import HardSharingModel
from training.methods.losses import build_alignment_loss
from training.methods.objectives import AlignmentObjective, ClassificationObjective, Objective
from training.methods.soft_sharing import SoftSharingModel
from training.methods.weighting import build_weighting

#: Methods whose model reads text (and so needs a tokenizer).
TEXT_METHODS = frozenset({"fusion", "alignment"})


def normalisation(config: ImageEncoderConfig) -> Normalisation:
    """Scratch CNNs see [-1, 1]; the EfficientNet-Lite weights expect (x - 127) / 128."""
    if config.kind == "efficientnet_lite0":
        return Normalisation(127.0, 128.0)
    return Normalisation(127.5, 127.5)


def _text_encoder(config: FitConfig, vocab_size: int | None) -> TextEncoder:
    if config.text.kind == "lstm" and not vocab_size:
        raise ValueError(f"method {config.method!r} reads text: a tokenizer vocabulary is needed")
    return build_text_encoder(config.text, vocab_size)


def locked_tower(config: FitConfig) -> Literal["image", "text"] | None:
    """Which tower LiT locks (``image.locked`` / ``text.locked``), if any."""
    if config.image.locked:
        return "image"
    return "text" if config.text.locked else None


@dataclass
class Pretrained:
    """Trained parts a new model starts from (``training.shapes.runs`` provides them).

    ``image_encoder`` replaces a freshly built trunk and is frozen when the config's
    ``image.frozen`` says so.
    """

    image_encoder: ImageEncoder | None = None


def build_model(
    config: FitConfig,
    classes: dict[str, int],
    vocab_size: int | None = None,
    pretrained: Pretrained | None = None,
) -> MultiOutputModel:
    """The model of ``config.method``; ``classes`` maps each task to its class count."""
    pretrained = pretrained or Pretrained()
    if config.image.init and pretrained.image_encoder is None:
        raise ValueError(
            f"config wants the image encoder of {config.image.init!r}: pass it "
            "as pretrained (training.shapes.runs does this for the shapes world)"
        )
    image = pretrained.image_encoder or build_image_encoder(config.image)
    if pretrained.image_encoder is not None and config.image.frozen:
        image.freeze()
    if config.method == "hard_sharing":
        return HardSharingModel(image, classes)
    if config.method == "soft_sharing":
        return SoftSharingModel(image, classes)
    text = _text_encoder(config, vocab_size)
    if config.method == "alignment":
        return AlignmentModel(image, text, config.embed_dim, locked_tower(config))
    if config.fusion == "attention":
        return CrossAttentionFusion(
            image,
            text,
            classes,
            config.fusion_hidden,
            config.attention_dim,
            config.attention_heads,
            config.attention_text_to_head,
        )
    return ConcatFusion(image, text, classes, config.fusion_hidden, config.modalities)


def balanced_weights(labels: np.ndarray, classes: int) -> torch.Tensor:
    """Inverse-frequency class weights ``n / (K * n_c)``; 0 for a class absent from training."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    weights = np.zeros(classes)
    np.divide(len(labels), classes * counts, out=weights, where=counts > 0)
    return torch.tensor(weights, dtype=torch.float32)


def build_objective(
    config: FitConfig, tasks: list[str], train: Examples | None = None
) -> Objective:
    """The method's objective; ``train`` gives the label counts for ``class_weights``."""
    if config.method == "alignment":
        return AlignmentObjective(
            build_alignment_loss(config.alignment_loss, config.margin, config.negatives)
        )
    weighting = build_weighting(config.weighting, tasks)
    soft = config.soft_lambda if config.method == "soft_sharing" else 0.0
    class_weights = None
    if config.class_weights == "balanced":
        if train is None:
            raise ValueError('class_weights "balanced" needs the training labels')
        class_weights = {t: balanced_weights(train.labels[t], len(train.classes[t])) for t in tasks}
    return ClassificationObjective(tasks, weighting, soft, config.label_smoothing, class_weights)
