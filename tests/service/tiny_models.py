"""Tiny random models exported with the real exporter (training/export.py), for service tests.

``build_repository(root)`` writes ``vision`` (image -> two softmax heads + an embedding in space
``semantic``), ``text`` (tokens -> sentiment softmax, valence regression, embedding in
``semantic``) and ``fusion`` (image + text -> one softmax head) under ``root`` in about a second;
``build_int8_repository(root)`` writes ``vision`` with an int8 variant made by the real quantizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from torch import nn

from contract.layout import MODEL_FILE, variant_file
from contract.manifest import ImageInput, OutputSpec, TextInput, TokenCompanionInput
from training.export import export_model
from training.export.quantize import quantize_static_qdq
from training.export.variants import Candidate, MakeVariants

WORDS = [
    "a",
    "an",
    "the",
    "cat",
    "dog",
    "photo",
    "of",
    "is",
    "this",
    "movie",
    "film",
    "was",
    "good",
    "great",
    "happy",
    "love",
    "wonderful",
    "bad",
    "awful",
    "sad",
    "hate",
    "terrible",
    "red",
    "blue",
    "what",
    "color",
    "shape",
    "it",
    "very",
    "not",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
ANIMALS = ["cat", "dog", "bird"]
COLORS = ["red", "green", "blue", "yellow"]
SENTIMENT = ["negative", "neutral", "positive"]
DIM = 8
IMAGE = ImageInput(
    name="image", shape=["batch", 3, 32, 32], size=(32, 32), resize=36, crop="center",
    mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0), interpolation="bilinear",
)  # fmt: skip
TEXT_INPUTS = [
    TextInput(name="input_ids", shape=["batch", "sequence"], max_length=16, lowercase=True),
    TokenCompanionInput(role="attention_mask", name="attention_mask", shape=["batch", "sequence"]),
    TokenCompanionInput(role="token_type_ids", name="token_type_ids", shape=["batch", "sequence"]),
]


def write_tokenizer(path: Path) -> Path:
    """A WordLevel tokenizer: lowercase, whitespace split, ``[CLS] ... [SEP]``."""
    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(path))
    return path


class ImageTower(nn.Module):
    """Conv -> pooled features (B, 6)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, kernel_size=3, stride=2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(image)).mean(dim=(2, 3))  # (B, 6)


