"""The ``index`` command on a folder of photos: its rate beside raw ``/v1/embed``, and a resume.

    python bench/index_folder.py                        # starts a service on models/ itself
    python bench/index_folder.py --url http://localhost:8000 --count 1000

1. Makes ``--count`` JPEGs (default 1,000) in ``--folder``: scikit-image's and scikit-learn's
   sample photos and augmented variants of them (random crops, flips, colour jitter), in
   sub-folders of 100, every file distinct.
2. Raw throughput: ``Client.embed`` of the same files, in batches of the item limit, one request
   at a time; measured before and after step 3, since the rate of shared CPUs drifts.
3. ``mapping-serve index FOLDER --collection A``: wall time and images/s.
4. Resume: ``index`` into a fresh collection B, SIGINT after ``--interrupt-after`` seconds
   (as Ctrl-C), then the same command again; reports how many photos the resumed run sent
   (it should be exactly the photos B did not hold yet).

Prints a table and writes ``bench-results/index_folder.json``. Needs the gallery routes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mapping_client import Client
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results"
SAMPLES = ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "motorcycle_left.png",
           "hubble_deep_field.jpg", "camera.png", "page.png")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    photos = make_folder(args.folder, args.count, args.seed)
    print(f"{len(photos)} photos in {args.folder}", file=sys.stderr)
    with service(args) as url, Client(url, timeout=300) as client:
        results: dict[str, Any] = {"url": url, "photos": len(photos), "cpus": os.cpu_count()}
        results["raw_embed"] = raw_embed(client, photos)
        results["index"] = index_once(url, args)
        results["raw_embed_after"] = raw_embed(client, photos)  # brackets index: shared CPUs vary
        rate = results["raw_embed"]["images_per_s"]
        results["resume"] = interrupt_and_resume(client, url, args, rate)
    report(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "index_folder.json").write_text(json.dumps(results, indent=2))
    return 0 if results["resume"]["resumed_sent_only_the_rest"] else 1


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service (default: start one on --models-dir)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--folder", type=Path, default=RESULTS / "index-folder")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--interrupt-after", type=float, default=3.0, help="seconds before SIGINT")
    parser.add_argument("--keep", action="store_true", help="keep the two collections")
    return parser.parse_args(argv)


# --- the folder --------------------------------------------------------------------------------


def sample_photos() -> list[Image.Image]:
    """The sample photos that ship with scikit-image (and scikit-learn, when installed)."""
    import skimage

    data = Path(skimage.__file__).parent / "data"
    photos = [Image.open(data / name).convert("RGB") for name in SAMPLES if (data / name).exists()]
    try:
        from sklearn.datasets import load_sample_images

        photos += [Image.fromarray(a) for a in load_sample_images().images]
    except ImportError:
        pass
    return photos


def augment(photo: Image.Image, rng: random.Random) -> Image.Image:
    """A random crop (40-100% of each side), maybe mirrored, with colour jitter, <= 512 px."""
    width, height = photo.size
    w, h = int(width * rng.uniform(0.4, 1.0)), int(height * rng.uniform(0.4, 1.0))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    image = photo.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(rng.uniform(0.7, 1.3))
    image.thumbnail((512, 512))
    return image


def make_folder(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` distinct JPEGs under ``folder`` (made once; kept for re-runs)."""
    existing = sorted(folder.rglob("*.jpg"))
    if len(existing) == count:
        return existing
    rng = random.Random(seed)
    photos = sample_photos()
    seen: set[str] = set()
    paths = []
    for number in range(count):
        path = folder / f"part-{number // 100:02d}" / f"photo-{number:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            base = photos[number % len(photos)]
            image = base if number < len(photos) else augment(base, rng)
            image.save(path, format="JPEG", quality=85)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                break
        paths.append(path)
    return paths


# --- the service -------------------------------------------------------------------------------


@contextmanager
def service(args: argparse.Namespace) -> Iterator[str]:
    """``--url``, or a ``python -m service`` of our own on a free port."""
    if args.url:
        yield args.url.rstrip("/")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MMS_MODEL_DIR": str(args.models_dir), "MMS_MODELS": "vision,text",
           "MMS_LOG_LEVEL": "WARNING"}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "service", "--port", str(port)], cwd=ROOT,
                               env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with Client(url) as client:
            client.wait_ready(120)
        yield url
    finally:
        process.terminate()
        process.wait(30)


