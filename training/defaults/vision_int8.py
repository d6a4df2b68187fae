"""The int8 variant of ``vision``: static QDQ calibrated on every real photo the build has, gated.

Samples: the 11 scikit-image/scikit-learn photos and the 20 labelled ImageNet photos of the
foolbox wheel, each in ``training.data.augment.VIEWS_PER_PHOTO`` crops and mirror images (view 0
is the photo itself), through the manifest's preprocessing. Calibration (MinMax) runs on all of
them; the gate then compares int8 with fp32 on the same samples (issue 16):

* the labelled sample photos still get an expected label (chelsea a cat, coffee espresso, ...);
* ImageNet-20 top-1 (the photos themselves) not worse than fp32's;
* top-1 agreement with fp32 at least ``MIN_AGREEMENT`` over every photo and view;
* median cosine of the embeddings at least ``MIN_COSINE_MEDIAN``;
* every cross-modal query fp32 ranks its photo first still ranks it first.

What stays fp32 (``_fp32_nodes``): the stem and the first MBConv block, and the softmax with
everything after it (the ConSE embedding). Quantizing the probabilities to 1/255 steps cost
embedding fidelity (median cosine 0.9993 against 0.9998) for no speed, since the trunk's
convolutions are the cost. The stem and block 0 see the image itself and run at 112x112, and
their quantization error reaches every later layer: on a VNNI CPU (2026-12-02 evening, one
MinMax calibration shared by every trial, the 434 views) leaving them fp32 lifted top-1
agreement from 0.947 to 0.963, the cosine minimum from 0.86 to 0.97 and the astronaut query's
margin from -0.008 to +0.006, and passed every check, at 3.99 ms an image on one thread against
4.31 all-int8 and 8.4 fp32. Measured beside it: the stem alone 0.947 (astronaut lost); stem and
blocks 0-1 0.968, 0-2 0.977, 0-5 0.982 (each lost ``imagenet_19``, whose fp32 margin is 0.022
in probability: 305 at 0.439 against 302 at 0.417); the last blocks and the head conv fp32
instead 0.77 with the shared calibration (worse than none; the earlier trial below, calibrated
for that graph, gave 0.945; not pursued). How close to the edge the ImageNet-20 check is: with
the service's crop-only resampling (``contract.preprocess``, within two levels of 255 on 0.005%
of the pixels) as the build's transform, the same build gave agreement 0.961 and cosine median
0.99989, and lost ``imagenet_19`` (0.85). The gate runs the reference transform.

Before that, with only the softmax and the head fp32, the build of 2026-12-02 measured: expected
labels 5/5, ImageNet-20 top-1 0.85 against fp32's 0.90 (one photo), top-1 agreement 0.947, cosine
median 0.9998, cross-modal 10/11 ("an astronaut" lost): the variant is not installed. Tried for the
agreement on the 434 samples: MinMax on all samples 0.947 (with or without the softmax quantized);
the residual Adds fp32 0.947 (no change: their neighbours quantize their inputs and outputs anyway);
the stem fp32 0.929; the head conv, pooling and classifier fp32 0.945; the classifier alone 0.942;
the four project convs with the largest fp32-vs-int8 error (``qdq_loss_debug``) fp32 0.942;
calibrating on the unmirrored half only 0.940; no weight-scale adjustment for int32 biases 0.947.
Every disagreement is a view whose fp32 top-1 is below 0.45 with a runner-up close behind (the page,
the Hubble field, corner crops), so the figure moves by a few views either way with any change; the
gate is kept as the issue sets it, and a variant below it is not installed.

Tried next (2026-12-02, scratch scripts on the same fp32 file, photos, views and gate functions;
load average 13-17 on 2 cores): *sequential bias correction* (Nagel et al. 2019, empirical
form): for each of the 49 Conv and the Gemm in graph order, the per-channel mean of the int8
output (every upstream bias already corrected) minus fp32's, fitted on every 4th view (109),
subtracted from the int32 bias, comparing the ReLU6-clipped outputs where the quantizer folded
the Clip: agreement 0.9724 (0.9754 on the 325 views not fitted on), cosine median 0.99991 (min
0.983 against 0.862), expected labels 5/5, but ImageNet-20 still 0.85 against 0.90 and
cross-modal still 10/11 ("an astronaut"), so it fails too (the lost ImageNet photo is
``imagenet_19``: fp32 gives its class 305 0.439, int8 gives class 302 0.465 and 305 0.370; 0.426
against 0.426 without the correction); comparing pre-activation outputs
instead: agreement 0.9654, cosine median 0.99987, the same two failures. Correcting all layers
at once (or ten at a time) instead of one by one corrects upstream shifts twice: agreement
0.74 (0.005 in groups of ten). MinMax with ``CalibMovingAverage`` (constant 0.01): agreement
0.9147, cosine median 0.9982; ``WeightSymmetric=False``: 0.947, no change. Cross-layer
equalization does not apply as published: ReLU6 is not scale-equivariant.

On an AVX2-only CPU (no VNNI or AMX, 2026-12-02, quiet) the same build measured agreement
0.862 and cosine median 0.9963, because ONNX Runtime's u8s8 kernels saturate there
(``contract.cpu``); the same file unfused (``_run(exact=True)``, what a VNNI CPU computes) gave
0.938 and 0.99977, ImageNet-20 0.90, and still lost "an astronaut". So the build records
``cpu_int8_dot`` and, on such a CPU, the exact-arithmetic figures beside the gate, which stands
on the build CPU's own kernels. Tried there (scratch scripts): uint8 weights (u8u8, no
saturation) 0.936 fused and 0.940 exact; 7-bit weights (``reduce_range``) 0.887; int8
activations 0.862; percentile and entropy calibration ran out of 24 GB memory (the histogram
calibrators keep every activation of 434 views); sequential bias correction on the exact
graph with u8u8 weights, fitted on every 4th view: exact 0.970 with every check passed but
the astronaut query, fused 0.963 with ImageNet-20 0.80; the same with the classifier fp32:
0.975 exact; fitted on all views (11 minutes): exact 0.965 with the astronaut back but
ImageNet-20 0.80, fused 0.968 with ImageNet-20 0.85 and the astronaut lost. The astronaut's
margin in fp32 is 0.012 (similarity 0.310 against 0.298 for the next photo) and
``imagenet_19``'s 0.013 in probability, so those two checks flip with any change of the
arithmetic; agreement and cosine are the figures that bias correction reliably lifts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from contract.cpu import cpu_int8_dot_flags
from contract.layout import MODEL_FILE, variant_file
from contract.manifest import ImageInput
from contract.preprocess import image_tensor
from training.data.augment import VIEWS_PER_PHOTO, views
from training.data.imagenet_photos import PhotosMissingError, imagenet_photos
from training.data.photos import SAMPLE_PHOTOS, load_photo
from training.export.quantize import ms_per_item, quantize_static_qdq
from training.export.variants import Candidate, failures

log = logging.getLogger(__name__)

PRECISION = "int8"
MIN_AGREEMENT = 0.95
MIN_COSINE_MEDIAN = 0.999
_HEAD_FROM = "Softmax"  # this node and every node after it stay fp32
_TRUNK_FROM = "/_blocks.1/"  # every node before the second MBConv block (stem, block 0) stays fp32


@dataclass(frozen=True)
class PhotoSet:
    """Every photo in every view, preprocessed: ``images`` ``(P * V, 3, H, W)``, photo-major."""

    images: np.ndarray
    names: list[str]
    imagenet_labels: list[int | None]  # the class of a foolbox photo, None for a sample photo

    def originals(self) -> np.ndarray:
        """The index of each photo's own view (view 0) in ``images``."""
        return np.arange(len(self.names)) * VIEWS_PER_PHOTO


