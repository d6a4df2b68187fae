"""``/v1/collections``: collections of embedded images and texts, and search across modalities."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from service.api.deps import EngineDep, GalleryDep
from service.api.gallery_schemas import (
    AddItemsRequest,
    AddItemsResponse,
    CollectionDeleted,
    CollectionList,
    CollectionOut,
    CountResponse,
    CreateCollectionRequest,
    DeleteItemsRequest,
    DeleteItemsResponse,
    ImageQuery,
    ItemOut,
    ItemQuery,
    SearchRequest,
    SearchResponse,
    TextQuery,
    VectorQuery,
)
from service.api.inputs import MAX_TEXT, decode_base64
from service.api.routing import ServiceRoute
from service.errors import InvalidInputError
from service.gallery import CollectionInfo, parse_filter
from service.tasks import gallery as run
from service.tasks.inputs import Item

router = APIRouter(prefix="/v1/collections", tags=["gallery"], route_class=ServiceRoute)


@router.post("", response_model=CollectionOut, status_code=201)
async def create_collection(
    body: CreateCollectionRequest, engine: EngineDep, store: GalleryDep
) -> CollectionOut:
    """Create an empty collection of one embedding space (409 if the name is taken)."""
    info = await run.create(engine, store, body.name, body.space, body.description)
    return collection_out(info)


@router.get("", response_model=CollectionList)
async def list_collections(store: GalleryDep) -> CollectionList:
    """Every collection, with its size and the model versions that embedded it."""
    infos = await run.blocking(store.list_collections)
    return CollectionList(collections=[collection_out(i) for i in infos])


@router.get("/{name}", response_model=CollectionOut)
async def get_collection(name: str, store: GalleryDep) -> CollectionOut:
    """One collection (404 if unknown)."""
    return collection_out(await run.blocking(store.get_collection, name))


@router.delete("/{name}", response_model=CollectionDeleted)
async def delete_collection(name: str, store: GalleryDep) -> CollectionDeleted:
    """Delete a collection and every item in it."""
    await run.blocking(store.delete_collection, name)
    return CollectionDeleted(deleted=True, name=name)


@router.post("/{name}/items", response_model=AddItemsResponse)
async def add_items(
    name: str, body: AddItemsRequest, engine: EngineDep, store: GalleryDep
) -> AddItemsResponse:
    """Embed and upsert images (base64) and texts; an id defaults to the content's sha256."""
    entries = [run.Entry(_item(i.image, i.text, i.id), i.metadata) for i in body.items]
    return AddItemsResponse.model_validate(await run.add(engine, store, name, entries))


@router.post("/{name}/items/upload", response_model=AddItemsResponse)
async def upload_items(
    name: str,
    engine: EngineDep,
    store: GalleryDep,
    files: Annotated[list[UploadFile], File(description="images; repeat the field")],
    metadata: Annotated[str | None, Form(description="a JSON object for every file")] = None,
) -> AddItemsResponse:
    """Embed and upsert uploaded images; each gets ``metadata`` plus its ``filename``."""
    shared = _json_object(metadata, "metadata")
    entries = [
        run.Entry(Item(image=await f.read()), {**shared, "filename": f.filename or ""})
        for f in files
    ]
    return AddItemsResponse.model_validate(await run.add(engine, store, name, entries))


@router.get("/{name}/items/{item_id}", response_model=ItemOut)
async def get_item(
    name: str, item_id: str, store: GalleryDep, with_vector: bool = False
) -> ItemOut:
    """One item's metadata, and its vector with ``with_vector=true`` (404 if unknown)."""
    return ItemOut.model_validate(await run.get_item(store, name, item_id, with_vector))


@router.post("/{name}/items/delete", response_model=DeleteItemsResponse)
async def delete_items(
    name: str, body: DeleteItemsRequest, store: GalleryDep
) -> DeleteItemsResponse:
    """Delete items by ids, or every item that matches a filter."""
    deleted, count = await run.delete_items(store, name, body.ids, body.filter)
    return DeleteItemsResponse(deleted=deleted, count=count)


@router.get("/{name}/count", response_model=CountResponse)
async def count_items(name: str, store: GalleryDep) -> CountResponse:
    """How many items the collection holds."""
    return CountResponse(count=await run.blocking(store.count, name))


@router.post("/{name}/search", response_model=SearchResponse)
async def search(
    name: str, body: SearchRequest, engine: EngineDep, store: GalleryDep
) -> SearchResponse:
    """The items closest to a text, an image, a stored item or a vector (cosine, best first)."""
    result = await run.search(
        engine, store, name, _query(body.query), top_k=body.top_k, offset=body.offset,
        filter=body.filter, with_metadata=body.with_metadata, with_vectors=body.with_vectors,
    )  # fmt: skip
    return SearchResponse.model_validate(result)


@router.post("/{name}/search/upload", response_model=SearchResponse)
async def search_upload(
    name: str,
    engine: EngineDep,
    store: GalleryDep,
    file: Annotated[UploadFile | None, File(description="a query image")] = None,
    text: Annotated[str | None, Form(min_length=1, max_length=MAX_TEXT)] = None,
    top_k: Annotated[int, Form(ge=1, le=10_000)] = 10,
    offset: Annotated[int, Form(ge=0, le=1_000_000)] = 0,
    filter: Annotated[str | None, Form(description="a filter as a JSON string")] = None,
    with_metadata: Annotated[bool, Form()] = True,
    with_vectors: Annotated[bool, Form()] = False,
) -> SearchResponse:
    """Search by an uploaded image or a form text, with an optional filter (JSON string)."""
    if (file is None) == (text is None):
        raise InvalidInputError("give exactly one of file and text")
    query = run.Query(item=Item(image=await file.read()) if file else Item(text=text))
    result = await run.search(
        engine, store, name, query, top_k=top_k, offset=offset,
        filter=parse_filter(_json_object(filter, "filter") if filter else None),
        with_metadata=with_metadata, with_vectors=with_vectors,
    )  # fmt: skip
    return SearchResponse.model_validate(result)


def collection_out(info: CollectionInfo) -> CollectionOut:
    """The response shape of a collection."""
    spec = info.spec
    models = [{"name": n, "version": v} for n, v in sorted(spec.models.items())]
    return CollectionOut.model_validate({
        "name": spec.name, "space": spec.space, "description": spec.description,
        "dimension": spec.dimension, "count": info.item_count, "models": models,
        "created": info.created_at,
    })  # fmt: skip


def _item(image: str | None, text: str | None, item_id: str | None) -> Item:
    if image is not None:
        return Item(image=decode_base64(image), id=item_id)
    return Item(text=text, id=item_id)


def _query(query: TextQuery | ImageQuery | ItemQuery | VectorQuery) -> run.Query:
    if isinstance(query, TextQuery):
        return run.Query(item=Item(text=query.text))
    if isinstance(query, ImageQuery):
        return run.Query(item=Item(image=decode_base64(query.image)))
    if isinstance(query, ItemQuery):
        return run.Query(item_id=query.id)
    return run.Query(vector=query.vector)


def _json_object(text: str | None, field: str) -> dict[str, Any]:
    """A form field holding a JSON object ({} when absent), or a 422 naming the field."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{field} is not JSON: {exc}", field=field) from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{field} must be a JSON object", field=field)
    return value