# --- the measurements --------------------------------------------------------------------------


def raw_embed(client: Client, photos: list[Path]) -> dict[str, Any]:
    client.embed(photos[: client.max_items])  # warm-up: first-request costs are not the rate
    started = time.perf_counter()
    vectors = client.embed(photos)
    seconds = time.perf_counter() - started
    assert len(vectors) == len(photos)
    return {"seconds": round(seconds, 2), "images_per_s": round(len(photos) / seconds, 1),
            "batch": client.max_items}  # fmt: skip


def index_command(url: str, folder: Path, collection: str, journal: Path) -> list[str]:
    return [sys.executable, "-m", "mapping_client", "index", str(folder), "--collection",
            collection, "--url", url, "--journal", str(journal), "--json"]  # fmt: skip


def index_once(url: str, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    journal = RESULTS / f"{name}.journal.jsonl"
    started = time.perf_counter()
    done = subprocess.run(index_command(url, args.folder, name, journal), capture_output=True,
                          text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - started
    summary = json.loads(done.stdout)
    cleanup(url, name, journal, args.keep)
    return {"collection": name, "wall_s": round(wall, 2), "sent": summary["sent"],
            "send_s": summary["seconds"], "images_per_s": summary["images_per_s"],
            "wall_images_per_s": round(summary["sent"] / wall, 1)}  # fmt: skip


def interrupt_and_resume(
    client: Client, url: str, args: argparse.Namespace, raw_rate: float
) -> dict[str, Any]:
    quiet_s = 2 * client.max_items / raw_rate + 1  # two batches' time
    name = f"bench-{uuid.uuid4().hex[:8]}"
    journal = RESULTS / f"{name}.journal.jsonl"
    command = index_command(url, args.folder, name, journal)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(args.interrupt_after)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=300)
    interrupted = json.loads(out) if out.strip() else {}
    stored = settled_count(client, name, quiet_s)
    resumed = subprocess.run(command, capture_output=True, text=True, check=True)
    second = json.loads(resumed.stdout)
    result = {
        "collection": name, "exit_code_on_sigint": first.returncode,
        "sent_before_sigint": interrupted.get("sent"), "stored_after_sigint": stored,
        "in_flight_at_sigint_stored": stored - int(interrupted.get("sent") or 0),
        "resumed_sent": second["sent"], "resumed_skipped": second["skipped"],
        "count_after_resume": second["count"],
        "resumed_sent_only_the_rest": second["sent"] == args.count - stored
        and second["count"] == args.count,
    }  # fmt: skip
    cleanup(url, name, journal, args.keep)
    return result


def settled_count(client: Client, name: str, quiet_s: float) -> int:
    """The collection's size once it has not changed for ``quiet_s`` seconds.

    The service finishes the batch that was in flight at SIGINT (the interrupted client never
    hears back), and stores its photos at once when that batch's embeddings are done.
    """
    last, since = client.count(name), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.5)
        now = client.count(name)
        if now != last:
            last, since = now, time.monotonic()
    return last


def cleanup(url: str, name: str, journal: Path, keep: bool) -> None:
    if keep:
        return
    with Client(url) as client:
        client.delete_collection(name)
    journal.unlink(missing_ok=True)


def report(results: dict[str, Any]) -> None:
    raw, index, resume = results["raw_embed"], results["index"], results["resume"]
    print(f"{results['photos']} photos, {results['cpus']} CPUs, service {results['url']}")
    after = results["raw_embed_after"]
    print(f"raw /v1/embed (batches of {raw['batch']}): {raw['seconds']} s, "
          f"{raw['images_per_s']} images/s before index, "
          f"{after['images_per_s']} after")  # fmt: skip
    sending = f"sending {index['send_s']} s ({index['images_per_s']} images/s)"
    print(f"index:  wall {index['wall_s']} s ({index['wall_images_per_s']} images/s incl. start "
          f"and hashing); {sending}")  # fmt: skip
    print(f"resume: SIGINT after {resume['sent_before_sigint']} sent (exit "
          f"{resume['exit_code_on_sigint']}; {resume['stored_after_sigint']} stored, with the "
          f"{resume['in_flight_at_sigint_stored']} of the batch in flight); the resumed "
          f"run sent {resume['resumed_sent']} and skipped {resume['resumed_skipped']}; "
          f"count {resume['count_after_resume']}; only the rest: "
          f"{resume['resumed_sent_only_the_rest']}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
