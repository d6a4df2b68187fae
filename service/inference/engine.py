"""The engine: the registry plus one batcher per ready model, and their lifecycle.

The HTTP layer talks only to this object (``app.state.engine``). Loading runs in the background
so liveness answers at once while readiness waits for every model to be loaded and warmed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from service.errors import ModelNotFoundError, NotReadyError
from service.events import NullObserver, Observer
from service.inference.batcher import Batcher, BatcherConfig
from service.inference.registry import LoadedModel, ModelState, Registry, RegistryConfig
from service.inference.session import Item, Outputs, SessionConfig
from service.settings import Settings

log = logging.getLogger(__name__)

ModelBatcher = Batcher[Item, Outputs]


class Engine:
    """Loads the models, batches their inference, and shuts everything down cleanly."""

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self.settings = settings
        self.observer: Observer = observer or NullObserver()
        self.registry = Registry(_registry_config(settings), self.observer)
        self.batchers: dict[str, ModelBatcher] = {}
        self.loaded = asyncio.Event()  # set when every model is ready or failed
        self._executor: ThreadPoolExecutor | None = None
        self._loader: asyncio.Task[None] | None = None
        self._preparing: Counter[str] = Counter()  # requests decoding for each model, on the loop

    async def start(self) -> None:
        """Discover the models and start loading them in the background."""
        entries = self.registry.discover()
        per_model = self.settings.batch_concurrency
        workers = self.settings.inference_threads or max(1, len(entries)) * per_model
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="inference")
        self._loader = asyncio.create_task(self._load_all(), name="model-loader")

    async def wait_loaded(self, timeout_s: float | None = None) -> None:
        """Wait until every model is ready or failed (tests and the CLI use this)."""
        await asyncio.wait_for(self.loaded.wait(), timeout_s)

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop loading, let queued items finish (up to ``drain_timeout_s``), free threads."""
        if self._loader is not None:
            self._loader.cancel()
            await asyncio.gather(self._loader, return_exceptions=True)
        await asyncio.gather(*(b.stop(drain_timeout_s) for b in self.batchers.values()))
        self.batchers.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        """True when every model is loaded, warmed and batching."""
        return self.loaded.is_set() and self.registry.all_ready

    def model(self, name: str) -> LoadedModel:
        """The ready model ``name`` (404 unknown, 503 loading or failed)."""
        return self.registry.ready(name)

    def batcher(self, name: str) -> ModelBatcher:
        """The batcher of the ready model ``name`` (404 unknown, 503 loading or failed)."""
        self.registry.ready(name)
        batcher = self.batchers.get(name)
        if batcher is None:
            raise NotReadyError(f"model {name!r} is not accepting requests yet", model=name)
        return batcher

    async def infer(self, name: str, items: Sequence[Item]) -> list[Outputs]:
        """Run prepared items through the model's batcher; one output dict per item."""
        model = self.model(name)
        for item in items:
            model.runner.check_item(item)  # a bad item must fail alone, not its batch
        return await self.batcher(name).submit_many(items)

    async def prepare(
        self, name: str, images: Sequence[bytes | None], texts: Sequence[str | None]
    ) -> list[Item]:
        """Decode and tokenise per item (pairs ``images[i]``, ``texts[i]``) in a worker thread."""
        if len(images) != len(texts):
            raise ValueError("images and texts must pair up one to one")
        preprocessor = self.model(name).preprocessor
        pairs = list(zip(images, texts, strict=True))
        with self.preparing(name):
            return await asyncio.to_thread(
                lambda: [preprocessor.prepare(image, text) for image, text in pairs]
            )

    @contextmanager
    def preparing(self, name: str) -> Iterator[None]:
        """Mark a request for ``name`` as being decoded, so its batcher waits for it.

        Wrap any decoding that precedes ``infer`` (event-loop code only). While some request is
        inside, the model's batcher may hold a batch up to ``max_delay_ms`` for its items; when
        none is, a lone item runs at once.
        """
        self._preparing[name] += 1
        try:
            yield
        finally:
            self._preparing[name] -= 1

    def expecting(self, name: str) -> bool:
        """Whether some request for ``name`` is being decoded now (see ``preparing``)."""
        return self._preparing[name] > 0

    async def run(
        self, name: str, images: Sequence[bytes | None], texts: Sequence[str | None]
    ) -> list[Outputs]:
        """``prepare`` then ``infer``: the usual path of a task endpoint."""
        return await self.infer(name, await self.prepare(name, images, texts))

    def space_models(self, space: str) -> list[str]:
        """Names of the models whose embedding outputs live in ``space`` (404 if none)."""
        names = [entry.name for entry, _ in self.registry.space(space)]
        if not names:
            known = ", ".join(self.registry.spaces()) or "none"
            raise ModelNotFoundError(f"no embedding space {space!r}; known spaces: {known}")
        return names

    async def _load_all(self) -> None:
        try:
            for entry in self.registry.entries():
                if entry.state is ModelState.LOADING:
                    await asyncio.to_thread(self.registry.load, entry.name)
                if entry.state is ModelState.READY:
                    self._start_batcher(entry.name)
        finally:
            self.loaded.set()

    def _start_batcher(self, name: str) -> None:
        model = self.registry.ready(name)
        limit = self.registry.max_batch_size(self.registry.get(name))
        batcher: ModelBatcher = Batcher(
            name, model.runner.run, _batcher_config(self.settings, limit),
            executor=self._executor, observer=self.observer,
            expecting=lambda: self.expecting(name),
        )  # fmt: skip
        batcher.start()
        self.batchers[name] = batcher


def _registry_config(settings: Settings) -> RegistryConfig:
    return RegistryConfig(
        model_dir=settings.model_dir,
        names=tuple(settings.models),
        session=SessionConfig.from_settings(settings),
        require_gpu=settings.require_gpu,
        warmup=settings.warmup,
        max_image_pixels=settings.max_image_pixels,
        max_batch_size=settings.max_batch_size,
        batch_autotune=settings.batch_autotune,
    )


def _batcher_config(settings: Settings, max_batch_size: int) -> BatcherConfig:
    return BatcherConfig(
        max_batch_size=max_batch_size,
        max_delay_s=settings.max_delay_ms / 1000.0,
        max_queue_size=settings.max_queue_size,
        timeout_s=settings.request_timeout_s,
        retry_after_s=settings.retry_after_s,
        concurrency=settings.batch_concurrency,
    )
