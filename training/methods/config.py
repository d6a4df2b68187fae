"""Typed configuration of a training run, loaded from named JSON files in ``training/configs/``.

One ``FitConfig`` describes the method (hard or soft sharing, fusion, alignment), its encoders,
its loss and the optimisation budget. JSON keys map one to one onto the dataclass fields;
an unknown key or a value of the wrong type (``"epochs": "2"``) is a ``ConfigError`` naming
the file, the line and the key, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from training.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

Method = Literal["hard_sharing", "soft_sharing", "fusion", "alignment"]


@dataclass(frozen=True)
class ImageEncoderConfig:
    """``small_cnn`` trains from scratch; ``efficientnet_lite0`` loads ImageNet weights.

    ``trainable_blocks`` (efficientnet_lite0 only): 0 keeps the whole tower frozen; N trains
    the last N of its 16 MBConv blocks and the 1x1 head convolution after them (at
    ``FitConfig.tower_lr``); 16 trains the whole tower, stem included. Frozen parts keep
    their BatchNorm in eval mode.
    """

    kind: Literal["small_cnn", "efficientnet_lite0"] = "small_cnn"
    image_size: int = 64
    widths: tuple[int, ...] = (16, 32, 64)
    pool: Literal["mean", "max", "meanmax"] = "max"  # small_cnn: global pooling of the map
    frozen: bool = False  # small_cnn with ``init``: keep that trunk fixed (BatchNorm in eval)
    trainable_blocks: int = 0  # efficientnet_lite0: last N blocks trained; 0 = frozen
    pretrained: bool = True  # efficientnet_lite0 only (False: random init, for tests)
    resample_to: int | None = None  # efficientnet_lite0: resize inside the graph (e.g. 224)
    # small_cnn: start from the trunk trained by this named config (shapes world: see
    # training.shapes.runs), like the founding article's pretrained ResNet50; None: scratch.
    init: str | None = None
    # Alignment only (LiT, Zhai et al. 2022): the tower is frozen AND has no projection, so its
    # own pooled features are the shared space and only the other tower learns to read them.
    locked: bool = False


@dataclass(frozen=True)
class TextEncoderConfig:
    """``lstm``: Embedding + unidirectional LSTM over right-padded word ids, trained from
    scratch; ``minilm``: the pretrained all-MiniLM-L6-v2 tower with its WordPiece tokenizer
    (sentence embedding: mean-pooled, L2-normalised), frozen or with its top layers trained."""

    kind: Literal["lstm", "minilm"] = "lstm"
    embed_dim: int = 32  # lstm only
    hidden: int = 64  # lstm only
    pooling: Literal["last", "mean"] = "last"  # lstm only (minilm: its own mean pooling)
    max_length: int = 32  # minilm: the tower's 256 unless the config says otherwise
    # minilm: how many of its 6 transformer layers, counted from the top, train (0: frozen;
    # the token embeddings always stay frozen). Their learning rate is FitConfig.tower_lr.
    trainable_layers: int = 0
    locked: bool = False  # alignment only: see ImageEncoderConfig.locked


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
    # Imbalanced tasks: "balanced" weights each class's cross-entropy by n / (K * n_class)
    # over the training labels (inverse frequency, sklearn's "balanced"); None: unweighted.
    class_weights: Literal["balanced"] | None = None
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
    embed_dim: int = 64  # alignment: the shared space (a locked tower's width when one is)
    tasks: tuple[str, ...] = ()  # label fields to learn; empty means every label field
    # Learning rate of the trained parts of a pretrained tower (None: train.lr / 10): a
    # pretrained tower moved at the heads' rate forgets what made it worth loading.
    tower_lr: float | None = None

    def resolved_tower_lr(self) -> float:
        return resolve_tower_lr(self.train.lr, self.tower_lr)

    def replace(self, **changes: Any) -> FitConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


T = TypeVar("T")

#: efficientnet_lite0's native input size, taken when a config names the tower but no size.
EFFICIENTNET_SIZE = 224
#: MiniLM's truncation length (training.towers.minilm.MAX_LENGTH, sentence-transformers'
#: max_seq_length), taken when a config names the tower but no max_length.
MINILM_MAX_LENGTH = 256
#: Transformer layers of all-MiniLM-L6-v2, the most ``trainable_layers`` can unfreeze.
MINILM_LAYERS = 6
#: efficientnet_lite0's MBConv blocks: the most ``trainable_blocks`` can ask for.
EFFICIENTNET_BLOCKS = 16
#: tower_lr when a config sets none: a tenth of the heads' rate (fine-tuning practice: the
#: pretrained weights move less than the fresh layers on top of them).
TOWER_LR_RATIO = 0.1


def resolve_tower_lr(lr: float, tower_lr: float | None) -> float:
    """The pretrained towers' learning rate: ``tower_lr``, or ``lr * TOWER_LR_RATIO``."""
    return tower_lr if tower_lr is not None else lr * TOWER_LR_RATIO


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(tp: Any, value: Any, key: str) -> Any:
    """``value`` converted to ``tp`` (lists to tuples, configs from dicts), or a ConfigError."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected an object ({_type_name(tp)}), got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")  # type: ignore[arg-type]
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {args}")
        return value
    if origin in (Union, UnionType):
        for option in args:
            try:
                return _check(option, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list ({_type_name(tp)}), got {value!r}")
        return tuple(_check(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected an object ({_type_name(tp)}), got {value!r}")
        return {_check(args[0], k, key): _check(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{key}: expected null, got {value!r}")
        return value
    # bool is an int in Python, but `"epochs": true` is a mistake; ints are fine as floats.
    allowed = (int, float) if tp is float else (tp,)
    if isinstance(value, bool) != (tp is bool) or not isinstance(value, allowed):
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build a config dataclass from nested dicts, checking every value against its field's
    type and refusing unknown keys (``ConfigError`` names the key, dotted: ``train.epochs``)."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ConfigError(
            f"{prefix}{sorted(unknown)[0]}: unknown {cls.__name__} field(s) {sorted(unknown)}; "
            f"known: {sorted(names)}"
        )
    values = {k: _check(hints[k], v, f"{prefix}{k}") for k, v in data.items()}
    if cls is ImageEncoderConfig:
        _check_image_encoder(values, prefix)
        if values.get("kind") == "efficientnet_lite0":
            values.setdefault("image_size", EFFICIENTNET_SIZE)  # the tower's size, not the CNN's
    if cls is TextEncoderConfig and values.get("kind") == "minilm":
        values.setdefault("max_length", MINILM_MAX_LENGTH)  # the tower's length, not the LSTM's
    config = cls(**values)
    _check_towers(config, data, prefix)
    return config


def _check_towers(config: Any, data: dict[str, Any], prefix: str) -> None:
    """Value rules a type cannot say: layer counts in range, what ``locked`` may lock."""
    if isinstance(config, TextEncoderConfig):
        _check_text(config, prefix)
    if isinstance(config, ImageEncoderConfig) and config.locked:
        if config.kind == "small_cnn":
            raise ConfigError(f'{prefix}locked: locks a pretrained tower ("efficientnet_lite0")')
        if config.trainable_blocks:
            raise ConfigError(
                f"{prefix}locked: a locked tower trains nothing; drop trainable_blocks"
            )
    if isinstance(config, FitConfig):
        if config.tower_lr is not None and config.tower_lr <= 0:
            raise ConfigError(f"{prefix}tower_lr: must be > 0, got {config.tower_lr!r}")
        if config.image.locked or config.text.locked:
            _check_locked(config, data)


def _check_text(config: TextEncoderConfig, prefix: str) -> None:
    if not 0 <= config.trainable_layers <= MINILM_LAYERS:
        raise ConfigError(
            f"{prefix}trainable_layers: {config.trainable_layers} is not in 0..{MINILM_LAYERS}"
        )
    if config.trainable_layers and config.kind != "minilm":
        raise ConfigError(f'{prefix}trainable_layers: only for "kind": "minilm"')
    if config.locked and (config.kind != "minilm" or config.trainable_layers):
        raise ConfigError(
            f'{prefix}locked: locks a pretrained tower ("kind": "minilm") with trainable_layers 0'
        )


def _check_locked(config: FitConfig, data: dict[str, Any]) -> None:
    """LiT: one tower locked, in alignment, and the space's width is that tower's."""
    key = "image.locked" if config.image.locked else "text.locked"
    if config.method != "alignment":
        raise ConfigError(
            f"{key}: locking a tower is for alignment (LiT); other methods keep a tower "
            "fixed with image.frozen or text.trainable_layers 0"
        )
    if config.image.locked and config.text.locked:
        raise ConfigError("text.locked: both towers locked leaves nothing to train")
    if "embed_dim" in data:  # 1280 for EfficientNet-Lite0, 384 for MiniLM
        raise ConfigError(
            "embed_dim: a locked tower's own features are the shared space, so its width "
            "fixes the dimension; remove embed_dim"
        )


def _check_image_encoder(values: dict[str, Any], prefix: str) -> None:
    """Ranges, and the fields that only mean something for one kind of encoder."""
    blocks = values.get("trainable_blocks", 0)
    key = f"{prefix}trainable_blocks"
    if values.get("kind", "small_cnn") != "efficientnet_lite0":
        if blocks:
            raise ConfigError(f"{key}: only for kind efficientnet_lite0 (small_cnn trains whole)")
        return
    if not 0 <= blocks <= EFFICIENTNET_BLOCKS:
        raise ConfigError(
            f"{key}: must be 0 (frozen) to {EFFICIENTNET_BLOCKS} (all blocks), got {blocks!r}"
        )
    # `"frozen": true` (the older spelling of a frozen tower) agrees with 0 blocks only.
    if values.get("frozen") is False or (values.get("frozen") and blocks):
        raise ConfigError(
            f"{prefix}frozen: efficientnet_lite0 trains what trainable_blocks says (0 = frozen, "
            f"{EFFICIENTNET_BLOCKS} = all); drop `frozen`"
        )


def _line_of(text: str, key: str) -> int | None:
    """The line of dotted ``key`` in the JSON ``text`` (each part searched after the last)."""
    at = 0
    for part in key.split("."):
        found = text.find(f'"{part.split("[")[0]}"', at)
        if found < 0:
            return None
        at = found
    return text.count("\n", 0, at) + 1


def load_config(name_or_path: str | Path) -> FitConfig:
    """Load a config by file path, or by name from ``training/configs/`` ("fusion_concat")."""
    path = Path(name_or_path)
    if not path.is_file():
        path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise ConfigError(f"no config {name_or_path!r}: not a file, not one of {known}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not valid JSON ({exc.msg}, column {exc.colno})", path, exc.lineno
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object of FitConfig fields", path, 1)
    try:
        return from_dict(FitConfig, data)
    except ConfigError as exc:
        key = exc.message.split(":", 1)[0]
        raise ConfigError(exc.message, path, _line_of(text, key)) from exc
