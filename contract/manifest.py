"""The ``manifest.json`` of a model version: its schema, reading, writing and verification.

It depends on pydantic alone (no FastAPI, no ONNX Runtime), so both halves read and write
manifests through one schema. Unknown fields are an error everywhere: a typo in a manifest must
fail loudly at load time, not silently change preprocessing.

Conventions the schema encodes (and both halves rely on):

* ``softmax`` and ``sigmoid`` outputs carry probabilities (the activation is inside the graph),
  one row per batch item, one column per label.
* ``regression`` outputs are ``(B,)`` or ``(B, 1)`` floats; ``range`` documents the scale.
* ``embedding`` outputs are ``(B, dim)``; ``normalized`` says whether the graph L2-normalises them.
  Two models whose embedding outputs name the same ``space`` can be compared by cosine.
* Image inputs are float32 NCHW; the service resizes, crops and normalises exactly as the
  manifest says: ``pixel = (value_0_255 - mean) / std`` per channel.
* Text inputs are int64 ``(B, T)`` token ids, padded per batch to the longest item (never to a
  fixed length); companion inputs carry the attention mask and token type ids.
* ``model.onnx`` is the fp32 model (``precision``). ``variants`` lists other files of the same
  model (``model.int8.onnx``): same inputs, outputs and preprocessing, each with its checksum and
  how it was made. A variant is listed only when it passed its quality gate against fp32 at build
  time; the gate's figures are in ``metrics["<precision>_gate"]`` whether it passed or not.
  Manifests written before variants existed have neither field and read as fp32 only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.layout import (
    MANIFEST_FILE,
    MODEL_FILE,
    MODEL_NAME_PATTERN,
    TOKENIZER_FILE,
    variant_file,
)

__all__ = [
    "MANIFEST_FILE",
    "MODEL_FILE",
    "Dim",
    "ImageInput",
    "InputSpec",
    "Manifest",
    "OutputSpec",
    "Precision",
    "TextInput",
    "TokenCompanionInput",
    "Variant",
    "read_manifest",
    "sha256_file",
    "verify_files",
    "write_manifest",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Dim = int | str  # -1 or a symbol such as "batch" marks a dynamic axis


class ImageInput(_Strict):
    """An image tensor the service builds from an encoded picture (JPEG, PNG, WebP)."""

    role: Literal["image"] = "image"
    name: str
    dtype: Literal["float32"] = "float32"
    shape: list[Dim]
    size: tuple[int, int] = Field(description="(height, width) fed to the network")
    resize: int | None = Field(
        default=None,
        description="resize the shorter side to this many pixels before cropping; "
        "None resizes straight to `size` (aspect ratio not kept)",
    )
    crop: Literal["center", "none"] = "center"
    interpolation: Literal["bicubic", "bilinear", "nearest"] = "bicubic"
    layout: Literal["NCHW"] = "NCHW"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


class TextInput(_Strict):
    """Token ids produced by the tokenizer file shipped beside the model."""

    role: Literal["text"] = "text"
    name: str
    dtype: Literal["int64"] = "int64"
    shape: list[Dim]
    tokenizer: str = TOKENIZER_FILE
    max_length: int = Field(gt=1, le=8192)
    lowercase: bool = False


class TokenCompanionInput(_Strict):
    """An input derived from the same tokenisation as the ``text`` input."""

    role: Literal["attention_mask", "token_type_ids"]
    name: str
    dtype: Literal["int64"] = "int64"
    shape: list[Dim]


InputSpec = Annotated[ImageInput | TextInput | TokenCompanionInput, Field(discriminator="role")]


class OutputSpec(_Strict):
    """One ONNX output: one head of the model."""

    name: str
    task: str
    type: Literal["softmax", "sigmoid", "regression", "embedding"]
    dtype: Literal["float32"] = "float32"
    shape: list[Dim]
    labels: list[str] | None = None
    space: str | None = None
    normalized: bool = False
    range: tuple[float, float] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check_kind_fields(self) -> OutputSpec:
        if self.type in ("softmax", "sigmoid") and not self.labels:
            raise ValueError(f"output {self.name!r}: a {self.type} head needs `labels`")
        if self.type == "embedding" and not self.space:
            raise ValueError(f"output {self.name!r}: an embedding head needs `space`")
        if self.type != "embedding" and self.space is not None:
            raise ValueError(f"output {self.name!r}: only embedding heads have a `space`")
        return self


Precision = Literal["fp32", "int8"]
_SHA256 = r"^[0-9a-f]{64}$"


class Variant(_Strict):
    """Another file of the same model at a lower precision, installed because it passed its gate."""

    precision: Literal["int8"]
    file: str = Field(description="beside model.onnx: model.<precision>.onnx")
    sha256: str = Field(pattern=_SHA256)
    method: dict[str, Any] = Field(
        default_factory=dict, description="how it was made (quantizer, calibration, fp32 nodes)"
    )

    @model_validator(mode="after")
    def _check_file(self) -> Variant:
        if self.file != variant_file(self.precision):
            raise ValueError(f"a {self.precision} variant is {variant_file(self.precision)!r}")
        return self


class Manifest(_Strict):
    """Everything the service needs to pre- and post-process one exported model."""

    schema_version: Literal[1] = 1
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    version: int = Field(ge=1)
    kind: Literal["multitask", "fusion", "alignment", "classifier", "encoder"]
    description: str = ""
    created: str = Field(description="ISO 8601 time of export")
    inputs: list[InputSpec] = Field(min_length=1)
    outputs: list[OutputSpec] = Field(min_length=1)
    metrics: dict[str, Any] = Field(default_factory=dict)
    parity: dict[str, float] = Field(
        default_factory=dict, description="max abs difference PyTorch vs ONNX Runtime, per output"
    )
    sha256: str = Field(pattern=_SHA256)
    training: dict[str, Any] = Field(default_factory=dict)
    precision: Literal["fp32"] = Field(default="fp32", description="of model.onnx")
    variants: list[Variant] = Field(
        default_factory=list, description="lower-precision files that passed their gate"
    )

    @model_validator(mode="after")
    def _check_names(self) -> Manifest:
        for group in (self.inputs, self.outputs):
            names = [item.name for item in group]
            if len(names) != len(set(names)):
                raise ValueError(f"duplicate tensor names in {names}")
        roles = [i.role for i in self.inputs]
        for role in ("image", "text"):
            if roles.count(role) > 1:
                raise ValueError(f"at most one `{role}` input is supported, got {roles}")
        if any(r in ("attention_mask", "token_type_ids") for r in roles) and "text" not in roles:
            raise ValueError("token companion inputs need a `text` input")
        precisions = [v.precision for v in self.variants]
        if len(precisions) != len(set(precisions)):
            raise ValueError(f"one variant per precision, got {precisions}")
        return self

    def variant(self, precision: str) -> Variant | None:
        """The installed variant of ``precision``, or None."""
        return next((v for v in self.variants if v.precision == precision), None)

    def model_file(self, precision: str) -> str:
        """The file that serves ``precision``: ``model.onnx`` for fp32, else its variant's."""
        if precision == self.precision:
            return MODEL_FILE
        variant = self.variant(precision)
        if variant is None:
            raise KeyError(f"{self.name} has no {precision} variant")
        return variant.file

    @property
    def precisions(self) -> list[str]:
        """Every precision this version can serve, fp32 first."""
        return [self.precision, *(v.precision for v in self.variants)]

    @property
    def modalities(self) -> frozenset[str]:
        """The modalities a request must supply: a subset of {"image", "text"}."""
        return frozenset(i.role for i in self.inputs if i.role in ("image", "text"))

    def output(self, name: str) -> OutputSpec:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(name)

    def input(self, role: str) -> ImageInput | TextInput | TokenCompanionInput | None:
        return next((i for i in self.inputs if i.role == role), None)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(version_dir: Path) -> Manifest:
    """Parse ``manifest.json`` in a version directory (raises ``pydantic.ValidationError``)."""
    return Manifest.model_validate_json((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


def write_manifest(manifest: Manifest, version_dir: Path) -> Path:
    path = version_dir / MANIFEST_FILE
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path


def verify_files(manifest: Manifest, version_dir: Path, *, check_location: bool = True) -> None:
    """Check that the files beside a manifest match it; raise ``ValueError`` saying what is off.

    ``check_location=False`` skips the name/version check against the folder names, for a
    version directory still being staged under a temporary name.
    """
    _check_file(version_dir / MODEL_FILE, manifest.sha256)
    for variant in manifest.variants:
        _check_file(version_dir / variant.file, variant.sha256)
    misplaced = (
        manifest.name != version_dir.parent.name or str(manifest.version) != version_dir.name
    )
    if check_location and misplaced:
        raise ValueError(
            f"manifest says {manifest.name}/{manifest.version} but lies in "
            f"{version_dir.parent.name}/{version_dir.name}"
        )
    text = manifest.input("text")
    if isinstance(text, TextInput) and not (version_dir / text.tokenizer).is_file():
        raise ValueError(f"{version_dir / text.tokenizer} (the model's tokenizer) is missing")


def _check_file(path: Path, sha256: str) -> None:
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise ValueError(
            f"{path} has sha256 {actual[:12]}…, the manifest says {sha256[:12]}…; "
            "re-export the model or restore the matching file"
        )
