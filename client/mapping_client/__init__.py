"""A Python client of the mapping-serve API: ``Client`` (blocking) and ``AsyncClient``.

>>> from mapping_client import Client
>>> with Client("http://localhost:8000") as client:           # doctest: +SKIP
...     print(client.classify("cat.jpg")[0].top().label)
tiger cat
"""

from mapping_client.client import AsyncClient, Client
from mapping_client.errors import ServiceError
from mapping_client.media import Image
from mapping_client.transport import RetryPolicy
from mapping_client.types import (
    AddResult,
    Classification,
    Collection,
    DeleteResult,
    Embedding,
    Head,
    HeadInfo,
    Hit,
    Item,
    Label,
    ModelInfo,
    ModelRef,
    ModelState,
    Ranked,
    Readiness,
    SearchResults,
    Sentiment,
)

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AsyncClient",
    "Classification",
    "Client",
    "Collection",
    "DeleteResult",
    "Embedding",
    "Head",
    "HeadInfo",
    "Hit",
    "Image",
    "Item",
    "Label",
    "ModelInfo",
    "ModelRef",
    "ModelState",
    "Ranked",
    "Readiness",
    "RetryPolicy",
    "SearchResults",
    "Sentiment",
    "ServiceError",
    "__version__",
]
