"""The inference core: model registry, ONNX Runtime sessions, batching, pre/post-processing.

Nothing in this package imports FastAPI; the HTTP layer (``service/api``) sits on top of it.
"""
