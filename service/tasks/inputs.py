"""What the tasks take: items of encoded images and texts, and the item-count limit.

Text limits are checked where every text is read (``inference/text.py``), image limits where
every image is decoded (``inference/images.py``); the count of items per request here.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InvalidInputError


@dataclass(frozen=True)
class Item:
    """One input of a request: an encoded image, a text, or both (as the model takes).

    ``id`` is the client's name for it (a given id or an upload's file name), echoed by ``rank``.
    """

    image: bytes | None = None
    text: str | None = None
    id: str | None = None

    @property
    def modalities(self) -> frozenset[str]:
        """``{"image"}``, ``{"text"}``, both or none."""
        present = (("image", self.image is not None), ("text", self.text is not None))
        return frozenset(name for name, given in present if given)

    @property
    def modality(self) -> str:
        """The one modality of an item to embed."""
        if len(self.modalities) != 1:
            raise InvalidInputError("an input to embed is an image or a text, not both or neither")
        return next(iter(self.modalities))


def check_count(count: int, limit: int, noun: str = "items") -> None:
    """At least one and at most ``limit`` (``Settings.max_items``) of ``noun`` per request."""
    if count < 1:
        raise InvalidInputError(f"no {noun} given; send at least one")
    if count > limit:
        raise InvalidInputError(f"{count} {noun} in one request; the limit is {limit}", limit=limit)