def photo_set(spec: ImageInput) -> PhotoSet:
    """The sample and ImageNet photos with their views (``PhotosMissingError`` without foolbox)."""
    labelled = imagenet_photos()
    photos = [load_photo(p.name) for p in SAMPLE_PHOTOS] + [p.load() for p in labelled]
    images = np.stack([image_tensor(view, spec) for photo in photos for view in views(photo)])
    return PhotoSet(
        images,
        [p.name for p in SAMPLE_PHOTOS] + [p.name for p in labelled],
        [None] * len(SAMPLE_PHOTOS) + [p.label for p in labelled],
    )


def _run(path: Path, images: np.ndarray, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and embeddings of ``images``; ``exact`` runs the QDQ graph unfused.

    Unfused, every QuantizeLinear/DequantizeLinear runs as written and the convolutions in
    fp32 on dequantized integers: the arithmetic of a CPU whose int8 sums cannot saturate
    (``contract.cpu``), whatever CPU the build has.
    """
    options = ort.SessionOptions()
    if exact:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    probs, embeddings = [], []
    for start in range(0, len(images), 16):
        p, e = session.run(["imagenet", "embedding"], {"image": images[start : start + 16]})
        probs.append(p)
        embeddings.append(e)
    return np.concatenate(probs), np.concatenate(embeddings)


def _fp32_nodes(model_path: Path) -> list[str]:
    """The stem, the first block, the softmax and the ConSE head (not their Constants)."""
    nodes = list(onnx.load(str(model_path), load_external_data=False).graph.node)
    trunk = next(k for k, node in enumerate(nodes) if _TRUNK_FROM in node.name)
    head = next(k for k, node in enumerate(nodes) if node.op_type == _HEAD_FROM)
    return [n.name for n in nodes[:trunk] + nodes[head:] if n.op_type != "Constant"]


def gate_figures(
    photos: PhotoSet,
    fp32: tuple[np.ndarray, np.ndarray],
    int8: tuple[np.ndarray, np.ndarray],
    labels: list[str],
    queries: np.ndarray,
) -> tuple[dict[str, Any], list[str]]:
    """The gate's figures for int8 against fp32 on ``photos``, and the checks that failed."""
    (p32, e32), (p8, e8) = fp32, int8
    top32, top8 = p32.argmax(1), p8.argmax(1)
    own = photos.originals()
    expected = [(k, set(p.labels)) for k, p in enumerate(SAMPLE_PHOTOS) if p.labels]
    right = sum(labels[top8[own[k]]] in want for k, want in expected)
    net = [(k, c) for k, c in enumerate(photos.imagenet_labels) if c is not None]
    net32 = float(np.mean([top32[own[k]] == c for k, c in net]))
    net8 = float(np.mean([top8[own[k]] == c for k, c in net]))
    agreement = float(np.mean(top32 == top8))
    cosine = np.sum(e32 * e8, axis=1)  # both unit vectors
    samples = own[: len(SAMPLE_PHOTOS)]
    first32 = (queries @ e32[samples].T).argmax(1)
    first8 = (queries @ e8[samples].T).argmax(1)
    kept = [k for k in range(len(samples)) if first32[k] == k]
    lost = [SAMPLE_PHOTOS[k].name for k in kept if first8[k] != k]
    figures = {
        "samples": len(top32),
        "sample_photos_expected_label": f"{right}/{len(expected)}",
        "imagenet20_top1": {"fp32": round(net32, 4), "int8": round(net8, 4)},
        "top1_agreement": round(agreement, 4),
        "embedding_cosine": {
            "median": round(float(np.median(cosine)), 5),
            "min": round(float(cosine.min()), 5),
        },
        "crossmodal_ranked_first": {
            "fp32": f"{len(kept)}/{len(samples)}",
            "int8": f"{len(kept) - len(lost)}/{len(samples)}",
        },
    }
    failed = failures(
        [
            (
                right == len(expected),
                f"sample photos with an expected label {right}/{len(expected)}",
            ),
            (net8 >= net32, f"ImageNet-20 top-1 {net8:.2f} below fp32's {net32:.2f}"),
            (agreement >= MIN_AGREEMENT, f"top-1 agreement {agreement:.4f} < {MIN_AGREEMENT}"),
            (
                float(np.median(cosine)) >= MIN_COSINE_MEDIAN,
                f"embedding cosine median {np.median(cosine):.5f} < {MIN_COSINE_MEDIAN}",
            ),
            (not lost, f"queries no longer ranking their photo first: {lost}"),
        ]
    )
    return figures, failed


class VisionInt8:
    """The variants hook of ``build_vision``: quantize the staged fp32 file, then gate it."""

    def __init__(self, spec: ImageInput, labels: list[str], queries: np.ndarray) -> None:
        self.spec, self.labels, self.queries = spec, labels, queries

    def __call__(self, staged: Path) -> list[Candidate]:
        started = time.perf_counter()
        file = variant_file(PRECISION)
        try:
            photos = photo_set(self.spec)
        except PhotosMissingError as exc:
            return [Candidate(PRECISION, file, skipped=str(exc))]
        fp32_path, int8_path = staged / MODEL_FILE, staged / file
        method = quantize_static_qdq(
            fp32_path, int8_path, "image", photos.images, exclude=_fp32_nodes(fp32_path)
        )
        method["calibration"] = (
            f"{len(photos.names)} photos (scikit-image, scikit-learn, foolbox ImageNet) x "
            f"{VIEWS_PER_PHOTO} crops and mirror images"
        )
        fp32, int8 = _run(fp32_path, photos.images), _run(int8_path, photos.images)
        figures, failed = gate_figures(photos, fp32, int8, self.labels, self.queries)
        figures["cpu_int8_dot"] = sorted(cpu_int8_dot_flags())
        if not figures["cpu_int8_dot"]:
            # The gate stands on this CPU's kernels; these say what a VNNI/AMX CPU would get.
            exact, _ = gate_figures(
                photos, fp32, _run(int8_path, photos.images, exact=True), self.labels, self.queries
            )
            figures["exact_int8_arithmetic"] = {k: v for k, v in exact.items() if k != "samples"}
            log.info(
                "vision int8 in exact arithmetic (this CPU has no VNNI/AMX): %s",
                figures["exact_int8_arithmetic"],
            )
        one = photos.images[photos.originals()]
        figures["ms_per_image_1_thread"] = {
            "fp32": ms_per_item(fp32_path, {"image": one}),
            "int8": ms_per_item(int8_path, {"image": one}),
        }
        seconds = time.perf_counter() - started
        return [Candidate(PRECISION, file, method, figures, failed, seconds)]
