"""The default models that ``make models`` builds, and the builder that makes each group.

A builder is ``build(models_dir: Path, *, quick: bool) -> list[Manifest]``; it is imported only
when its models are built, so listing the defaults needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefaultGroup:
    """Models built together by one builder (``module:function``), in build order."""

    builder: str
    models: tuple[str, ...]


DEFAULT_GROUPS: tuple[DefaultGroup, ...] = (
    DefaultGroup("training.defaults.text:build_text", ("text",)),
    DefaultGroup("training.defaults.vision:build_vision", ("vision",)),
    DefaultGroup(
        "training.defaults.shapes:build",
        (
            "shapes-multitask",
            "shapes-multitask-soft",
            "shapes-fusion",
            "shapes-vqa",
            "shapes-align-image",
            "shapes-align-text",
        ),
    ),
)


def default_model_names() -> list[str]:
    return [name for group in DEFAULT_GROUPS for name in group.models]
