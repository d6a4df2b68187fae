"""The Open Inference Protocol (KServe V2) REST surface: codec, schemas, infer, routes, errors."""

from service.api.v2.repository import router as repository_router
from service.api.v2.routes import health_router, router

__all__ = ["health_router", "repository_router", "router"]
