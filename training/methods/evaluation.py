"""Evaluate trained models on a split: accuracies, classification reports, embeddings, retrieval."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from training.methods.alignment import AlignmentModel
from training.methods.base import ATTENTION_MASK, IMAGE, INPUT_IDS, MultiOutputModel
from training.methods.data import Batches
from training.methods.retrieval import bidirectional_recall
from training.methods.scores import classification_report


@torch.inference_mode()
def predict(model: MultiOutputModel, batches: Batches) -> dict[str, np.ndarray]:
    """The exported outputs (probabilities, unit embeddings) over every example, in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # a GPU when evaluated during GPU training
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches.epoch():
        for name, value in model(*(batch[n].to(device) for n in model.input_names)).items():
            parts.setdefault(name, []).append(value.cpu().numpy())
    model.train(was_training)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def accuracies(model: MultiOutputModel, batches: Batches) -> dict[str, float]:
    """``{"<task>_accuracy": top-1 accuracy}`` for every labelled output of the model."""
    outputs = predict(model, batches)
    labels = batches.examples.labels
    return {
        f"{task}_accuracy": float((probs.argmax(1) == labels[task]).mean())
        for task, probs in outputs.items()
        if task in labels
    }


def classification_reports(
    model: MultiOutputModel, batches: Batches, train_labels: dict[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """``scores.classification_report`` for every labelled head, baselines from training labels."""
    outputs = predict(model, batches)
    examples = batches.examples
    return {
        task: classification_report(
            examples.labels[task], probs.argmax(1), examples.classes[task], train_labels[task]
        )
        for task, probs in outputs.items()
        if task in examples.labels
    }


@torch.inference_mode()
def embed_images(model: AlignmentModel, batches: Batches) -> np.ndarray:
    """Unit image embeddings (N, D)."""
    model.eval()
    device = next(model.parameters()).device
    chunks = [
        torch.nn.functional.normalize(model.embed_image(b[IMAGE].to(device)), dim=-1).cpu().numpy()
        for b in batches.epoch()
    ]
    return np.concatenate(chunks)


@torch.inference_mode()
def embed_texts(model: AlignmentModel, batches: Batches) -> np.ndarray:
    """Unit text embeddings (N, D)."""
    model.eval()
    device = next(model.parameters()).device
    chunks = [
        torch.nn.functional.normalize(
            model.embed_text(b[INPUT_IDS].to(device), b[ATTENTION_MASK].to(device)), dim=-1
        )
        .cpu()
        .numpy()
        for b in batches.epoch()
    ]
    return np.concatenate(chunks)


def retrieval_metrics(model: AlignmentModel, batches: Batches) -> dict[str, float]:
    """recall@1/5/10 both ways between the split's images and texts, hits by content key."""
    keys = batches.examples.keys or [(i,) for i in range(len(batches.examples))]
    return bidirectional_recall(embed_images(model, batches), embed_texts(model, batches), keys)
