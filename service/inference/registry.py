"""The model registry: which versions of which models serve, and the one lookup a request makes.

Each model name maps to the :class:`ServedModel` objects of its versions that serve (several at
once under a version policy like ``latest:2``), the versions that failed (with their reason, kept
so that a poll does not retry an unchanged broken folder) and, while its first version loads, the
object being loaded. :meth:`Registry.resolve` answers 404 for an unknown model or version and 503
for one that does not serve (yet); a request without a version goes to the highest that serves.

The registry only records; ``lifecycle.py`` decides what to load and unload.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from contract import layout
from contract.manifest import OutputSpec
from service.errors import ModelNotFoundError
from service.events import NullObserver, Observer, model_used
from service.inference.served import ModelState, ServedModel
from service.inference.session import SessionConfig
from service.settings import Settings

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]
"""What a version directory looked like (file names, sizes, mtimes) when it was tried."""


@dataclass
class ModelVersions:
    """Every version of one model the service knows about."""

    name: str
    serving: dict[int, ServedModel] = field(default_factory=dict)
    failed: dict[int, tuple[ServedModel, Signature]] = field(default_factory=dict)
    loading: ServedModel | None = None
    on_disk: list[int] = field(default_factory=list)

    def primary(self, settings: Settings, observer: Observer) -> ServedModel:
        """What a request without a version gets: the highest serving version, else the one
        loading, else the newest failure, else a placeholder saying there is no version."""
        if self.serving:
            return self.serving[max(self.serving)]
        if self.loading is not None:
            return self.loading
        if self.failed:
            return self.failed[max(self.failed)][0]
        placeholder = ServedModel(self.name, self.on_disk, settings, observer)
        placeholder.state = ModelState.FAILED
        placeholder.reason = (
            "no version serves; load one with POST /v2/repository/models/<name>/load"
            if self.on_disk
            else f"no version directory under {self.name}/ in the model repository"
        )
        return placeholder


class Registry:
    """Every known model and its versions. Mutated only on the event loop."""

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self.settings = settings
        self._observer: Observer = observer or NullObserver()
        self._models: dict[str, ModelVersions] = {}
        self._session: SessionConfig | None = None  # resolved (``auto`` probed) at first load

    def names_to_serve(self) -> list[str]:
        """The models this process serves at start: ``MMS_MODELS``, else (unless explicit
        mode) every model folder of the repository."""
        root = self.settings.model_dir
        if not root.is_dir():
            log.error("model directory %s does not exist; set MMS_MODEL_DIR", root)
        if self.settings.models:
            return list(self.settings.models)
        if self.settings.model_control_mode == "explicit":
            return []
        return layout.model_names(root)

    def track(self, name: str) -> ModelVersions:
        """The entry of ``name``, created (no version serving) when new."""
        entry = self._models.get(name)
        if entry is None:
            entry = self._models[name] = ModelVersions(name)
        entry.on_disk = layout.versions(self.settings.model_dir / name)
        return entry

    def forget(self, name: str) -> None:
        """Drop ``name`` (after its versions were retired)."""
        self._models.pop(name, None)

    def entry(self, name: str) -> ModelVersions | None:
        """The versions of ``name``, or None when unknown."""
        return self._models.get(name)

    def entries(self) -> list[ModelVersions]:
        """Every known model's versions, by name."""
        return [self._models[name] for name in sorted(self._models)]

    def models(self) -> list[ServedModel]:
        """One object per known model (its primary version, see :meth:`ModelVersions.primary`)."""
        return [e.primary(self.settings, self._observer) for e in self.entries()]

    def get(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model ``name`` (at ``version``) in any state; 404 when unknown or not served.

        Records the name for the request's metrics (``events.model_used``) once it is known.
        """
        entry = self._models.get(name)
        if entry is None:
            raise ModelNotFoundError(
                f"no model named {name!r}; GET /v1/models lists them", model=name
            )
        model_used(name)
        if version is None:
            return entry.primary(self.settings, self._observer)
        number = _version_number(version)
        if number in entry.serving:
            return entry.serving[number]
        if number in entry.failed:
            return entry.failed[number][0]  # resolve answers 503 with its reason
        served = ", ".join(str(v) for v in sorted(entry.serving)) or "none"
        raise ModelNotFoundError(
            f"model {name!r} has no version {str(version)!r} loaded; versions served: {served}",
            model=name,
        )

    def resolve(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model that serves ``name`` (404 unknown, 503 loading, failed or not batching)."""
        model = self.get(name, version)
        if not model.ready:
            raise model.not_ready()
        return model

    @property
    def all_ready(self) -> bool:
        """True when there is at least one model and every model has a version that serves."""
        return bool(self._models) and all(e.serving for e in self._models.values())

    @property
    def any_ready(self) -> bool:
        """True when at least one model has a version that serves."""
        return any(e.serving for e in self._models.values())

    def space(self, space: str) -> list[tuple[ServedModel, OutputSpec]]:
        """Models (any state, manifest read) with an embedding output in ``space``, and it."""
        members = []
        for model in self.models():
            manifest = model.manifest_or_none
            for out in manifest.outputs if manifest else []:
                if out.type == "embedding" and out.space == space:
                    members.append((model, out))
        return members

    def spaces(self) -> list[str]:
        """Every embedding space some known manifest declares."""
        manifests = [m.manifest_or_none for m in self.models()]
        return sorted({o.space for m in manifests if m for o in m.outputs if o.space})

    def session_config(self, name: str) -> SessionConfig:
        """Model ``name``'s session options: its intra-op threads, and ``auto`` resolved by one
        quiet probe for the whole process."""
        if self._session is None:
            self._session = SessionConfig.from_settings(self.settings).resolved()
        threads = self.settings.intra_op_threads_for(name)
        return dataclasses.replace(self._session, intra_op_threads=threads)


def _version_number(version: int | str) -> int:
    try:
        return int(version)
    except ValueError:
        return -1  # never a version: answered as "no version ... loaded"
