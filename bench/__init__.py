"""Benchmarks of the service, kept out of the runtime package (extra: ``.[bench]``).

* ``python -m bench`` (``make bench``): raw ONNX Runtime pipeline vs the service over HTTP vs a
  plain FastAPI app (``serving.py``, with ``raw.py``, ``load.py``, ``client.py``, ``server.py``
  and ``baseline.py``).
* ``python -m bench.startup``: seconds from process start to ready, and resident memory.
"""
