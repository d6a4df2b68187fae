"""The fast image decode against the reference preprocessing: same answers, how much faster.

``python -m bench.decode --models-dir models`` (README "Performance") measures, for the vision
model's manifest:

(a) quality: every sample photo the build has (``training.data.photos``), random crops and
    mirror images of each, and a 1920x1280 version of each, all as JPEG (quality 90). Each is
    preprocessed twice: by the reference (Pillow's full decode, then the contract's
    ``image_tensor``) and by the service (``service.inference.images.image_input``: the scaled
    decode); both batches run through the model. Printed: top-1 agreement and the cosine
    between the two embeddings (median and minimum), per ``SCALE_MARGIN`` tried.
(b) speed, one thread, decode + the manifest's resize, crop and normalise per picture: Pillow,
    Pillow with ``draft`` (its own DCT scaling), and the service's path, for a 1920x1280 JPEG
    and for china.jpg as scikit-learn ships it (640x427).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from bench.raw import large_version
from contract.layout import latest_version_dir
from contract.manifest import MODEL_FILE, ImageInput, read_manifest
from contract.preprocess import image_tensor
from service.inference import images
from training.data.photos import SAMPLE_PHOTOS, load_photo

MAX_PIXELS = 40_000_000
JPEG_QUALITY = 90


def jpeg(image: Image.Image) -> bytes:
    """``image`` as a quality-90 JPEG file."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _crops(image: Image.Image, rng: np.random.Generator, count: int) -> list[Image.Image]:
    out = []
    for _ in range(count):
        side = rng.uniform(0.5, 0.9)
        w, h = int(image.width * side), int(image.height * side)
        x, y = int(rng.integers(0, image.width - w + 1)), int(rng.integers(0, image.height - h + 1))
        out.append(image.crop((x, y, x + w, y + h)))
    return out


def photo_set(crops: int = 4, seed: int = 0) -> list[bytes]:
    """Every sample photo, ``crops`` random crops, its mirror image and its 1920x1280 version."""
    rng = np.random.default_rng(seed)
    files = []
    for photo in SAMPLE_PHOTOS:
        image = load_photo(photo.name)
        variants = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), large_version(image)]
        files += [jpeg(v) for v in variants + _crops(image, rng, crops)]
    return files


def _reference(data: bytes, spec: ImageInput) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    return image_tensor(image.convert("RGB"), spec)


def _outputs(session: ort.InferenceSession, spec: ImageInput, batch: np.ndarray) -> list[Any]:
    names = [o.name for o in session.get_outputs()]
    chunks = [session.run(names, {spec.name: batch[i : i + 16]}) for i in range(0, len(batch), 16)]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def agreement(
    session: ort.InferenceSession, spec: ImageInput, files: list[bytes], margin: float
) -> dict[str, float]:
    """Top-1 agreement and embedding cosines, the service's decode (at ``margin``) vs reference."""
    reference = np.stack([_reference(f, spec) for f in files])
    saved, images.SCALE_MARGIN = images.SCALE_MARGIN, margin  # the one knob, tried per run
    try:
        served = np.stack([images.image_input(f, spec, MAX_PIXELS) for f in files])
    finally:
        images.SCALE_MARGIN = saved
    (ref_probs, ref_emb), (new_probs, new_emb) = (
        _outputs(session, spec, batch)[:2] for batch in (reference, served)
    )
    cosine = np.sum(ref_emb * new_emb, 1) / (
        np.linalg.norm(ref_emb, axis=1) * np.linalg.norm(new_emb, axis=1)
    )
    return {
        "margin": margin, "pictures": len(files),
        "top1_agreement": float(np.mean(ref_probs.argmax(1) == new_probs.argmax(1))),
        "cosine_median": float(np.median(cosine)), "cosine_min": float(np.min(cosine)),
    }  # fmt: skip


def _rate(work: Callable[[], object], seconds: float = 1.5) -> float:
    work()  # warm caches
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        work()
        count += 1
    return count / (time.perf_counter() - start)


def _pillow_draft(data: bytes, spec: ImageInput) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    shorter = spec.resize or min(spec.size)
    scale = images.SCALE_MARGIN * shorter / min(image.size)
    if scale < 1:
        image.draft("RGB", (int(image.width * scale), int(image.height * scale)))
    return image_tensor(image.convert("RGB"), spec)


def decode_rates(spec: ImageInput, files: dict[str, bytes]) -> dict[str, dict[str, float]]:
    """Pictures per second on one thread: Pillow, Pillow ``draft``, the service's decode."""
    ways: dict[str, Callable[[bytes], object]] = {
        "pillow": lambda d: _reference(d, spec),
        "pillow_draft": lambda d: _pillow_draft(d, spec),
        "service": lambda d: images.image_input(d, spec, MAX_PIXELS),
    }
    return {name: {way: _rate(lambda f=f, d=data: f(d)) for way, f in ways.items()}
            for name, data in files.items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Print (and return 0 after writing) the agreement and decode-rate figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="vision")
    parser.add_argument("--margins", default="2,1", help="SCALE_MARGIN values to compare")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    version_dir = latest_version_dir(args.models_dir, args.model)
    spec = read_manifest(version_dir).input("image")
    if not isinstance(spec, ImageInput):
        raise SystemExit(f"model {args.model!r} takes no image")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(version_dir / MODEL_FILE), options,
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    files = photo_set()
    report: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    report["agreement"] = [agreement(session, spec, files, float(m))
                           for m in args.margins.split(",")]  # fmt: skip
    import sklearn.datasets  # china.jpg as it ships, not re-encoded

    china = (Path(str(sklearn.datasets.__file__)).parent / "images" / "china.jpg").read_bytes()
    big = jpeg(large_version(load_photo("china")))
    report["rates_per_s"] = decode_rates(spec, {"1920x1280": big, "china.jpg 640x427": china})
    report["loadavg_end"] = os.getloadavg()
    for row in report["agreement"]:
        print(f"margin {row['margin']:g}: {row['pictures']} pictures, top-1 agreement "
              f"{row['top1_agreement']:.1%}, embedding cosine median {row['cosine_median']:.5f} "
              f"min {row['cosine_min']:.5f}")  # fmt: skip
    for name, rates in report["rates_per_s"].items():
        print(f"{name}: " + ", ".join(f"{way} {rate:.0f}/s" for way, rate in rates.items()))
    print(f"load average {report['loadavg_start']} -> {report['loadavg_end']}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"decode-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
