"""Comparison experiments on the shapes world, printed as markdown tables.

    python -m training.shapes.experiments multitask [--n-train 16000] [--epochs 6]
    python -m training.shapes.experiments fusion | binding | alignment | all [--quick]

Every row of a table trains with the same data and epochs (the same budget); accuracies and
recalls are measured on the held-out split (objects of (shape, colour) pairs never trained on).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.methods import pipeline
from training.methods.base import MultiOutputModel
from training.methods.config import FitConfig, WeightingConfig, load_config
from training.methods.data import Batches
from training.methods.evaluation import predict
from training.shapes.runs import (
    QUICK,
    Budget,
    alignment_metrics,
    classifier_metrics,
    train_on_shapes,
)
from training.shapes.world import COLORS, HELDOUT_SPLIT, SHAPES

log = logging.getLogger(__name__)

Table = list[dict[str, str]]


def markdown(rows: Table) -> str:
    """A GitHub-flavoured markdown table from rows of equal keys."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(row[k] for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def _params(model: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()):,}"


def _inference_ms(model: MultiOutputModel, batches: Batches, repeats: int = 20) -> float:
    """Best-of-``repeats`` PyTorch forward time per image on a batch of 256 held-out items
    (after a warm-up run; the minimum is the least disturbed by other processes)."""
    batch = batches.batch(np.arange(min(256, len(batches.examples))))
    args = [batch[n] for n in model.input_names]
    model.eval()
    times = []
    with torch.inference_mode():
        model(*args)
        for _ in range(repeats):
            start = time.perf_counter()
            model(*args)
            times.append(time.perf_counter() - start)
    return 1000.0 * min(times) / len(args[0])


def _encoder_note(config: FitConfig) -> str:
    if not config.image.init:
        return "trained from scratch"
    how = "frozen" if config.image.frozen else "fine-tuned"
    return f"{config.image.init} trunk, {how}"


def _acc(metrics: dict[str, Any], key: str) -> str:
    return f"{metrics[key]:.3f}" if key in metrics else "-"


def _multitask_row(label: str, results: list[pipeline.FitResult], passes: int) -> dict[str, str]:
    """One table row for the models that together answer both tasks (one, or two single-task)."""
    metrics: dict[str, Any] = {}
    for result in results:
        metrics.update(classifier_metrics(result))
    ms = sum(_inference_ms(r.model, r.prepared.evals[HELDOUT_SPLIT]) for r in results)
    return {
        "method": label,
        "shape acc (held-out)": _acc(metrics, "shape_accuracy"),
        "colour acc (held-out)": _acc(metrics, "color_accuracy"),
        "parameters": f"{sum(sum(p.numel() for p in r.model.parameters()) for r in results):,}",
        "train s": f"{sum(r.history.seconds for r in results):.0f}",
        "trunk passes for both tasks": str(passes),
        "inference ms/img (both tasks)": f"{ms:.3f}",
    }


def multitask(budget: Budget) -> Table:
    """Single-task models, hard sharing under each weighting, soft sharing at two lambdas."""
    base = load_config("shapes_multitask")
    soft = load_config("shapes_multitask_soft")
    singles = [
        train_on_shapes(base.replace(tasks=(task,)), "objects", budget, desc=f"single {task}")
        for task in ("shape", "color")
    ]
    rows: Table = [_multitask_row("two single-task models", singles, 2)]
    runs: list[tuple[str, FitConfig, int]] = [
        ("hard, equal weights", base, 1),
        (
            "hard, fixed weights (shape 1.5, colour 0.5)",
            base.replace(weighting=WeightingConfig("fixed", {"shape": 1.5, "color": 0.5})),
            1,
        ),
        ("hard, uncertainty (Kendall)", base.replace(weighting=WeightingConfig("uncertainty")), 1),
        ("hard, DWA (T=2)", base.replace(weighting=WeightingConfig("dwa")), 1),
        ("soft, lambda=1e-3", soft.replace(soft_lambda=1e-3), 2),
        ("soft, lambda=1e-1", soft.replace(soft_lambda=1e-1), 2),
    ]
    for label, config, passes in runs:
        result = train_on_shapes(config, "objects", budget, desc=label)
        rows.append(_multitask_row(label, [result], passes))
    return rows


