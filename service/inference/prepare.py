"""Turn request data (encoded image bytes, a string) into a model's item, as its manifest says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from contract.manifest import ImageInput, Manifest, TextInput
from service.errors import InvalidInputError
from service.inference.images import image_input, image_tensor
from service.inference.session import Inputs
from service.inference.text import TextEncoder

_TEXT_ROLES = ("text", "attention_mask", "token_type_ids")


class Preprocessor:
    """Builds the per-item input arrays of one model from raw image bytes and/or text."""

    def __init__(
        self, manifest: Manifest, version_dir: Path, *, max_image_pixels: int, max_text_chars: int
    ) -> None:
        self.manifest = manifest
        self.max_image_pixels = max_image_pixels
        image = manifest.input("image")
        text = manifest.input("text")
        self.image_spec = image if isinstance(image, ImageInput) else None
        self.text = (
            TextEncoder(text, version_dir, max_text_chars) if isinstance(text, TextInput) else None
        )

    @property
    def modalities(self) -> frozenset[str]:
        """``{"image"}``, ``{"text"}`` or both."""
        return self.manifest.modalities

    def pad_values(self) -> dict[str, int]:
        """Padding value per input name (the tokenizer's pad id for token ids, else 0)."""
        text = self.manifest.input("text")
        return {text.name: self.text.pad_id} if text and self.text else {}

    def prepare(self, image: bytes | None = None, text: str | None = None) -> Inputs:
        """One item from encoded image bytes and/or a text, exactly as the model takes."""
        self._check_modalities(image is not None, text is not None)
        item: Inputs = {}
        if self.image_spec is not None and image is not None:
            item[self.image_spec.name] = image_input(image, self.image_spec, self.max_image_pixels)
        if self.text is not None and text is not None:
            self._add_text(item, self.text.encode(text))
        return item

    def warmup_item(self) -> Inputs:
        """A valid item built without any client data (a grey picture, a short sentence)."""
        item: Inputs = {}
        if self.image_spec is not None:
            grey = Image.new("RGB", (self.image_spec.size[1], self.image_spec.size[0]), (128,) * 3)
            item[self.image_spec.name] = image_tensor(grey, self.image_spec)
        if self.text is not None:
            self._add_text(item, self.text.encode("warm up the model"))
        return item

    def _add_text(self, item: Inputs, encoded: dict[str, np.ndarray]) -> None:
        for spec in self.manifest.inputs:
            if spec.role in _TEXT_ROLES:
                item[spec.name] = encoded[spec.role]

    def _check_modalities(self, has_image: bool, has_text: bool) -> None:
        given = {m for m, present in (("image", has_image), ("text", has_text)) if present}
        if given != set(self.modalities):
            wanted = " and ".join(sorted(self.modalities))
            got = " and ".join(sorted(given)) or "nothing"
            raise InvalidInputError(
                f"model {self.manifest.name!r} takes {wanted} per item; this item has {got}",
                model=self.manifest.name,
            )
