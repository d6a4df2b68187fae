"""The benchmark's images and its reference: the raw in-process pipeline, no HTTP, no batcher.

"Raw" is what a script that owns the model would do: decode and preprocess a batch of JPEGs with
the service's own functions (so the work is identical), stack them, one ``session.run``. Its best
throughput over several batch sizes is the ceiling the served pipeline is compared with, and
its batch-of-one latency is the floor for a single request.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from contract.manifest import MODEL_FILE, ImageInput
from service.inference.images import decode_image, image_tensor
from service.inference.session import SessionConfig, create_session
from service.settings import Settings

__all__ = ["RawResult", "large_jpeg", "large_version", "measure_raw", "open_session", "photo_path",
           "sample_jpegs"]

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
MAX_PIXELS = 40_000_000
LARGE = (1920, 1280)  # a camera-sized photo, the large input


def open_session(
    version_dir: Path, settings: Settings, model_file: str = MODEL_FILE
) -> ort.InferenceSession:
    """A session created exactly as the service creates it, from the same ``MMS_*`` settings."""
    config = SessionConfig.from_settings(settings).resolved()
    return create_session(version_dir / model_file, config)


def _photo_paths() -> list[Path]:
    """The sample photos scikit-image and scikit-learn ship, when they are installed."""
    paths: list[Path] = []
    for module, folder, names in (
        ("skimage", "data", ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg")),
        ("sklearn.datasets", "images", ("china.jpg", "flower.jpg")),
    ):
        try:
            package = __import__(module, fromlist=["__file__"])
        except ImportError:
            continue
        root = Path(str(package.__file__)).parent / folder
        paths += [root / name for name in names if (root / name).is_file()]
    return paths


def photo_path(name: str) -> Path:
    """The path of one packaged sample photo (``china.jpg``, ``chelsea.png``, ...)."""
    for path in _photo_paths():
        if path.name == name:
            return path
    raise FileNotFoundError(f"{name} is not among the sample photos installed here")


def large_version(image: Image.Image, size: tuple[int, int] = LARGE) -> Image.Image:
    """``image`` scaled to cover ``size`` and centre-cropped to it (a camera-sized photo)."""
    scale = max(size[0] / image.width, size[1] / image.height)
    scaled = image.resize((round(image.width * scale), round(image.height * scale)),
                          Image.Resampling.BICUBIC)  # fmt: skip
    left, top = (scaled.width - size[0]) // 2, (scaled.height - size[1]) // 2
    return scaled.crop((left, top, left + size[0], top + size[1]))


def large_jpeg(size: tuple[int, int] = LARGE) -> bytes:
    """A ``size`` JPEG (quality 90) made from china.jpg (a synthetic picture without it)."""
    try:
        image = Image.open(photo_path("china.jpg")).convert("RGB")
    except FileNotFoundError:
        image = _synthetic(0)
    buffer = io.BytesIO()
    large_version(image, size).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _synthetic(seed: int) -> Image.Image:
    """A 640x480 picture with smooth gradients and noise, so JPEG has real work to do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    base = np.stack([x / 640 * 255, y / 480 * 255, (x + y) / 1120 * 255], axis=-1)
    noisy = base + rng.normal(0, 20, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def sample_jpegs(count: int = 6) -> list[bytes]:
    """``count`` JPEG files (quality 90): real photos when available, else synthetic pictures."""
    images = [Image.open(path).convert("RGB") for path in _photo_paths()]
    images += [_synthetic(seed) for seed in range(max(0, count - len(images)))]
    out = []
    for image in images[:count]:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        out.append(buffer.getvalue())
    return out


@dataclass(frozen=True)
class RawResult:
    """Median seconds per batch and images/s of the raw pipeline, per batch size."""

    seconds_per_batch: dict[int, float]
    images_per_s: dict[int, float]
    best_batch: int
    best_images_per_s: float
    single_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RunFn = Callable[[np.ndarray], object]


def _one_batch(run: RunFn, spec: ImageInput, jpegs: list[bytes]) -> float:
    start = time.perf_counter()
    batch = np.stack([image_tensor(decode_image(data, MAX_PIXELS), spec) for data in jpegs])
    run(batch)
    return time.perf_counter() - start


def _time_batch_size(
    run: RunFn, spec: ImageInput, jpegs: list[bytes], size: int, images: int
) -> float:
    rounds = max(3, math.ceil(images / size))
    batches = [[jpegs[(r * size + i) % len(jpegs)] for i in range(size)] for r in range(rounds)]
    _one_batch(run, spec, batches[0])  # warm-up: ORT's first run at a new shape is slower
    return float(np.median([_one_batch(run, spec, batch) for batch in batches]))


def measure_raw(
    run: RunFn, spec: ImageInput, jpegs: list[bytes], batch_sizes: list[int], images: int = 64
) -> RawResult:
    """Time decode + preprocess + ``run`` per batch size (median over about ``images`` images).

    Args:
        run: runs the model on a float32 ``(B, 3, H, W)`` batch (one ``session.run``).
        spec: the model's image input, for preprocessing.
        jpegs: encoded pictures, used round-robin.
        batch_sizes: the sizes to try; size 1 is always measured (the single-call latency).
        images: about how many images to time per batch size (at least 3 batches).
    """
    sizes = sorted({1, *batch_sizes})
    per_batch = {size: _time_batch_size(run, spec, jpegs, size, images) for size in sizes}
    rates = {size: size / seconds for size, seconds in per_batch.items()}
    best = max(rates, key=lambda size: rates[size])
    for size in sizes:
        log.info("raw batch %3d: %7.1f ms/batch %6.1f images/s", size, per_batch[size] * 1e3,
                 rates[size])  # fmt: skip
    return RawResult(per_batch, rates, best, rates[best], per_batch[1] * 1000)
