"""One served model: its version directory loaded, verified, warmed and batched, in one object.

A :class:`ServedModel` is everything the service knows about one model: its state (``loading`` ->
``ready`` | ``failed`` with a reason), its manifest, preprocessor, ONNX Runtime runner, batch
limit, batcher (with its stats) and the version it serves. The registry hands it out; requests
call :meth:`ServedModel.run` (decode and tokenise off the event loop, except a few short texts,
then join the batch) or :meth:`ServedModel.infer` for items they prepared themselves inside
:meth:`preparing`.

Several versions of a model serve at once as one object per ``(name, version)``; the lifecycle
(``lifecycle.py``) loads a new one beside the old, and :meth:`ServedModel.retire` lets the old one
finish what it accepted before its session is released.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

from pydantic import ValidationError

from contract.cpu import cpu_has_int8_dot
from contract.manifest import MANIFEST_FILE, Manifest, read_manifest, verify_files
from service.errors import NotReadyError, OverloadedError
from service.events import Observer
from service.inference.admission import QueueAdmission, decoding
from service.inference.autotune import BatchProfile, ThreadChoice, tune_batch_size, tune_threads
from service.inference.batcher import Batcher, BatcherConfig, BatcherStats
from service.inference.precision import choose
from service.inference.prepare import Preprocessor
from service.inference.providers import CUDA
from service.inference.session import (
    Inputs,
    ModelRunner,
    Outputs,
    SessionConfig,
    create_session,
)
from service.settings import Settings

log = logging.getLogger(__name__)

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/-])(?:/[^\s/'\"`:,;()]+)*/([^\s/'\"`:,;()]+)")

ModelBatcher = Batcher[Inputs, Outputs]


class ModelState(str, Enum):
    """Lifecycle of one model."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNLOADED = "unloaded"


