"""Does sharing help on elpv? Hard sharing, two single-task models and soft sharing, one table.

Every row trains with the same budget (epochs, batch size, learning rates, seed, balanced
class weights for the imbalanced defect grades) on the same split of ``fit``'s JSONL loader,
then is exported like any ``fit`` model and measured on the held-out split: accuracy per task,
macro F1 of the four defect grades, parameters, and ONNX Runtime milliseconds per image (the
single-task rows count both models: serving both tasks takes both).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.layout import MODEL_FILE
from training.methods import pipeline
from training.methods.config import FitConfig, load_config
from training.methods.data import Examples
from training.methods.evaluation import classification_reports
from training.methods.feature_cache import PrefixCache, cached_prefix
from training.methods.jsonl import EVAL_SPLIT, load_jsonl

log = logging.getLogger(__name__)

TASKS = ("defect", "cell_type")
RESULTS = "results.json"


@dataclass(frozen=True)
class Row:
    """One line of the table: one model (``config``) or a pair of single-task models."""

    label: str
    config: str  # a config name in training/configs/
    single_task: bool = False


# A partly trained row first: the frozen rows' pooled features are then finished from the
# cached maps entering block 14 instead of from pixels (feature_cache.PrefixCache).
ROWS = (
    Row("hard sharing, last 2 blocks trained", "hard_sharing_efficientnet_finetune"),
    Row("hard sharing, frozen trunk", "hard_sharing_efficientnet"),
    Row("2 single-task, frozen trunk", "hard_sharing_efficientnet", single_task=True),
    Row("2 single-task, last 2 blocks trained", "hard_sharing_efficientnet_finetune", True),
    Row("soft sharing, last 2 blocks trained", "soft_sharing_efficientnet_finetune"),
)


@dataclass
class Measured:
    label: str
    metrics: dict[str, float]
    parameters: int
    ms_per_image: float
    train_seconds: float


@dataclass(frozen=True)
class Budget:
    """Epochs of the rows whose tower is partly trained, and of the frozen-tower rows (a
    linear probe on cached features costs next to nothing, so it may run longer); every
    comparison (shared against single-task) is within one budget."""

    epochs: int
    frozen_epochs: int

    def of(self, config: FitConfig) -> int:
        return self.frozen_epochs if config.image.trainable_blocks == 0 else self.epochs


def _config(name: str, tasks: tuple[str, ...], budget: Budget) -> FitConfig:
    config = load_config(name)
    train = dataclasses.replace(config.train, epochs=budget.of(config))
    return config.replace(tasks=tasks, class_weights="balanced", train=train)


def ms_per_image(model_dir: Path, held: Examples, batch: int = 8, repeats: int = 5) -> float:
    """Median ONNX Runtime (CPU, one thread) milliseconds per image over ``batch``-image runs."""
    import onnxruntime as ort

    from training.methods.build import normalisation

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
    )
    assert held.images is not None
    norm = normalisation(load_config("hard_sharing_efficientnet").image)
    x = norm.apply(held.images[:batch]).contiguous().numpy()
    name = session.get_inputs()[0].name
    times = []
    for i in range(repeats + 2):
        started = time.perf_counter()
        session.run(None, {name: x})
        if i >= 2:  # the first runs allocate
            times.append((time.perf_counter() - started) * 1000 / batch)
    return float(np.median(times))


def _train_one(
    config: FitConfig, train: Examples, held: Examples, out: Path, slug: str, cache: PrefixCache
) -> tuple[dict[str, float], int, float, float]:
    prepared = pipeline.prepare(config, train, {EVAL_SPLIT: held})
    result = pipeline.fit(prepared, desc=slug, cache=cache)
    evals = {EVAL_SPLIT: prepared.evals[EVAL_SPLIT]}
    with cached_prefix(result.model, prepared.train, evals, cache) as (_train, fed):
        metrics = pipeline.evaluate(result.model, fed[EVAL_SPLIT])  # eval mode: == pixels
        reports = classification_reports(result.model, fed[EVAL_SPLIT], train.labels)
    metrics.update({f"{t}_macro_f1": r["macro_f1"] for t, r in reports.items()})
    metrics.update({f"{t}_majority": r["majority_baseline_accuracy"] for t, r in reports.items()})
    (manifest,) = pipeline.export(
        result, models_dir=out, name=slug, metrics={**metrics, "split": EVAL_SPLIT},
        split=EVAL_SPLIT, training={"data": "elpv", "seed": config.train.seed},
        description=f"elpv study: {slug}", replace=True, version=1,
    )  # fmt: skip
    params = sum(p.numel() for p in result.model.parameters())
    ms = ms_per_image(out / manifest.name / str(manifest.version), held)
    return metrics, params, ms, result.history.seconds


def measure(row: Row, train: Examples, held: Examples, out: Path, budget: Budget,
            cache: PrefixCache) -> Measured:  # fmt: skip
    """Train and measure one row (two models for a single-task row)."""
    groups = [(t,) for t in TASKS] if row.single_task else [TASKS]
    total = Measured(row.label, {}, 0, 0.0, 0.0)
    for tasks in groups:
        slug = f"elpv-{row.config.replace('_', '-')}-{'-'.join(tasks).replace('_', '-')}"
        metrics, params, ms, seconds = _train_one(
            _config(row.config, tasks, budget), train, held, out, slug, cache
        )
        total.metrics.update(metrics)
        total.parameters += params
        total.ms_per_image += ms
        total.train_seconds += seconds
        log.info("%s %s: %s", row.label, tasks, metrics)
    return total


def table(rows: list[Measured]) -> str:
    """The README table (Markdown)."""
    columns = ("model", "defect acc", "defect macro F1", "cell type acc", "parameters",
               "ms / image", "train s")  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for r in rows:
        m = r.metrics
        lines.append(
            f"| {r.label} | {m['defect_accuracy']:.3f} | {m['defect_macro_f1']:.3f} | "
            f"{m['cell_type_accuracy']:.3f} | {r.parameters / 1e6:.2f} M | "
            f"{r.ms_per_image:.1f} | {r.train_seconds:.0f} |"
        )
    m = rows[0].metrics if rows else {}
    if "defect_majority" in m and "cell_type_majority" in m:
        lines.append(
            f"| majority class (train) | {m['defect_majority']:.3f} | - | "
            f"{m['cell_type_majority']:.3f} | - | - | - |"
        )
    return "\n".join(lines)


def run(data: Path, out: Path, budget: Budget, only: list[str] | None = None) -> str:
    """Train every row (or those whose config is in ``only``), write ``out/results.json``
    and return the table."""
    train, held = load_jsonl(data, load_config("hard_sharing_efficientnet").image.image_size)
    log.info("elpv: %d training and %d held-out images", len(train), len(held))
    cache = PrefixCache()  # every row starts from the same pretrained tower
    rows = [r for r in ROWS if not only or r.config in only]
    measured = []
    for row in rows:  # results written after each row: a long study can be read as it goes
        measured.append(measure(row, train, held, out, budget, cache))
        results = {**dataclasses.asdict(budget), "held_out": len(held),
                   "rows": [dataclasses.asdict(r) for r in measured]}  # fmt: skip
        (out / RESULTS).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return table(measured)


def table_from_results(paths: list[Path]) -> str:
    """The table of one or more ``results.json`` (a study split over processes), rows in the
    order of ``ROWS``."""
    rows = [Measured(**r) for path in paths for r in json.loads(path.read_text())["rows"]]
    order = [r.label for r in ROWS]
    return table(sorted(rows, key=lambda r: order.index(r.label) if r.label in order else 99))
