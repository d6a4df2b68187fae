"""The engine: the registry of served models and their lifecycle (load, batch, drain).

The HTTP layer and the tasks talk only to this object (``app.state.engine``): ``resolve`` hands
out the :class:`ServedModel` a request runs on. Loading runs in the background so liveness
answers at once while readiness waits for every model to be loaded, warmed and batching.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from contract.manifest import OutputSpec
from service.events import NullObserver, Observer
from service.inference.registry import Registry
from service.inference.served import ModelState, ServedModel
from service.settings import Settings

log = logging.getLogger(__name__)


class Engine:
    """Loads the models, starts their batchers, and shuts everything down cleanly."""

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self.settings = settings
        self.observer: Observer = observer or NullObserver()
        self.registry = Registry(settings, self.observer)
        self.loaded = asyncio.Event()  # set when every model is ready or failed
        self._executor: ThreadPoolExecutor | None = None
        self._loader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Discover the models and start loading them in the background."""
        models = self.registry.discover()
        per_model = self.settings.batch_concurrency
        workers = self.settings.inference_threads or max(1, len(models)) * per_model
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
        await asyncio.gather(*(m.stop(drain_timeout_s) for m in self.registry.models()))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        """True when every model is loaded, warmed and batching."""
        return self.loaded.is_set() and self.registry.all_ready

    def resolve(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model that serves ``name`` (404 unknown name or version, 503 not serving)."""
        return self.registry.resolve(name, version)

    def get(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model ``name`` in any state (404 unknown name or version)."""
        return self.registry.get(name, version)

    def models(self) -> list[ServedModel]:
        """Every model of the repository, in any state, by name."""
        return self.registry.models()

    def space(self, space: str) -> list[tuple[ServedModel, OutputSpec]]:
        """The models with an embedding output in ``space`` (any state), and that output."""
        return self.registry.space(space)

    def spaces(self) -> list[str]:
        """Every embedding space some manifest declares."""
        return self.registry.spaces()

    async def _load_all(self) -> None:
        try:
            for model in self.registry.models():
                if model.state is ModelState.LOADING:
                    await asyncio.to_thread(self.registry.load, model.name)
                model.start(self._executor)
        finally:
            self.loaded.set()
