"""The engine: the registry of served models and their lifecycle (load, batch, drain).

The HTTP layer and the tasks talk only to this object (``app.state.engine``): ``resolve`` hands
out the :class:`ServedModel` a request runs on; ``lifecycle`` loads and retires versions (at
start, every ``repository_poll_s`` in poll mode, or through the repository API in explicit
mode). Loading runs in the background so liveness answers at once.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from contract.manifest import OutputSpec
from service.events import NullObserver, Observer
from service.inference.lifecycle import Lifecycle
from service.inference.registry import Registry
from service.inference.served import ServedModel
from service.settings import Settings

log = logging.getLogger(__name__)


class Engine:
    """Loads the models, keeps them in line with the repository, and shuts down cleanly."""

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self.settings = settings
        self.observer: Observer = observer or NullObserver()
        self.registry = Registry(settings, self.observer)
        self.lifecycle = Lifecycle(self.registry, settings, self.observer)
        self.loaded = asyncio.Event()  # set when every model named at start is ready or failed
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Find the models to serve and start loading them (and polling) in the background."""
        names = self.registry.names_to_serve()
        for name in names:
            entry = self.registry.track(name)
            entry.loading = ServedModel(name, entry.on_disk, self.settings, self.observer)
            entry.loading.notify()
        per_model = self.settings.batch_concurrency
        workers = self.settings.inference_threads or max(1, len(names)) * per_model
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="inference")
        self.lifecycle.executor = self._executor
        self._tasks = [asyncio.create_task(self._load_all(names), name="model-loader")]

    async def wait_loaded(self, timeout_s: float | None = None) -> None:
        """Wait until every model is ready or failed (tests and the CLI use this)."""
        await asyncio.wait_for(self.loaded.wait(), timeout_s)

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop loading and polling, let queued items finish (up to ``drain_timeout_s``)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.lifecycle.stop(drain_timeout_s)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        """Readiness: the models named at start have finished loading, and at least one serves
        (every one with ``require_all_models``; none needed in explicit mode with no models)."""
        if not self.loaded.is_set():
            return False
        if self.settings.require_all_models:
            return self.registry.all_ready
        explicit_empty = self.settings.model_control_mode == "explicit" and not self.models()
        return self.registry.any_ready or explicit_empty

    def resolve(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model that serves ``name`` (404 unknown name or version, 503 not serving)."""
        return self.registry.resolve(name, version)

    def get(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model ``name`` in any state (404 unknown name or version)."""
        return self.registry.get(name, version)

    def models(self) -> list[ServedModel]:
        """Every known model (its primary version), in any state, by name."""
        return self.registry.models()

    def space(self, space: str) -> list[tuple[ServedModel, OutputSpec]]:
        """The models with an embedding output in ``space`` (any state), and that output."""
        return self.registry.space(space)

    def spaces(self) -> list[str]:
        """Every embedding space some manifest declares."""
        return self.registry.spaces()

    async def _load_all(self, names: list[str]) -> None:
        try:
            for name in names:
                await self.lifecycle.sync(name)
        finally:
            self.loaded.set()
        if self.settings.model_control_mode == "poll":
            await self.lifecycle.poll_forever()
