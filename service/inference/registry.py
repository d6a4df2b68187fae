"""The model registry: finds ``models/<name>/<version>/``, verifies, loads and warms each model.

Each model has a state (``loading`` -> ``ready`` | ``failed`` with a reason). A model whose files
do not match its manifest, or whose session cannot be created, is reported failed with a clear
log line while the others keep serving. The highest version directory of a model is served.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pydantic import ValidationError

from contract import layout
from contract.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    Manifest,
    OutputSpec,
    read_manifest,
    verify_files,
)
from service.errors import ModelNotFoundError, NotReadyError
from service.events import NullObserver, Observer
from service.inference.autotune import BatchProfile, tune_batch_size
from service.inference.prepare import Preprocessor
from service.inference.session import (
    CUDA,
    ModelRunner,
    SessionConfig,
    create_session,
    requested_providers,
)

log = logging.getLogger(__name__)


class ModelState(str, Enum):
    """Lifecycle of one model."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class LoadedModel:
    """What a ready model needs to serve: its manifest, preprocessing and session."""

    manifest: Manifest
    preprocessor: Preprocessor
    runner: ModelRunner


@dataclass
class ModelEntry:
    """One model name in the repository and its serving state."""

    name: str
    versions: list[int]
    state: ModelState = ModelState.LOADING
    reason: str | None = None
    manifest: Manifest | None = None
    loaded: LoadedModel | None = None
    providers: list[str] = field(default_factory=list)
    load_seconds: float | None = None
    batching: BatchProfile | None = None  # set at warm-up when batch autotuning is on

    @property
    def version(self) -> int | None:
        """The version served (the highest version directory), if any."""
        return max(self.versions) if self.versions else None


@dataclass(frozen=True)
class RegistryConfig:
    """How the registry loads models (see ``Settings``)."""

    model_dir: Path
    names: Sequence[str] = ()
    session: SessionConfig = field(default_factory=SessionConfig)
    require_gpu: bool = False
    warmup: bool = True
    max_image_pixels: int = 40_000_000
    max_batch_size: int = 4
    batch_autotune: bool = True


