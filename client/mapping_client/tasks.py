"""The model endpoints: classify, sentiment, embed, similarity, rank, models and health.

Each method is an operation (see ``protocol``); ``Client`` and ``AsyncClient`` expose it under
the same name, returning what the docstring says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from mapping_client import media
from mapping_client.base import Operations
from mapping_client.errors import ServiceError
from mapping_client.media import Image, ImageInput, Media
from mapping_client.protocol import Call, Operation, Reply, Sleep, call, quote
from mapping_client.types import (
    Classification,
    Embedding,
    Head,
    ModelInfo,
    Ranked,
    Readiness,
    Sentiment,
)  # fmt: skip

Pair = tuple[Image | None, str | None]


class TaskOperations(Operations):
    """classify, sentiment, embed, similarity, rank, models, model, live, ready, wait_ready."""

    def classify(
        self,
        images: ImageInput | Sequence[ImageInput] | None = None,
        *,
        texts: str | Sequence[str] | None = None,
        model: str = "vision",
        tasks: str | Sequence[str] | None = None,
        top_k: int = 5,
    ) -> Operation[list[Classification]]:
        """Classify images (and/or texts, for models that take them) with a model's heads.

        Args:
            images: one image or a list (path, bytes, PIL image, numpy array).
            texts: one text per image for fusion models, or texts alone for text models.
            model: any model with classification heads (``GET /v1/models``).
            tasks: head names or tasks to return; every head when omitted.
            top_k: labels per classification head.

        Returns:
            One ``Classification`` per item, in order; ``result.top()`` is the best label.
        """
        items = _pair(media.images(images), media.texts(texts))
        heads = media.texts(tasks) if tasks is not None else None

        def build(chunk: Sequence[Pair]) -> Call:
            body: dict[str, Any] = {"model": model, "items": [_item(*p) for p in chunk]}
            body |= {"top_k": top_k} | ({"tasks": heads} if heads else {})
            return Call("POST", "/v1/classify", json=body)

        replies = yield from self._batched(items, build, [_pair_size(p) for p in items])
        return [
            Classification(
                r.body["model"],
                r.body["version"],
                {name: Head.from_json(h) for name, h in res["heads"].items()},
            )
            for r in replies
            for res in r.body["results"]
        ]

    def sentiment(
        self,
        texts: str | Sequence[str],
        *,
        images: ImageInput | Sequence[ImageInput] | None = None,
        model: str = "text",
    ) -> Operation[list[Sentiment]]:
        """Sentiment label, class probabilities and valence (-4..4) of each text.

        Returns:
            One ``Sentiment`` per text, in order.
        """
        items = _pair(media.images(images), media.texts(texts))

        def build(chunk: Sequence[Pair]) -> Call:
            body = {"model": model, "items": [_item(*p) for p in chunk]}
            return Call("POST", "/v1/sentiment", json=body)

        replies = yield from self._batched(items, build, [_pair_size(p) for p in items])
        return [
            Sentiment.from_json(res, r.body["model"], r.body["version"])
            for r in replies
            for res in r.body["results"]
        ]

    def embed(
        self, inputs: Media | Sequence[Media], *, space: str = "semantic"
    ) -> Operation[list[Embedding]]:
        """Embed texts (``str``) and images (anything else) in one embedding space.

        Returns:
            One ``Embedding`` per input, in order.
        """
        items = media.media(inputs)

        def build(chunk: Sequence[str | Image]) -> Call:
            body = {"space": space, "inputs": [media.media_item(i) for i in chunk]}
            return Call("POST", "/v1/embed", json=body)

        replies = yield from self._batched(items, build, [media.wire_size(i) for i in items])
        return [Embedding.from_json(e) for r in replies for e in r.body["embeddings"]]

    def similarity(
        self, pairs: Sequence[tuple[Media, Media]], *, space: str = "semantic"
    ) -> Operation[list[float]]:
        """Cosine similarity of each ``(a, b)`` pair (text-text, image-text or image-image).

        Returns:
            One cosine per pair, in order.
        """
        flat = [tuple(media.media([a, b])) for a, b in pairs]

        def build(chunk: Sequence[tuple[str | Image, ...]]) -> Call:
            body = {"space": space, "pairs": [
                {"a": media.media_item(a), "b": media.media_item(b)} for a, b in chunk
            ]}  # fmt: skip
            return Call("POST", "/v1/similarity", json=body)

        sizes = [sum(media.wire_size(x) for x in pair) for pair in flat]
        replies = yield from self._batched(flat, build, sizes, weight=2)
        return [float(s) for r in replies for s in r.body["scores"]]

    def rank(
        self,
        query: Media,
        candidates: Sequence[Media],
        *,
        space: str = "semantic",
        temperature: float | None = None,
        top_k: int | None = None,
    ) -> Operation[list[Ranked]]:
        """Rank candidates (texts or images) against a query (a text or an image), best first.

        More candidates than one request holds are ranked in several requests; the softmax is
        then computed here over all of them, as the service would.

        Returns:
            ``Ranked`` entries best first: the candidate's index, cosine and softmax
            probability (of ``temperature * cosine``), and its text when it was one.
        """
        (the_query,) = media.media([query])
        options = media.media(candidates)
        query_json = media.media_item(the_query)  # encoded once, sent with every batch

        def build(chunk: Sequence[str | Image]) -> Call:
            body: dict[str, Any] = {"space": space, "query": query_json,
                                    "candidates": [media.media_item(c) for c in chunk]}  # fmt: skip
            if temperature is not None:
                body["temperature"] = temperature
            return Call("POST", "/v1/rank", json=body)

        sizes = [media.wire_size(c) for c in options]
        replies = yield from self._batched(options, build, sizes, reserve=1)
        return _merge_ranks(replies, options, top_k)

    def models(self) -> Operation[list[ModelInfo]]:
        """Every model: state, versions, heads with labels, execution provider and metrics."""
        reply = yield from call(Call("GET", "/v1/models"))
        return [ModelInfo.from_json(m) for m in reply.body["models"]]

    def model(self, name: str) -> Operation[ModelInfo]:
        """One model's description (``ServiceError`` 404 for an unknown name)."""
        reply = yield from call(Call("GET", f"/v1/models/{quote(name)}"))
        return ModelInfo.from_json(reply.body)

    def live(self) -> Operation[bool]:
        """``True`` while the service answers (``GET /health/live``)."""
        reply = yield from call(Call("GET", "/health/live", retry=False))
        return reply.status == 200

    def ready(self) -> Operation[Readiness]:
        """The readiness report; ``ready`` is ``False`` (not an error) while models load."""
        reply = yield from call(Call("GET", "/health/ready", accept=frozenset({503}), retry=False))
        return Readiness.from_json(reply.body or {})

    def wait_ready(self, timeout_s: float = 60.0, interval_s: float = 0.25) -> Operation[Readiness]:
        """Poll readiness until every model is ready; ``ServiceError`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        last: str = "no answer yet"
        while True:
            try:
                state = yield from self.ready()
                if state.ready:
                    return state
                last = ", ".join(f"{n}: {m.state}" for n, m in state.models.items())
            except ServiceError as error:
                if error.type not in ("connection_error", "timeout"):
                    raise
                last = error.message
            if time.monotonic() >= deadline:
                raise ServiceError(f"the service was not ready after {timeout_s} s ({last})",
                                   type="not_ready")  # fmt: skip
            yield Sleep(interval_s)


def _pair(images: list[Image], texts: list[str]) -> list[Pair]:
    if images and texts and len(images) != len(texts):
        raise ValueError(f"{len(images)} images and {len(texts)} texts: give one text per image")
    count = max(len(images), len(texts))
    if count == 0:
        raise ValueError("give at least one image or text")
    pictures: list[Image | None] = list(images) or [None] * count
    words: list[str | None] = list(texts) or [None] * count
    return list(zip(pictures, words, strict=True))


def _item(image: Image | None, text: str | None) -> dict[str, str]:
    item = {"image": image.base64()} if image is not None else {}
    return item | ({"text": text} if text is not None else {})


def _pair_size(pair: Pair) -> int:
    return sum(media.wire_size(x) for x in pair if x is not None)


def _merge_ranks(
    replies: Sequence[Reply], options: Sequence[str | Image], top_k: int | None
) -> list[Ranked]:
    """One ranking from the rankings of consecutive candidate batches."""
    cosines: list[float] = []
    probs: list[float] = []
    for reply in replies:
        batch = sorted(reply.body["results"], key=lambda r: r["index"])
        cosines += [float(r["cosine"]) for r in batch]
        probs += [float(r["probability"]) for r in batch]
    if len(replies) > 1:  # the service's softmax covered one batch only: redo it over all
        temperature = float(replies[0].body["temperature"])
        peak = max(cosines)
        weights = [math.exp(temperature * (c - peak)) for c in cosines]
        total = sum(weights)
        probs = [w / total for w in weights]
    order = sorted(range(len(cosines)), key=lambda i: -cosines[i])[: top_k or len(cosines)]
    labels = [o if isinstance(o, str) else None for o in options]
    return [Ranked(i, cosines[i], probs[i], labels[i]) for i in order]
