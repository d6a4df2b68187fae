"""The fast image decode against the reference preprocessing: same answers, how much faster.

``python -m bench.decode --models-dir models`` (README "Performance") measures, for the vision
model's manifest:

(a) quality: every photo the build has (the sample photos of ``training.data.photos`` and the
    20 labelled ImageNet photos of ``training.data.imagenet_photos``, the set the int8 gate
    uses), random crops and mirror images of each, and a 1920x1280 version of each, all as JPEG
    (quality 90). Each is preprocessed twice: by the reference (Pillow's full decode, then the
    contract's ``image_tensor``) and by the service (``service.inference.images.image_input``:
    the scaled decode); both batches run through the model. Printed per ``SCALE_MARGIN`` tried:
    top-1 agreement, the cosine between the two embeddings (median and minimum), the ImageNet
    photos' top-1 accuracy by either path, and each picture whose top-1 moved, with the
    reference's own margin between its first two classes.
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
from dataclasses import dataclass
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
from training.data.imagenet_photos import imagenet_photos
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


@dataclass(frozen=True)
class Picture:
    """One JPEG of the check: which photo and view it is, and the photo's ImageNet class."""

    name: str
    data: bytes
    label: int | None  # None for a sample photo (no ImageNet label)


def photo_set(crops: int = 4, seed: int = 0) -> list[Picture]:
    """Every photo, ``crops`` random crops, its mirror image and its 1920x1280 version."""
    rng = np.random.default_rng(seed)
    photos: list[tuple[str, Image.Image, int | None]] = [
        (p.name, load_photo(p.name), None) for p in SAMPLE_PHOTOS
    ]
    photos += [(p.name, p.load(), p.label) for p in imagenet_photos()]
    files = []
    for name, image, label in photos:
        views = {"original": image, "mirror": image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                 "1920x1280": large_version(image)}  # fmt: skip
        views |= {f"crop {i}": crop for i, crop in enumerate(_crops(image, rng, crops))}
        files += [Picture(f"{name} {view}", jpeg(v), label) for view, v in views.items()]
    return files


def _reference(data: bytes, spec: ImageInput) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    return image_tensor(image.convert("RGB"), spec)


def _outputs(session: ort.InferenceSession, spec: ImageInput, batch: np.ndarray) -> list[Any]:
    names = [o.name for o in session.get_outputs()]
    chunks = [session.run(names, {spec.name: batch[i : i + 16]}) for i in range(0, len(batch), 16)]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def agreement(
    session: ort.InferenceSession, spec: ImageInput, files: list[Picture], margin: float
) -> dict[str, Any]:
    """Top-1 agreement and embedding cosines, the service's decode (at ``margin``) vs reference."""
    reference = np.stack([_reference(f.data, spec) for f in files])
    saved, images.SCALE_MARGIN = images.SCALE_MARGIN, margin  # the one knob, tried per run
    try:
        served = np.stack([images.image_input(f.data, spec, MAX_PIXELS) for f in files])
    finally:
        images.SCALE_MARGIN = saved
    (ref_probs, ref_emb), (new_probs, new_emb) = (
        _outputs(session, spec, batch)[:2] for batch in (reference, served)
    )
    cosine = np.sum(ref_emb * new_emb, 1) / (
        np.linalg.norm(ref_emb, axis=1) * np.linalg.norm(new_emb, axis=1)
    )
    ref_top, new_top = ref_probs.argmax(1), new_probs.argmax(1)
    top_two = np.sort(ref_probs, axis=1)[:, -2:]
    labelled = [i for i, f in enumerate(files) if f.label is not None]
    labels = np.asarray([files[i].label for i in labelled])
    return {
        "margin": margin, "pictures": len(files),
        "top1_agreement": float(np.mean(ref_top == new_top)),
        "cosine_median": float(np.median(cosine)), "cosine_min": float(np.min(cosine)),
        "imagenet_pictures": len(labelled),
        "imagenet_top1_reference": float(np.mean(ref_top[labelled] == labels)),
        "imagenet_top1_service": float(np.mean(new_top[labelled] == labels)),
        "moved": [{"picture": files[i].name,
                   "reference_top2_gap": float(top_two[i, 1] - top_two[i, 0])}
                  for i in np.flatnonzero(ref_top != new_top)],
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
    parser.add_argument("--margins", default="1.25,2,1", help="SCALE_MARGIN values to compare")
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
              f"min {row['cosine_min']:.5f}; ImageNet top-1 ({row['imagenet_pictures']} "
              f"pictures) {row['imagenet_top1_reference']:.1%} reference, "
              f"{row['imagenet_top1_service']:.1%} service")  # fmt: skip
        for moved in row["moved"]:
            print(
                f"  top-1 moved: {moved['picture']} (the reference's first two classes "
                f"{moved['reference_top2_gap']:.3f} apart in probability)"
            )
    for name, rates in report["rates_per_s"].items():
        print(f"{name}: " + ", ".join(f"{way} {rate:.0f}/s" for way, rate in rates.items()))
    print(f"load average {report['loadavg_start']} -> {report['loadavg_end']}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"decode-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
