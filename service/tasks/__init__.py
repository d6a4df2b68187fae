"""The use cases: one function per task, each resolving its model once and returning typed results.

``classify``, ``sentiment``, ``embed``, ``similarity``, ``rank`` and ``infer`` (raw tensors, for
the Open Inference Protocol) take the :class:`~service.inference.engine.Engine` and plain inputs
(:class:`Item`), and return the dataclasses of ``results.py``. Routers (v1, v2) only decode the
request, call one of these and shape the response. A new task is a new module here, built from
the same pieces: ``gallery`` (collections of stored vectors and search over them) embeds its items
and queries with ``embeddings.vectors``.

Nothing here imports FastAPI.
"""

from service.tasks.classify import classify, sentiment
from service.tasks.embeddings import embed, rank, similarity
from service.tasks.infer import Inferred, infer
from service.tasks.inputs import Item

__all__ = ["Inferred", "Item", "classify", "embed", "infer", "rank", "sentiment", "similarity"]
