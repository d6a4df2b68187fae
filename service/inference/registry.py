"""The model registry: every model of ``models/<name>/<version>/``, each one :class:`ServedModel`.

Discovery finds the models (the highest version directory of each serves); loading verifies,
opens and warms them one by one; :meth:`Registry.resolve` is the one lookup a request makes: it
answers 404 for an unknown model or version and 503 for one that does not serve (yet), once.
A model whose files do not match its manifest, or whose session cannot be created, is reported
failed with a clear log line while the others keep serving.
"""

from __future__ import annotations

import logging

from contract import layout
from contract.manifest import OutputSpec
from service.errors import ModelNotFoundError
from service.events import NullObserver, Observer, model_used
from service.inference.served import ModelState, ServedModel
from service.inference.session import SessionConfig
from service.settings import Settings

log = logging.getLogger(__name__)


class Registry:
    """Every model of the repository, loaded or not. Thread-safe for one loader thread."""

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self.settings = settings
        self._observer: Observer = observer or NullObserver()
        self._models: dict[str, ServedModel] = {}
        self._session: SessionConfig | None = None  # resolved (``auto`` probed) at first load

    def discover(self) -> list[ServedModel]:
        """Scan the repository; every model found (or named in the settings) starts ``loading``."""
        root = self.settings.model_dir
        if not root.is_dir():
            log.error("model directory %s does not exist; set MMS_MODEL_DIR", root)
        found = {name: layout.versions(root / name) for name in layout.model_names(root)}
        names = list(self.settings.models) or sorted(found)
        self._models = {
            name: ServedModel(name, found.get(name, []), self.settings, self._observer)
            for name in names
        }
        for model in self._models.values():
            model.notify()
        return self.models()

    def models(self) -> list[ServedModel]:
        """All models in any state, sorted by name."""
        return [self._models[name] for name in sorted(self._models)]

    def get(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model ``name`` in any state (404 when unknown, or when ``version`` is not served).

        Records the name for the request's metrics (``events.model_used``) once it is known.
        """
        model = self._models.get(name)
        if model is None:
            raise ModelNotFoundError(
                f"no model named {name!r}; GET /v1/models lists them", model=name
            )
        model_used(name)
        if version is not None and str(version) != str(model.version):
            raise ModelNotFoundError(
                f"model {name!r} has no version {str(version)!r} loaded; it serves version "
                f"{model.version}",
                model=name,
            )
        return model

    def resolve(self, name: str, version: int | str | None = None) -> ServedModel:
        """The model that serves ``name`` (404 unknown, 503 loading, failed or not batching)."""
        model = self.get(name, version)
        if not model.ready:
            raise model.not_ready()
        return model

    @property
    def all_ready(self) -> bool:
        """True when there is at least one model and every model is loaded and warmed."""
        return bool(self._models) and all(
            m.state is ModelState.READY for m in self._models.values()
        )

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

    def load(self, name: str) -> ServedModel:
        """Load, verify and warm up ``name`` (blocking: call from a thread). Never raises."""
        model = self.get(name)
        if model.state is ModelState.LOADING:
            model.load(self._session_config())
        return model

    def _session_config(self) -> SessionConfig:
        """The session options, ``auto`` resolved by one quiet probe for the whole process."""
        if self._session is None:
            self._session = SessionConfig.from_settings(self.settings).resolved()
        return self._session
