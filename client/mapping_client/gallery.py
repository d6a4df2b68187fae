"""The gallery endpoints: collections of embedded images and texts, and search over them.

Each method is an operation (see ``protocol``); ``Client`` and ``AsyncClient`` expose it under
the same name. An item's id defaults (on the service) to the sha256 hex digest of its image bytes
or UTF-8 text, so adding the same file twice stores it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mapping_client import media
from mapping_client.base import Operations
from mapping_client.errors import ServiceError
from mapping_client.media import Image, ImageInput, Media
from mapping_client.protocol import Call, Operation, call, quote
from mapping_client.types import (
    AddResult,
    Collection,
    DeleteResult,
    Item,
    ModelRef,
    SearchResults,
)  # fmt: skip

Metadata = Mapping[str, Any]
Filter = Mapping[str, Any]
_Entry = tuple[str | Image, str | None, Metadata | None]


class GalleryOperations(Operations):
    """Collections (create, list, get, delete), items (add, get, delete, count) and search."""

    def create_collection(
        self, name: str, *, space: str = "semantic", description: str = ""
    ) -> Operation[Collection]:
        """Create an empty collection of ``space`` embeddings (409 ``conflict`` if it exists)."""
        body = {"name": name, "space": space, "description": description}
        reply = yield from call(Call("POST", "/v1/collections", json=body, retry=False))
        return Collection.from_json(reply.body)

    def collections(self) -> Operation[list[Collection]]:
        """Every collection, with its size and the models that embedded it."""
        reply = yield from call(Call("GET", "/v1/collections"))
        return [Collection.from_json(c) for c in reply.body["collections"]]

    def collection(self, name: str) -> Operation[Collection]:
        """One collection (``ServiceError`` 404 ``not_found`` if there is none)."""
        reply = yield from call(Call("GET", _path(name)))
        return Collection.from_json(reply.body)

    def delete_collection(self, name: str) -> Operation[bool]:
        """Delete a collection and its items; ``True`` once deleted."""
        reply = yield from call(Call("DELETE", _path(name)))
        return bool(reply.body.get("deleted"))

    def add(
        self,
        collection: str,
        images: ImageInput | Sequence[ImageInput] | None = None,
        texts: str | Sequence[str] | None = None,
        *,
        ids: Sequence[str] | None = None,
        metadata: Metadata | Sequence[Metadata | None] | None = None,
    ) -> Operation[AddResult]:
        """Embed and store images and/or texts (images first); an existing id is replaced.

        Args:
            collection: the collection's name.
            images: one image or a list.
            texts: one text or a list.
            ids: one per input (images, then texts); the content's sha256 by default.
            metadata: one JSON object for every input, or one per input (``None`` for none).

        Returns:
            The ids in input order and the collection's size afterwards.
        """
        entries = _entries(media.images(images), media.texts(texts), ids, metadata)

        def build(chunk: Sequence[_Entry]) -> Call:
            return Call("POST", f"{_path(collection)}/items",
                        json={"items": [_gallery_item(*e) for e in chunk]})  # fmt: skip

        sizes = [media.wire_size(e[0]) + len(repr(e[2] or "")) for e in entries]
        replies = yield from self._batched(entries, build, sizes)
        last = replies[-1].body
        ids_out = [i for r in replies for i in r.body["ids"]]
        return AddResult(
            ids=ids_out, count=int(last["count"]), model=ModelRef.from_json(last.get("model"))
        )

    def search(
        self,
        collection: str,
        text: str | None = None,
        *,
        image: ImageInput | None = None,
        item: str | None = None,
        vector: Sequence[float] | None = None,
        top_k: int = 10,
        offset: int = 0,
        filter: Filter | None = None,
        with_metadata: bool = True,
        with_vectors: bool = False,
    ) -> Operation[SearchResults]:
        """Search a collection by exactly one of: a text, an image, a stored item id, a vector.

        Args:
            filter: metadata conditions, Qdrant-style: ``{"must": [...], "should": [...],
                "must_not": [...]}``, each condition one of ``{"key": "album", "match": "a"}``,
                ``{"key": "n", "any": [1, 2]}``, ``{"key": "year", "range": {"gte": 2020}}``.
            top_k: hits to return; ``offset`` skips that many first (paging).

        Returns:
            ``SearchResults``: hits best first (cosine ``score``, ``id``, ``metadata``).
        """
        body: dict[str, Any] = {
            "query": _query(text, image, item, vector), "top_k": top_k, "offset": offset,
            "with_metadata": with_metadata, "with_vectors": with_vectors,
        }  # fmt: skip
        if filter is not None:
            body["filter"] = dict(filter)
        reply = yield from call(Call("POST", f"{_path(collection)}/search", json=body))
        return SearchResults.from_json(reply.body)

    def get_item(self, collection: str, id: str, *, with_vector: bool = False) -> Operation[Item]:
        """One stored item (``ServiceError`` 404 ``not_found`` for an unknown id)."""
        params = {"with_vector": "true" if with_vector else "false"}
        reply = yield from call(
            Call("GET", f"{_path(collection)}/items/{quote(id)}", params=params)
        )
        return Item.from_json(reply.body)

    def has_item(self, collection: str, id: str) -> Operation[bool]:
        """Whether the collection holds an item with this id."""
        try:
            yield from self.get_item(collection, id)
        except ServiceError as error:
            if error.status == 404 and error.type == "not_found":
                return False
            raise
        return True

    def delete_items(
        self, collection: str, ids: Sequence[str] | None = None, *, filter: Filter | None = None
    ) -> Operation[DeleteResult]:
        """Delete items by id, or every item that matches ``filter`` (give exactly one; the
        filter has the shape ``search`` takes)."""
        if (ids is None) == (filter is None):
            raise ValueError("give exactly one of ids and filter")
        path = f"{_path(collection)}/items/delete"
        if filter is not None:
            reply = yield from call(Call("POST", path, json={"filter": dict(filter)}))
            return DeleteResult(int(reply.body["deleted"]), int(reply.body["count"]))
        id_list = list(ids or [])
        replies = yield from self._batched(
            id_list, lambda chunk: Call("POST", path, json={"ids": list(chunk)}),
            [len(i) + 4 for i in id_list],
        )  # fmt: skip
        deleted = sum(int(r.body["deleted"]) for r in replies)
        return DeleteResult(deleted, int(replies[-1].body["count"]) if replies else 0)

    def count(self, collection: str) -> Operation[int]:
        """How many items the collection holds."""
        reply = yield from call(Call("GET", f"{_path(collection)}/count"))
        return int(reply.body["count"])


def _path(name: str) -> str:
    return f"/v1/collections/{quote(name)}"


def _entries(
    images: list[Image], texts: list[str], ids: Sequence[str] | None,
    metadata: Metadata | Sequence[Metadata | None] | None,
) -> list[_Entry]:  # fmt: skip
    inputs: list[str | Image] = [*images, *texts]
    if not inputs:
        raise ValueError("give at least one image or text to add")
    id_list = list(ids) if ids is not None else [None] * len(inputs)
    if isinstance(metadata, Mapping) or metadata is None:
        meta_list: list[Metadata | None] = [metadata] * len(inputs)
    else:
        meta_list = list(metadata)
    for what, values in (("ids", id_list), ("metadata", meta_list)):
        if len(values) != len(inputs):
            raise ValueError(f"{len(values)} {what} for {len(inputs)} inputs: give one per input")
    return list(zip(inputs, id_list, meta_list, strict=True))


def _gallery_item(value: str | Image, id: str | None, metadata: Metadata | None) -> dict[str, Any]:
    item: dict[str, Any] = {"text": value} if isinstance(value, str) else {"image": value.base64()}
    if id is not None:
        item["id"] = id
    if metadata is not None:
        item["metadata"] = dict(metadata)
    return item


def _query(
    text: str | None, image: Media | None, item: str | None, vector: Sequence[float] | None
) -> dict[str, Any]:
    given = [k for k, v in (("text", text), ("image", image), ("item", item), ("vector", vector))
             if v is not None]  # fmt: skip
    if len(given) != 1:
        raise ValueError(
            f"give exactly one of text, image, item and vector (got {given or 'none'})"
        )
    if text is not None:
        return {"type": "text", "text": text}
    if image is not None:
        return {"type": "image", "image": media.images(image)[0].base64()}
    if item is not None:
        return {"type": "item", "id": item}
    return {"type": "vector", "vector": [float(x) for x in vector or []]}
