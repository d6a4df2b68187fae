"""The default models that ``make models`` builds, and the builder that makes each one.

A builder is ``build(request: BuildRequest) -> list[Manifest]``: it writes the repository names
of ``request.model`` into ``request.version``. It is imported only when its model is built, so
listing the defaults (and planning a build) needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DefaultModel:
    """One default model, built (and versioned) as a whole by ``builder`` (``module:function``).

    ``parts`` names the repository folders it writes when that is not just ``name`` (the two
    towers of an alignment model share one training run and one version number).
    """

    name: str
    builder: str
    parts: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The repository names this model writes."""
        return self.parts or (self.name,)


@dataclass(frozen=True)
class BuildRequest:
    """One default model to write into ``models_dir`` as ``version``.

    ``replace`` is True when that version exists and ``--force`` asked to write over it.
    """

    model: DefaultModel
    models_dir: Path
    version: int
    replace: bool = False
    quick: bool = False


_SHAPES = "training.defaults.shapes:build"

# Build order: the shapes models after shapes-multitask reuse its memoised trained trunk.
DEFAULT_MODELS: tuple[DefaultModel, ...] = (
    DefaultModel("text", "training.defaults.text:build_text"),
    DefaultModel("vision", "training.defaults.vision:build_vision"),
    DefaultModel("shapes-multitask", _SHAPES),
    DefaultModel("shapes-multitask-soft", _SHAPES),
    DefaultModel("shapes-fusion", _SHAPES),
    DefaultModel("shapes-vqa", _SHAPES),
    DefaultModel("shapes-align", _SHAPES, ("shapes-align-image", "shapes-align-text")),
)


def default_model_names() -> list[str]:
    """Every repository name the defaults write, in build order."""
    return [name for model in DEFAULT_MODELS for name in model.names]