class TextTower(nn.Module):
    """Token + type embeddings, mean-pooled over the attention mask: padding-invariant."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(len(SPECIALS) + len(WORDS), DIM)
        self.types = nn.Embedding(2, DIM)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.types(types)  # (B, T, D)
        m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # (B, D)


class Vision(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tower = ImageTower()
        self.animal, self.color, self.embed = nn.Linear(6, 3), nn.Linear(6, 4), nn.Linear(6, DIM)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.tower(image)
        return {
            "animal": F.softmax(self.animal(f), dim=-1),
            "color": F.softmax(self.color(f), dim=-1),
            "embedding": F.normalize(self.embed(f), dim=-1),
        }


class Text(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tower = TextTower()
        self.sentiment, self.valence, self.embed = (
            nn.Linear(DIM, 3), nn.Linear(DIM, 1), nn.Linear(DIM, DIM)
        )  # fmt: skip

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
                ) -> dict[str, torch.Tensor]:  # fmt: skip
        f = self.tower(ids, mask, types)
        return {
            "sentiment": F.softmax(self.sentiment(f), dim=-1),
            "valence": 4.0 * torch.tanh(self.valence(f)),
            "embedding": F.normalize(self.embed(f), dim=-1),
        }


class Fusion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image, self.text = ImageTower(), TextTower()
        self.head = nn.Linear(6 + DIM, 2)

    def forward(self, image: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                types: torch.Tensor) -> dict[str, torch.Tensor]:  # fmt: skip
        f = torch.cat([self.image(image), self.text(ids, mask, types)], dim=-1)
        return {"answer": F.softmax(self.head(f), dim=-1)}


def _tokens(batch: int, length: int) -> dict[str, torch.Tensor]:
    ids = torch.randint(4, len(SPECIALS) + len(WORDS), (batch, length))
    mask = torch.ones(batch, length, dtype=torch.int64)
    mask[0, -1] = 0
    return {"input_ids": ids, "attention_mask": mask,
            "token_type_ids": torch.zeros(batch, length, dtype=torch.int64)}  # fmt: skip


def _softmax(name: str, labels: list[str]) -> OutputSpec:
    return OutputSpec(name=name, task=name, type="softmax", shape=["batch", len(labels)],
                      labels=labels)  # fmt: skip


def _embedding() -> OutputSpec:
    return OutputSpec(name="embedding", task="embedding", type="embedding",
                      shape=["batch", DIM], space="semantic", normalized=True)  # fmt: skip


def build_repository(root: Path) -> Path:
    """Export the three tiny models under ``root`` and return it."""
    torch.manual_seed(0)
    tokenizer = write_tokenizer(root / "tokenizer.json")
    extra = {"tokenizer.json": tokenizer}
    common = {"models_dir": root, "description": "tiny random test model", "metrics": {}}
    img = {"image": torch.randn(2, 3, 32, 32)}
    img3 = {"image": torch.randn(3, 3, 32, 32)}
    export_model(
        Vision(), img, name="vision", kind="multitask", inputs=[IMAGE], check_example=img3,
        outputs=[_softmax("animal", ANIMALS), _softmax("color", COLORS), _embedding()], **common,
    )  # fmt: skip
    valence = OutputSpec(name="valence", task="valence", type="regression", shape=["batch", 1],
                         range=(-4.0, 4.0))  # fmt: skip
    export_model(
        Text(), _tokens(2, 5), name="text", kind="multitask", inputs=TEXT_INPUTS,
        outputs=[_softmax("sentiment", SENTIMENT), valence, _embedding()],
        check_example=_tokens(3, 7), extra_files=extra, **common,
    )  # fmt: skip
    export_model(
        Fusion(), {**img, **_tokens(2, 5)}, name="fusion", kind="fusion",
        inputs=[IMAGE, *TEXT_INPUTS], outputs=[_softmax("answer", ["yes", "no"])],
        check_example={**img3, **_tokens(3, 7)}, extra_files=extra, **common,
    )  # fmt: skip
    (root / "tokenizer.json").unlink()
    return root


def int8_variant(calibration: np.ndarray, failed: tuple[str, ...] = ()) -> MakeVariants:
    """A variants hook quantizing the staged image model with the real quantizer; its gate
    reports ``failed`` (empty: it passes)."""

    def make(staged: Path) -> list[Candidate]:
        file = variant_file("int8")
        method = quantize_static_qdq(staged / MODEL_FILE, staged / file, "image", calibration)
        return [Candidate("int8", file, method, {"calibrated_on": len(calibration)}, list(failed))]

    return make


def build_int8_repository(root: Path) -> Path:
    """``vision`` (the tiny model above) with a gated int8 variant, under ``root``."""
    torch.manual_seed(0)
    # flat colours like the test pictures (tests/service/media.py), normalised into [-1, 1]
    colours = np.random.default_rng(0).uniform(-1, 1, (32, 3, 1, 1))
    calibration = np.broadcast_to(colours, (32, 3, 32, 32)).astype(np.float32)
    export_model(
        Vision(), {"image": torch.randn(2, 3, 32, 32)}, models_dir=root, name="vision",
        kind="multitask", inputs=[IMAGE], check_example={"image": torch.randn(3, 3, 32, 32)},
        outputs=[_softmax("animal", ANIMALS), _softmax("color", COLORS), _embedding()],
        description="tiny random test model with an int8 variant",
        variants=int8_variant(calibration),
    )  # fmt: skip
    return root
