"""Item ids: the client's strings outside, deterministic UUIDs inside.

Qdrant (both backends) accepts only unsigned integers and UUIDs as point ids, while a gallery
item's id is any client string (by default the sha256 of the image bytes or of the text, so adding
the same photo twice is one item). The store keys each point by ``uuid5(GALLERY_NAMESPACE, id)``
(SHA-1 based, 122 random bits: collisions are out of reach for any gallery) and keeps the client's
id in the point's payload, which is what every read returns. The mapping never changes: the same
string is the same point in every collection, backend and process.
"""

from __future__ import annotations

import hashlib
import uuid

#: Fixed forever: changing it would orphan every stored point.
GALLERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/mapping-serve/gallery")


def point_uuid(item_id: str) -> uuid.UUID:
    """The engine's point id for a client item id."""
    return uuid.uuid5(GALLERY_NAMESPACE, item_id)


def content_id(content: bytes | str) -> str:
    """The default item id: sha256 (hex) of the image bytes, or of the text encoded as UTF-8."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()
