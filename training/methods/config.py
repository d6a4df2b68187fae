"""Typed configuration of a training run, loaded from named JSON files in ``training/configs/``.

One ``FitConfig`` describes the method (hard or soft sharing, fusion, alignment), its encoders,
its loss and the optimisation budget. JSON keys map one to one onto the dataclass fields;
an unknown key is an error, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

Method = Literal["hard_sharing", "soft_sharing", "fusion", "alignment"]


@dataclass(frozen=True)
class ImageEncoderConfig:
    """``small_cnn`` trains from scratch; ``efficientnet_lite0`` loads ImageNet weights."""

    kind: Literal["small_cnn", "efficientnet_lite0"] = "small_cnn"
    image_size: int = 64
    widths: tuple[int, ...] = (16, 32, 64)
    pool: Literal["mean", "max", "meanmax"] = "max"  # small_cnn: global pooling of the map
    frozen: bool = False  # pretrained tower only; BatchNorm then stays in eval mode
    pretrained: bool = True  # efficientnet_lite0 only (False: random init, for tests)
    resample_to: int | None = None  # efficientnet_lite0: resize inside the graph (e.g. 224)
    # small_cnn: start from the trunk trained by this named config (shapes world: see
    # training.shapes.runs), like the founding article's pretrained ResNet50; None: scratch.
    init: str | None = None


@dataclass(frozen=True)
class TextEncoderConfig:
    """Embedding + unidirectional LSTM over right-padded token ids."""

    embed_dim: int = 32
    hidden: int = 64
    pooling: Literal["last", "mean"] = "last"
    max_length: int = 32


@dataclass(frozen=True)
class WeightingConfig:
    """How task losses combine under hard sharing (LibMTL's EW, fixed, UW and DWA)."""

    kind: Literal["equal", "fixed", "uncertainty", "dwa"] = "equal"
    weights: dict[str, float] = field(default_factory=dict)  # for "fixed"
    temperature: float = 2.0  # for "dwa"


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation budget: AdamW, linear warm-up then cosine decay."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    seed: int = 0
    threads: int = 2


@dataclass(frozen=True)
class FitConfig:
    """Everything that decides what a run learns."""

    method: Method = "hard_sharing"
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    label_smoothing: float = 0.0  # classification losses (see objectives.py: why it helps)
    soft_lambda: float = 1e-3  # soft sharing: weight of sum ||w_a - w_b||^2
    fusion: Literal["concat", "attention"] = "concat"
    fusion_hidden: int = 256
    attention_dim: int = 64
    attention_heads: int = 4
    # Attention fusion: also feed the question vector to the answer head. Off for binding
    # questions: there the question names a colour, and a head that reads it learns the
    # training set's colour -> shape prior ("purple is never a star") instead of looking.
    attention_text_to_head: bool = True
    modalities: tuple[str, ...] = ("image", "text")  # fusion ablations drop one
    alignment_loss: Literal["contrastive", "infonce"] = "infonce"
    margin: float = 0.5  # contrastive alignment loss: negatives pushed below this cosine
    negatives: int | None = None  # contrastive: shuffled negatives per item (None: all B - 1)
    embed_dim: int = 64  # alignment: the shared space
    tasks: tuple[str, ...] = ()  # label fields to learn; empty means every label field

    def replace(self, **changes: Any) -> FitConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


T = TypeVar("T")


def _convert(tp: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)  # type: ignore[arg-type]
    origin = get_origin(tp)
    if origin is tuple:
        return tuple(value)
    if origin is Literal and value not in get_args(tp):
        raise ValueError(f"{value!r} is not one of {get_args(tp)}")
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config dataclass from nested dicts, refusing unknown keys."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s) {sorted(unknown)}; known: {sorted(names)}"
        )
    return cls(**{k: _convert(hints[k], v) for k, v in data.items()})


def load_config(name_or_path: str | Path) -> FitConfig:
    """Load a config by file path, or by name from ``training/configs/`` ("fusion_concat")."""
    path = Path(name_or_path)
    if not path.is_file():
        path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise FileNotFoundError(f"no config {name_or_path!r}: not a file, not one of {known}")
    return from_dict(FitConfig, json.loads(path.read_text(encoding="utf-8")))
