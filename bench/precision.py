"""fp32 against int8: milliseconds per item at 1 and 2 threads, and the service's resident memory.

    python -m bench.precision --models-dir models [--threads 1,2] [--rss]

For every model whose served version lists an int8 variant, one item at a time (batch 1, the
case of a lone request) through a session made as the service makes it (``MMS_*`` settings,
with ``intra_op_threads`` set per column): the sample photos for image models, a mix of short
and long sentences for text models. ``--rss`` also starts the service twice on all models,
``MMS_PRECISION=fp32`` then ``auto``, and prints its RSS when ready (``bench.startup``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from contract import layout
from contract.manifest import Manifest, read_manifest
from service.inference.prepare import Preprocessor
from service.inference.session import Inputs, ModelRunner, SessionConfig, create_session
from service.settings import Settings

SENTENCES = (
    "Great!",
    "The service was slow and rude.",
    "I did not expect much from this film, but the acting and the music won me over completely.",
    "An uneven, overlong sequel that wastes a fine cast on a plot nobody could care about, "
    "with two good scenes and a soundtrack that does most of the work.",
)
ROUNDS = 5


def _items(manifest: Manifest, version_dir: Path) -> list[Inputs]:
    from bench.raw import sample_jpegs

    prep = Preprocessor(manifest, version_dir, max_image_pixels=40_000_000, max_text_chars=4096)
    if manifest.modalities == {"image"}:
        return [prep.prepare(image=jpeg) for jpeg in sample_jpegs()]
    if manifest.modalities == {"text"}:
        return [prep.prepare(text=text) for text in SENTENCES]
    raise ValueError(f"{manifest.name}: only image or text models are timed here")


def ms_per_item(version_dir: Path, manifest: Manifest, precision: str, threads: int) -> float:
    """Median milliseconds of one item through ``precision``'s file at ``threads`` threads."""
    settings = Settings(providers="cpu", intra_op_threads=threads, inter_op_threads=1)
    config = SessionConfig.from_settings(settings).resolved()
    session = create_session(version_dir / manifest.model_file(precision), config)
    runner = ModelRunner(manifest, session)
    items = _items(manifest, version_dir)
    runner.run(items[:1])  # warm-up
    times = []
    for _ in range(ROUNDS):
        for item in items:
            start = time.perf_counter()
            runner.run([item])
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _timings(models_dir: Path, threads: list[int]) -> None:
    print("| model | threads | fp32 ms/item | int8 ms/item | speed-up |")
    print("|---|---|---|---|---|")
    for name in layout.model_names(models_dir):
        version_dir = layout.latest_version_dir(models_dir, name)
        manifest = read_manifest(version_dir)
        if manifest.variant("int8") is None:
            continue
        for n in threads:
            fp32, int8 = (ms_per_item(version_dir, manifest, p, n) for p in ("fp32", "int8"))
            print(f"| {name} | {n} | {fp32:.2f} | {int8:.2f} | {fp32 / int8:.2f}x |")


def _rss(models_dir: Path, timeout_s: float) -> None:
    from bench.startup import measure_once

    for precision in ("fp32", "auto"):
        run = measure_once(models_dir, timeout_s, {"MMS_PRECISION": precision})
        int8 = [name for name, served in run.precisions.items() if served == "int8"]
        print(
            f"MMS_PRECISION={precision}: RSS when ready {run.rss_mib:.0f} MiB, "
            f"ready in {run.seconds:.1f} s, {len(run.models)} models, "
            f"int8: {', '.join(int8) or 'none'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    parser.add_argument("--rss", action="store_true", help="also the service's RSS, fp32 vs auto")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    _timings(args.models_dir, [int(t) for t in args.threads.split(",")])
    if args.rss:
        _rss(args.models_dir, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