def _per_question_type(result: pipeline.FitResult) -> dict[str, float]:
    """Attribute-question accuracy split by what the question asks (from the answer's kind)."""
    held = result.prepared.evals[HELDOUT_SPLIT]
    probs = predict(result.model, held)["answer"]
    labels = held.examples.labels["answer"]
    kinds = np.where(labels < len(SHAPES), 0, np.where(labels < len(SHAPES) + len(COLORS), 1, 2))
    correct = probs.argmax(1) == labels
    return {
        name: float(correct[kinds == i].mean())
        for i, name in enumerate(("shape", "colour", "size"))
        if (kinds == i).any()
    }


def fusion(budget: Budget) -> Table:
    """Attribute questions: the founding article's concatenation, and one-modality ablations."""
    base = load_config("shapes_fusion")
    rows: Table = []
    for label, modalities in [
        ("image + text (concat)", ("image", "text")),
        ("image only", ("image",)),
        ("text only", ("text",)),
    ]:
        result = train_on_shapes(
            base.replace(modalities=modalities), "attribute", budget, desc=label
        )
        metrics = classifier_metrics(result)
        per_type = _per_question_type(result)
        rows.append(
            {
                "inputs": label,
                "answer acc (held-out)": _acc(metrics, "answer_accuracy"),
                **{f"{k} questions": f"{v:.3f}" for k, v in per_type.items()},
                "image encoder": _encoder_note(base),
                "train s (excl. trunk)": f"{result.history.seconds:.0f}",
            }
        )
    return rows


def binding(budget: Budget) -> Table:
    """Binding questions: concatenated pooled features against cross-modal attention."""
    vqa = load_config("shapes_vqa")
    rows: Table = []
    for label, config in [
        ("concat (pooled image + question)", vqa.replace(fusion="concat")),
        ("cross-modal attention (question over 8x8 map)", vqa),
    ]:
        result = train_on_shapes(config, "binding", budget, desc=label)
        metrics = classifier_metrics(result)
        rows.append(
            {
                "fusion": label,
                "answer acc (held-out)": _acc(metrics, "answer_accuracy"),
                "answer acc (seen combos)": _acc(metrics["seen"], "answer_accuracy"),
                "parameters": _params(result.model),
                "image encoder": _encoder_note(config),
                "train s (excl. trunk)": f"{result.history.seconds:.0f}",
            }
        )
    return rows


def alignment(budget: Budget) -> Table:
    """Retrieval and compositional zero-shot for the two alignment losses."""
    base = load_config("shapes_align")
    rows: Table = []
    for label, loss in [
        ("symmetric InfoNCE, learnable T", "infonce"),
        (f"contrastive, cosine, margin {base.margin:g}", "contrastive"),
    ]:
        result = train_on_shapes(base.replace(alignment_loss=loss), "objects", budget, desc=label)
        m = alignment_metrics(result)
        rows.append(
            {
                "loss": label,
                "items": str(m["examples"]),
                "image->text R@1": f"{m['image_to_text_recall@1']:.3f}",
                "image->text R@5": f"{m['image_to_text_recall@5']:.3f}",
                "text->image R@1": f"{m['text_to_image_recall@1']:.3f}",
                "text->image R@5": f"{m['text_to_image_recall@5']:.3f}",
                "zero-shot top-1 (50 prompts)": f"{m['zero_shot_top1']:.3f}",
                "train s": f"{result.history.seconds:.0f}",
            }
        )
    return rows


EXPERIMENTS: dict[str, Callable[[Budget], Table]] = {
    "multitask": multitask,
    "fusion": fusion,
    "binding": binding,
    "alignment": alignment,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.shapes.experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("experiment", choices=[*EXPERIMENTS, "all"])
    parser.add_argument("--n-train", type=int, default=16000)
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=None, help="override every config's")
    parser.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    budget = QUICK if args.quick else Budget(args.n_train, args.n_eval, epochs=args.epochs)
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    sections = []
    for name in names:
        started = time.perf_counter()
        table = markdown(EXPERIMENTS[name](budget))
        took = time.perf_counter() - started
        sections.append(f"### {name} ({budget}, {took:.0f} s)\n\n{table}\n")
        sys.stdout.write(sections[-1] + "\n")
        sys.stdout.flush()
    if args.out:
        args.out.write_text("\n".join(sections), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