class ServedModel:
    """One model of the repository and the version of it that serves.

    Args:
        name: the model's folder name.
        versions: the version directories found.
        settings: where every limit and option comes from.
        observer: receives state changes and (through the batcher) batch events.
        version: the version this object serves (default: the highest of ``versions``).
    """

    def __init__(
        self,
        name: str,
        versions: Sequence[int],
        settings: Settings,
        observer: Observer,
        version: int | None = None,
    ) -> None:
        self.name = name
        self.versions = sorted(versions)
        self.version = version or (self.versions[-1] if self.versions else None)
        self.state = ModelState.LOADING
        self.reason: str | None = None
        self.providers: list[str] = []
        self.precision: str | None = None  # fp32 | int8: the file that serves (set at load)
        self.load_seconds: float | None = None
        self.profile: BatchProfile | None = None  # the batch limit (set at load) and its timings
        self.threads: ThreadChoice | None = None  # intra-op threads chosen at load, if timed
        self._settings = settings
        self._observer = observer
        self._manifest: Manifest | None = None
        self._preprocessor: Preprocessor | None = None
        self._runner: ModelRunner | None = None
        self._batcher: ModelBatcher | None = None
        self._admission: QueueAdmission | None = None

    # -- what it is --------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        """The manifest of a model that serves (what ``Registry.resolve`` returns)."""
        if self._manifest is None:
            raise self.not_ready()
        return self._manifest

    @property
    def manifest_or_none(self) -> Manifest | None:
        """The manifest when it could be read (also for failed models), else None."""
        return self._manifest

    @property
    def preprocessor(self) -> Preprocessor:
        """Decoding and tokenisation as the manifest says (ready models only)."""
        if self._preprocessor is None:
            raise self.not_ready()
        return self._preprocessor

    @property
    def runner(self) -> ModelRunner:
        """The ONNX Runtime session and its batch collation (ready models only)."""
        if self._runner is None:
            raise self.not_ready()
        return self._runner

    @property
    def ready(self) -> bool:
        """Loaded, warmed and batching: requests can run."""
        return self.state is ModelState.READY and self._batcher is not None

    @property
    def batcher_config(self) -> BatcherConfig | None:
        """The batcher's limits once it runs."""
        return self._batcher.config if self._batcher else None

    @property
    def stats(self) -> BatcherStats | None:
        """What the batcher did since start (None until it runs)."""
        return self._batcher.stats if self._batcher else None

    @property
    def queue_depth(self) -> int:
        """Items waiting for a batch."""
        return self._batcher.queue_depth if self._batcher else 0

    @property
    def pending(self) -> int:
        """Items accepted and not answered yet."""
        return self._batcher.pending if self._batcher else 0

    # -- serving -----------------------------------------------------------------------------
    def full(self, arriving: int = 0) -> bool:
        """Its queue admits nothing more now (counting ``arriving`` items on their way)."""
        return self._admission is not None and self._admission.full(arriving)

    def overloaded(self) -> OverloadedError:
        """The 429 of a request refused because :meth:`full` (counted as a shed)."""
        if self._admission is None:
            raise self.not_ready()
        return self._admission.overloaded()

    @contextmanager
    def admit(self, items: int) -> Iterator[None]:
        """Count ``items`` against the model's queue from before their decode until answered;
        429 at once when they do not fit (``admission.QueueAdmission``)."""
        self._serving()  # 503 unless it serves; the admission starts with the batcher
        admission = self._admission
        if admission is None:
            raise self.not_ready()
        with admission.admit(items):
            yield

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Wrap decoding that precedes :meth:`infer`, so a batch may wait for its items."""
        with self._serving().preparing():
            yield

    async def prepare(
        self, images: Sequence[bytes | None], texts: Sequence[str | None]
    ) -> list[Inputs]:
        """Decode and tokenise per item (``images[i]`` with ``texts[i]``) in a worker thread;
        a few short texts (no image) are tokenised on the event loop, which is cheaper."""
        if len(images) != len(texts):
            raise ValueError("images and texts must pair up one to one")
        preprocessor = self.preprocessor
        pairs = list(zip(images, texts, strict=True))
        if _inline(images, texts):
            self._serving()  # the 503 of a model that does not serve, as preparing() gives
            return [preprocessor.prepare(image, text) for image, text in pairs]
        with self.preparing():
            async with decoding(images):  # the pixel budget, before any pixel is decoded
                return await asyncio.to_thread(
                    lambda: [preprocessor.prepare(image, text) for image, text in pairs]
                )

    async def infer(self, items: Sequence[Inputs]) -> list[Outputs]:
        """Run prepared items in the model's next batches; one output dict per item."""
        batcher, runner = self._serving(), self.runner
        for item in items:
            runner.check_item(item)  # a bad item must fail alone, not its batch
        return await batcher.submit_many(items)

    async def run(
        self, images: Sequence[bytes | None], texts: Sequence[str | None]
    ) -> list[Outputs]:
        """:meth:`admit`, :meth:`prepare` then :meth:`infer`: the path of every task."""
        with self.admit(len(images)):
            return await self.infer(await self.prepare(images, texts))

    # -- lifecycle ---------------------------------------------------------------------------
    def load(self, session: SessionConfig) -> None:
        """Read, verify, open and warm the served version (blocking: call from a thread).

        Never raises: a broken model is marked failed with the reason, and the others serve.
        """
        if self.version is None:
            self._fail(f"no version directory under {self.name}/ in the model repository")
            return
        started = time.perf_counter()
        version_dir = self._settings.model_dir / self.name / str(self.version)
        try:
            self._open(version_dir, session)
        except Exception as exc:  # a broken model must not stop the others
            log.error("model %s/%s failed to load: %s", self.name, self.version, exc)
            self._fail(_reason(exc, self._settings.model_dir))
            return
        self.state, self.reason = ModelState.READY, None
        self.load_seconds = time.perf_counter() - started
        log.info(
            "model %s/%s ready on %s in %.2f s (batches of up to %d)",
            self.name, self.version, ",".join(self.providers), self.load_seconds,
            self.profile.max_batch_size if self.profile else 0,
        )  # fmt: skip
        self.notify()

    def start(self, executor: Executor | None) -> None:
        """Start batching (on the event loop, after :meth:`load` succeeded)."""
        runner, profile = self._runner, self.profile
        if runner is None or profile is None or self._batcher is not None:
            return  # not loaded (failed or still loading), or already batching
        config = BatcherConfig.from_settings(
            self._settings, profile.max_batch_size, one_thread=_one_cpu_thread(runner)
        )
        batcher: ModelBatcher = Batcher(
            self.name, runner.run, config, executor=executor, observer=self._observer
        )
        batcher.start()
        self._batcher = batcher
        self._admission = QueueAdmission(
            self.name, config.max_queue_size, self._observer, config.retry_after_s
        )

    async def stop(self, drain_timeout_s: float) -> None:
        """Refuse new items, let queued ones finish (up to ``drain_timeout_s``), stop batching."""
        if self._batcher is not None:
            await self._batcher.stop(drain_timeout_s)
            self._batcher = None

    async def retire(self, drain_timeout_s: float) -> None:
        """Finish what this version accepted (up to ``drain_timeout_s``), then free its session.

        Call after the registry stopped handing it out: requests that already resolved it are
        decoding (inside :meth:`preparing`) or queued; both are waited for, then the batcher
        stops and the ONNX Runtime session is dropped.
        """
        deadline = time.monotonic() + drain_timeout_s
        while self._batcher and self._batcher.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await self.stop(max(0.0, deadline - time.monotonic()))
        if self._runner is not None:
            self._runner.close()  # a finished batcher task may still hold the runner
        self._preprocessor = self._runner = None
        self.state, self.reason = ModelState.UNLOADED, None
        log.info("model %s/%s unloaded", self.name, self.version)

    def _open(self, version_dir: Path, session: SessionConfig) -> None:
        settings = self._settings
        self._manifest = manifest = read_manifest(version_dir)
        verify_files(manifest, version_dir)
        preprocessor = Preprocessor(
            manifest, version_dir, max_image_pixels=settings.max_image_pixels,
            max_text_chars=settings.max_text_chars,
        )  # fmt: skip
        choice = choose(
            manifest, settings.precision_for(self.name),
            fast_int8=cpu_has_int8_dot(), on_gpu=session.providers == "cuda",
        )  # fmt: skip
        log.info("model %s/%s serves %s (%s)", self.name, self.version, choice.file, choice.why)
        path = version_dir / choice.file
        runner = ModelRunner(manifest, create_session(path, session), preprocessor.pad_values())
        self.providers, self.precision = runner.providers, choice.precision
        _check_gpu(settings, runner.providers)
        if settings.warmup:
            item = preprocessor.warmup_item()  # one item for every warm-up timing
            if self._tunes_threads(session, runner):  # runs the kept session 20+ times
                runner = self._tune_threads(runner, path, session, preprocessor, item)
            else:
                runner.run([item])  # one warm-up batch
            self.profile = _warm_up(runner, item, settings)
        else:
            self.profile = BatchProfile(settings.max_batch_size, {})
        self._preprocessor, self._runner = preprocessor, runner

    def _tunes_threads(self, session: SessionConfig, runner: ModelRunner) -> bool:
        """Whether to time the intra-op threads: autotuning on, the threads left to ONNX Runtime
        (no setting for them, global or for this model), and the model on the CPU."""
        settings = self._settings
        return (
            settings.batch_autotune and session.intra_op_threads == 0
            and self.name not in settings.model_intra_op_threads and CUDA not in runner.providers
        )  # fmt: skip

    def _tune_threads(
        self,
        runner: ModelRunner,
        path: Path,
        session: SessionConfig,
        preprocessor: Preprocessor,
        item: Inputs,
    ) -> ModelRunner:
        """``runner``, or a runner on a one-thread session where that runs an item as fast."""
        single = dataclasses.replace(session, intra_op_threads=1)
        one = ModelRunner(runner.manifest, create_session(path, single), preprocessor.pad_values())
        self.threads = tune_threads(runner.run, one.run, item)
        keep, drop = (one, runner) if self.threads.intra_op_threads == 1 else (runner, one)
        drop.close()
        return keep

    def _serving(self) -> ModelBatcher:
        if self.state is not ModelState.READY or self._batcher is None:
            raise self.not_ready()
        return self._batcher

    def not_ready(self) -> NotReadyError:
        """The 503 for a request to this model while it does not serve."""
        if self.state is ModelState.READY:  # loaded, batcher not started yet
            return NotReadyError(
                f"model {self.name!r} is not accepting requests yet", model=self.name
            )
        why = f": {self.reason}" if self.reason else ""
        return NotReadyError(f"model {self.name!r} is {self.state.value}{why}", model=self.name)

    def _fail(self, reason: str) -> None:
        self.state, self.reason = ModelState.FAILED, reason
        self._preprocessor = self._runner = None
        self.notify()

    def notify(self) -> None:
        """Publish the current state to the observer."""
        self._observer.model_state(self.name, self.version or 0, self.state.value, self.providers)


