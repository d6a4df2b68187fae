"""The benchmark's LitServe peer: the vision model behind LitServe 0.2.19, batching 8 / 5 ms.

The same ONNX file (``BENCH_MODEL_FILE``, default ``model.onnx``), session options (``MMS_*``)
and preprocessing as the plain app (``bench/baseline.py``: the standard library's base64,
Pillow's full decode, then the contract's ``image_tensor``), the same request and response
shapes as ``POST /v1/classify``; LitServe collects up to 8 requests or waits 5 ms, then runs
them as one ``session.run``. Its readiness probe is ``GET /health``.

``python -m bench.litserve_peer --port 8001`` (the benchmark starts it in a child process).
"""

# No ``from __future__ import annotations``: LitServe reads decode_request's and
# encode_response's annotations at run time to build its FastAPI endpoint.
import argparse
import base64
import os
from typing import Any

import litserve as ls
import numpy as np

from bench.baseline import top_k_heads
from bench.raw import open_session
from contract.layout import latest_version_dir
from contract.manifest import MODEL_FILE, ImageInput, read_manifest
from service.inference.images import decode_image, image_tensor
from service.settings import Settings

MAX_BATCH_SIZE = 8
BATCH_TIMEOUT_S = 0.005


class VisionAPI(ls.LitAPI):  # type: ignore[misc]  # litserve ships no type hints
    """decode_request -> batch -> predict -> unbatch -> encode_response, LitServe's hooks."""

    def setup(self, device: str) -> None:
        settings = Settings()
        self.name = os.environ.get("BENCH_MODEL", "vision")
        version_dir = latest_version_dir(settings.model_dir, self.name)
        self.manifest = read_manifest(version_dir)
        spec = self.manifest.input("image")
        if not isinstance(spec, ImageInput):
            raise ValueError(f"model {self.name!r} has no image input")
        self.spec, self.max_pixels = spec, settings.max_image_pixels
        model_file = os.environ.get("BENCH_MODEL_FILE", MODEL_FILE)
        self.session = open_session(version_dir, settings, model_file)
        self.names = [o.name for o in self.manifest.outputs]

    def decode_request(self, request: dict[str, Any]) -> tuple[np.ndarray, int]:
        (item,) = request["items"]  # the benchmark sends one image per request
        picture = decode_image(base64.b64decode(item["image"], validate=True), self.max_pixels)
        return image_tensor(picture, self.spec), int(request.get("top_k", 5))

    def batch(self, inputs: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, list[int]]:
        return np.stack([tensor for tensor, _ in inputs]), [k for _, k in inputs]

    def predict(self, x: tuple[np.ndarray, list[int]]) -> list[dict[str, Any]]:
        batch, ks = x
        arrays = self.session.run(self.names, {self.spec.name: batch})
        return [{"outputs": {n: a[i : i + 1] for n, a in zip(self.names, arrays, strict=True)},
                 "top_k": k} for i, k in enumerate(ks)]  # fmt: skip

    def unbatch(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return output

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        heads = top_k_heads(self.manifest, output["outputs"], output["top_k"])
        return {"model": self.name, "version": self.manifest.version, "results": [{"heads": heads}]}


def main(argv: list[str] | None = None) -> None:
    """Serve :class:`VisionAPI` on ``/v1/classify`` until terminated."""
    parser = argparse.ArgumentParser(prog="python -m bench.litserve_peer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    api = VisionAPI(max_batch_size=MAX_BATCH_SIZE, batch_timeout=BATCH_TIMEOUT_S,
                    api_path="/v1/classify")  # fmt: skip
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, timeout=60)
    server.run(host=args.host, port=args.port, num_api_servers=1, log_level="warning",
               generate_client_file=False)  # fmt: skip


if __name__ == "__main__":
    main()
