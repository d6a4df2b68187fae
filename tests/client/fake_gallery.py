"""An in-memory stand-in for the gallery routes, written from /work/notes' contract (JSON routes).

The real routes are being built elsewhere; until they are wired, ``MMS_TEST_FAKE_GALLERY=1``
makes the live-server fixture include this router, so the client's, the command line's and the
web page's gallery code can be exercised against the contract. It embeds with the real engine
(``service.inference.spaces.embed``), so scores are real cosines. Not for production: no
persistence, no locking beyond the event loop, every search is a full scan.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from service.inference.spaces import MediaItem, embed

from service.api.deps import EngineDep
from service.api.inputs import decode_base64
from service.errors import InvalidInputError, ServiceError

router = APIRouter(prefix="/v1/collections", include_in_schema=False)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_STORE: dict[str, dict[str, Any]] = {}


class ConflictError(ServiceError):
    status = 409
    type = "conflict"


class NotFoundError(ServiceError):
    status = 404
    type = "not_found"


def _get(name: str) -> dict[str, Any]:
    if name not in _STORE:
        raise NotFoundError(f"no collection named {name!r}")
    return _STORE[name]


def _public(c: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "space", "description", "dimension", "created")
    return {k: c[k] for k in keys} | {"count": len(c["items"]), "models": c["models"]}


@router.post("", status_code=201)
async def create(body: dict[str, Any]) -> dict[str, Any]:
    name = str(body.get("name", ""))
    if not _NAME.match(name):
        raise InvalidInputError(f"name {name!r} does not match {_NAME.pattern}")
    if name in _STORE:
        raise ConflictError(f"a collection named {name!r} exists")
    _STORE[name] = {
        "name": name, "space": body.get("space", "semantic"),
        "description": body.get("description", ""), "dimension": None, "models": [],
        "created": datetime.now(timezone.utc).isoformat(), "items": {},
    }  # fmt: skip
    return _public(_STORE[name])


@router.get("")
async def list_all() -> dict[str, Any]:
    return {"collections": [_public(c) for c in _STORE.values()]}


@router.get("/{name}")
async def get(name: str) -> dict[str, Any]:
    return _public(_get(name))


@router.delete("/{name}")
async def delete(name: str) -> dict[str, Any]:
    _get(name)
    del _STORE[name]
    return {"deleted": True, "name": name}


@router.post("/{name}/items")
async def add(name: str, body: dict[str, Any], engine: EngineDep) -> dict[str, Any]:
    c = _get(name)
    items = body.get("items") or []
    limit = engine.settings.max_items
    if len(items) > limit:
        raise InvalidInputError(f"{len(items)} items in one request; the limit is {limit}",
                                limit=limit)  # fmt: skip
    media, ids = [], []
    for item in items:
        if ("image" in item) == ("text" in item):
            raise InvalidInputError("give exactly one of image and text per item")
        if "image" in item:
            data = decode_base64(item["image"])
            media.append(MediaItem("image", image=data))
            ids.append(item.get("id") or hashlib.sha256(data).hexdigest())
        else:
            media.append(MediaItem("text", text=item["text"]))
            ids.append(item.get("id") or hashlib.sha256(item["text"].encode()).hexdigest())
    vectors = await embed(engine, c["space"], media)
    for item, item_id, vec in zip(items, ids, vectors, strict=True):
        c["items"][item_id] = (_unit(vec.vector), item.get("metadata") or {})
        c["dimension"] = int(vec.vector.size)
        ref = {"name": vec.model, "version": engine.model(vec.model).manifest.version}
        if ref not in c["models"]:
            c["models"].append(ref)
    return {"ids": ids, "count": len(c["items"]), "model": c["models"][0] if c["models"] else None}


@router.get("/{name}/items/{item_id}")
async def get_item(name: str, item_id: str, with_vector: bool = Query(False)) -> dict[str, Any]:
    c = _get(name)
    if item_id not in c["items"]:
        raise NotFoundError(f"no item {item_id!r} in {name!r}")
    vector, metadata = c["items"][item_id]
    return {"id": item_id, "metadata": metadata} | (
        {"vector": vector.tolist()} if with_vector else {}
    )


@router.post("/{name}/items/delete")
async def delete_items(name: str, body: dict[str, Any]) -> dict[str, Any]:
    c = _get(name)
    if "ids" in body:
        doomed = [i for i in body["ids"] if i in c["items"]]
    else:
        doomed = [i for i, (_, m) in c["items"].items() if _matches(m, body.get("filter") or {})]
    for item_id in doomed:
        del c["items"][item_id]
    return {"deleted": len(doomed), "count": len(c["items"])}


@router.get("/{name}/count")
async def count(name: str) -> dict[str, Any]:
    return {"count": len(_get(name)["items"])}


@router.post("/{name}/search")
async def search(name: str, body: dict[str, Any], engine: EngineDep) -> JSONResponse:
    c = _get(name)
    query, model = await _query_vector(engine, c, body.get("query") or {})
    top_k, offset = int(body.get("top_k", 10)), int(body.get("offset", 0))
    scored = [(float(np.dot(query, v)), i, v, m) for i, (v, m) in c["items"].items()
              if _matches(m, body.get("filter") or {})]  # fmt: skip
    scored.sort(key=lambda s: -s[0])
    results = []
    for score, item_id, vector, metadata in scored[offset : offset + top_k]:
        hit: dict[str, Any] = {"id": item_id, "score": score}
        if body.get("with_metadata", True):
            hit["metadata"] = metadata
        if body.get("with_vectors"):
            hit["vector"] = vector.tolist()
        results.append(hit)
    return JSONResponse({"results": results, "model": model})


async def _query_vector(
    engine: Any, c: dict[str, Any], query: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any] | None]:
    kind = query.get("type")
    if kind == "item":
        if query.get("id") not in c["items"]:
            raise NotFoundError(f"no item {query.get('id')!r}")
        return c["items"][query["id"]][0], None
    if kind == "vector":
        return _unit(np.asarray(query["vector"], np.float32)), None
    if kind not in ("text", "image"):
        raise InvalidInputError("query.type must be text, image, item or vector")
    item = (MediaItem("text", text=query["text"]) if kind == "text"
            else MediaItem("image", image=decode_base64(query["image"])))  # fmt: skip
    (vec,) = await embed(engine, c["space"], [item])
    return _unit(vec.vector), {
        "name": vec.model,
        "version": engine.model(vec.model).manifest.version,
    }


def _matches(metadata: dict[str, Any], conditions: dict[str, Any]) -> bool:
    for field, want in conditions.items():
        have = metadata.get(field)
        if isinstance(want, dict):
            ops = {"in": lambda h, w: h in w, "gte": lambda h, w: h is not None and h >= w,
                   "gt": lambda h, w: h is not None and h > w,
                   "lte": lambda h, w: h is not None and h <= w,
                   "lt": lambda h, w: h is not None and h < w}  # fmt: skip
            if not all(ops[op](have, value) for op, value in want.items()):
                return False
        elif have != want:
            return False
    return True


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        raise InvalidInputError("a zero vector cannot be searched")
    return (vector / norm).astype(np.float32)