# Texts up to this many characters in all (and no image) are tokenised on the event loop: ~1 us
# a character, against ~100-250 us for the hop to a worker thread and back (bench/profile.py);
# 512 characters block the loop for at most about half a millisecond.
INLINE_TEXT_CHARS = 512


def _inline(images: Sequence[bytes | None], texts: Sequence[str | None]) -> bool:
    if any(image is not None for image in images):
        return False
    return sum(len(text or "") for text in texts) <= INLINE_TEXT_CHARS


def _warm_up(runner: ModelRunner, item: Inputs, settings: Settings) -> BatchProfile:
    """The batch limit of a warmed runner: timed when autotuning is on, else the setting."""
    if not settings.batch_autotune:
        return BatchProfile(settings.max_batch_size, {})
    profile = tune_batch_size(runner.run, item, settings.max_batch_size)
    try:
        runner.release_memory(item)  # what the trial batches grew beyond the chosen limit
    except Exception as exc:  # memory kept is no reason to fail a model that runs
        log.warning("%s: the arena kept its warm-up memory: %s", runner.manifest.name, exc)
    return profile


def _one_cpu_thread(runner: ModelRunner) -> bool:
    """Whether ``runner``'s session runs on one intra-op thread on the CPU (tuned or set)."""
    options = runner.session.get_session_options()
    return CUDA not in runner.providers and options.intra_op_num_threads == 1


def _check_gpu(settings: Settings, providers: list[str]) -> None:
    if (settings.require_gpu or settings.providers == "cuda") and CUDA not in providers:
        raise RuntimeError(
            f"a GPU is required but ONNX Runtime runs on {providers}; check the CUDA/cuDNN "
            "libraries and the GPU, or unset MMS_REQUIRE_GPU"
        )


def _reason(exc: Exception, model_dir: Path) -> str:
    """A one-line reason fit for HTTP: paths inside the repository written relative to it."""
    text = _describe(exc)
    for root in {str(model_dir.resolve()), str(model_dir)}:
        text = text.replace(root.rstrip("/") + "/", "")
    # Any other absolute path (a library, a temp dir) says where the server's files are, on
    # /health/ready that anyone may read: keep its last part only.
    return _ABSOLUTE_PATH.sub(lambda m: f"<path>/{m.group(1)}", text)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        return f"ValidationError: {MANIFEST_FILE} is invalid: {problems}"[:500]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"[:500]
