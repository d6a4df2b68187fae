"""Model lifecycle: apply the repository and the version policy to the registry, losing nothing.

:meth:`Lifecycle.sync` is the one operation behind start-up, poll mode and the repository API:
it reads a model's version directories, tries the policy's candidates newest first (a version
that fails to verify, load or warm is recorded with its reason and skipped, so an older one keeps
serving), and only once the wanted versions serve retires the others. Retiring takes the old
version out of the registry first (new requests go to the new one), lets what it accepted finish
(:meth:`ServedModel.retire`), then frees its session. A failed version is not retried while its
folder is unchanged. One lock per model keeps the poller and the API from racing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from contract import layout
from service.errors import ModelControlError, ModelNotFoundError
from service.events import Observer
from service.inference.registry import ModelVersions, Registry, Signature
from service.inference.served import ModelState, ServedModel
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    """What one :meth:`Lifecycle.sync` did."""

    loaded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    retired: list[int] = field(default_factory=list)


class Lifecycle:
    """Loads and retires model versions as the repository and the control mode say."""

    def __init__(self, registry: Registry, settings: Settings, observer: Observer) -> None:
        self.registry = registry
        self.settings = settings
        self._observer = observer
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.executor: Executor | None = None

    async def sync(self, name: str) -> SyncResult:
        """Bring ``name`` in line with its folder and version policy (see the module doc)."""
        async with self._locks[name]:
            entry = self.registry.track(name)
            result = SyncResult()
            chosen = await self._choose(entry, result)
            # The start's "loading" placeholder outlives a sync that tried no version (a name
            # in MMS_MODELS with no folder): without this, such a model showed "loading" forever.
            entry.loading = None
            gone = [v for v in entry.serving if v not in entry.on_disk]
            extra = [v for v in entry.serving if v not in chosen] if chosen else []
            for version in sorted(set(gone) | set(extra)):
                await self._retire(entry, version)
                result.retired.append(version)
            for version in [v for v in entry.failed if v not in entry.on_disk]:
                del entry.failed[version]
            entry.primary(self.settings, self._observer).notify()
            return result

    async def unload(self, name: str) -> list[int]:
        """Retire every version of ``name`` and forget it (explicit mode's unload)."""
        async with self._locks[name]:
            entry = self.registry.entry(name)
            if entry is None:
                raise ModelNotFoundError(f"no model named {name!r} is loaded", model=name)
            retired = sorted(entry.serving)
            for version in retired:
                await self._retire(entry, version)
            self.registry.forget(name)
            return retired

    async def load(self, name: str) -> SyncResult:
        """Explicit mode's load: (re)sync ``name``; 400 when it has no folder or a try failed."""
        if not layout.is_model_name(name) or not (self.settings.model_dir / name).is_dir():
            raise ModelNotFoundError(f"no model folder {name!r} in the repository", model=name)
        result = await self.sync(name)
        if result.failed:
            entry = self.registry.entry(name)
            serving = sorted(entry.serving) if entry else []
            reasons = "; ".join(f"version {v}: {r}" for v, r in sorted(result.failed.items()))
            raise ModelControlError(
                f"failed to load {name!r} ({reasons}); serving versions: "
                f"{', '.join(map(str, serving)) or 'none'}",
                model=name,
            )
        return result

    async def sync_repository(self) -> None:
        """Poll mode: sync every model folder, and retire models whose folder is gone."""
        names = set(self.registry.names_to_serve())
        for entry in self.registry.entries():
            if entry.name not in names:
                await self.unload(entry.name)
        for name in sorted(names):
            await self.sync(name)

    async def poll_forever(self) -> None:
        """Rescan the repository every ``repository_poll_s`` (poll mode's background task)."""
        while True:
            await asyncio.sleep(self.settings.repository_poll_s)
            try:
                await self.sync_repository()
            except Exception:  # a scan that fails must not end polling
                log.exception("repository scan failed; the next one follows")

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop every serving version, letting queued items finish."""
        models = [m for e in self.registry.entries() for m in e.serving.values()]
        await asyncio.gather(*(m.stop(drain_timeout_s) for m in models))

    async def _choose(self, entry: ModelVersions, result: SyncResult) -> list[int]:
        policy = self.settings.policy_for(entry.name)
        chosen: list[int] = []
        for version in policy.candidates(entry.on_disk):
            if policy.enough(len(chosen)):
                break
            if version in entry.serving:
                chosen.append(version)
                continue
            signature = _signature(self.settings.model_dir / entry.name / str(version))
            tried = entry.failed.get(version)
            if tried is not None and tried[1] == signature:
                continue  # unchanged since it failed
            model = await self._load(entry, version)
            if model.ready:
                entry.failed.pop(version, None)
                entry.serving[version] = model  # from here on, new requests may get it
                chosen.append(version)
                result.loaded.append(version)
            else:
                entry.failed[version] = (model, signature)
                result.failed[version] = model.reason or "failed"
        return chosen

    async def _load(self, entry: ModelVersions, version: int) -> ServedModel:
        model = ServedModel(entry.name, entry.on_disk, self.settings, self._observer, version)
        entry.loading = model if not entry.serving else None
        try:
            await asyncio.to_thread(model.load, self.registry.session_config(entry.name))
        finally:
            entry.loading = None
        if model.state is ModelState.READY:
            model.start(self.executor)
        return model

    async def _retire(self, entry: ModelVersions, version: int) -> None:
        model = entry.serving.pop(version)  # no new request can reach it now
        await model.retire(self.settings.drain_timeout_s)


def _signature(version_dir: Path) -> Signature:
    """Names, sizes and mtimes of a version directory's files (empty when it has none)."""
    if not version_dir.is_dir():
        return ()
    files = sorted(p for p in version_dir.iterdir() if p.is_file())
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