class Registry:
    """Every model of the repository, loaded or not. Thread-safe for one loader thread."""

    def __init__(self, config: RegistryConfig, observer: Observer | None = None) -> None:
        self.config = config
        self._observer: Observer = observer or NullObserver()
        self._entries: dict[str, ModelEntry] = {}
        self._session = config.session  # may fall back to "cpu" after the first CUDA miss

    def discover(self) -> list[ModelEntry]:
        """Scan the repository; every model found (or named in the config) starts ``loading``."""
        root = self.config.model_dir
        if not root.is_dir():
            log.error("model directory %s does not exist; set MMS_MODEL_DIR", root)
        found = {name: layout.versions(root / name) for name in layout.model_names(root)}
        names = list(self.config.names) or sorted(found)
        self._entries = {name: ModelEntry(name, found.get(name, [])) for name in names}
        for entry in self._entries.values():
            if not entry.versions:
                self._fail(entry, f"no version directory under {root / entry.name}")
            else:
                self._notify(entry)
        return self.entries()

    def entries(self) -> list[ModelEntry]:
        """All models, sorted by name."""
        return [self._entries[name] for name in sorted(self._entries)]

    def get(self, name: str) -> ModelEntry:
        """The entry of ``name`` in any state, or ``ModelNotFoundError``."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFoundError(
                f"no model named {name!r}; GET /v1/models lists them", model=name
            )
        return entry

    def ready(self, name: str) -> LoadedModel:
        """The loaded model ``name``; 404 when unknown, 503 while loading or after failure."""
        entry = self.get(name)
        if entry.state is not ModelState.READY or entry.loaded is None:
            why = f": {entry.reason}" if entry.reason else ""
            raise NotReadyError(f"model {name!r} is {entry.state.value}{why}", model=name)
        return entry.loaded

    @property
    def all_ready(self) -> bool:
        """True when there is at least one model and every model is ready."""
        return bool(self._entries) and all(
            e.state is ModelState.READY for e in self._entries.values()
        )

    def space(self, space: str) -> list[tuple[ModelEntry, OutputSpec]]:
        """Models (any state) with an embedding output in ``space``, and that output."""
        members = []
        for entry in self.entries():
            for out in entry.manifest.outputs if entry.manifest else []:
                if out.type == "embedding" and out.space == space:
                    members.append((entry, out))
        return members

    def spaces(self) -> list[str]:
        """Every embedding space some known manifest declares."""
        return sorted(
            {o.space for e in self.entries() if e.manifest for o in e.manifest.outputs if o.space}
        )

    def load(self, name: str) -> ModelEntry:
        """Load, verify and warm up ``name`` (blocking: call from a thread). Never raises."""
        entry = self.get(name)
        if entry.version is None:
            return entry
        started = time.perf_counter()
        version_dir = self.config.model_dir / name / str(entry.version)
        try:
            entry.manifest = read_manifest(version_dir)
            verify_files(entry.manifest, version_dir)
            loaded = self._load_files(entry.manifest, version_dir)
            entry.providers = loaded.runner.providers
            self._check_gpu(entry.providers)
            if self.config.warmup:
                item = loaded.preprocessor.warmup_item()
                loaded.runner.run([item])
                if self.config.batch_autotune:
                    entry.batching = tune_batch_size(
                        loaded.runner.run, item, self.config.max_batch_size
                    )
        except Exception as exc:  # a broken model must not stop the others
            log.error("model %s/%s failed to load: %s", name, entry.version, exc)
            self._fail(entry, _reason(exc))
            return entry
        entry.loaded, entry.state, entry.reason = loaded, ModelState.READY, None
        entry.load_seconds = time.perf_counter() - started
        log.info(
            "model %s/%s ready on %s in %.2f s (batches of up to %d)",
            name, entry.version, ",".join(entry.providers), entry.load_seconds,
            self.max_batch_size(entry),
        )  # fmt: skip
        self._notify(entry)
        return entry

    def max_batch_size(self, entry: ModelEntry) -> int:
        """The batch limit of ``entry``: the autotuned one, else the configured one."""
        return entry.batching.max_batch_size if entry.batching else self.config.max_batch_size

    def _load_files(self, manifest: Manifest, version_dir: Path) -> LoadedModel:
        preprocessor = Preprocessor(manifest, version_dir, self.config.max_image_pixels)
        session = create_session(version_dir / MODEL_FILE, self._session)
        runner = ModelRunner(manifest, session, preprocessor.pad_values())
        cuda_asked = self._session.providers == "auto" and CUDA in requested_providers("auto")
        if cuda_asked and CUDA not in runner.providers:
            # ORT could not load its CUDA provider (it logs why, once per session): the process
            # cannot use the GPU, so later models ask for the CPU alone instead of logging again.
            log.warning("CUDA is unavailable to ONNX Runtime; serving on the CPU")
            self._session = dataclasses.replace(self._session, providers="cpu")
        return LoadedModel(manifest, preprocessor, runner)

    def _check_gpu(self, providers: list[str]) -> None:
        needs_gpu = self.config.require_gpu or self.config.session.providers == "cuda"
        if needs_gpu and CUDA not in providers:
            raise RuntimeError(
                f"a GPU is required but ONNX Runtime runs on {providers}; check the CUDA/cuDNN "
                "libraries and the GPU, or unset MMS_REQUIRE_GPU"
            )

    def _fail(self, entry: ModelEntry, reason: str) -> None:
        entry.state, entry.reason, entry.loaded = ModelState.FAILED, reason, None
        self._notify(entry)

    def _notify(self, entry: ModelEntry) -> None:
        self._observer.model_state(
            entry.name, entry.version or 0, entry.state.value, entry.providers
        )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        return f"ValidationError: {MANIFEST_FILE} is invalid: {problems}"[:500]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"[:500]
