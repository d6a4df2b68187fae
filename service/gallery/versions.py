"""The version policy: a collection's vectors all come from the model versions it records.

Two versions of a model map into two different spaces (a retrained tower moves every vector), so
comparing a v2 query with v1 items gives confident nonsense. Hence:

- writes and model-made queries name the model version that made their vectors, and the store
  refuses (409) any version but the one the collection records for that model (``check_model``);
- the search layer picks the version that embeds a query with ``query_model``: the collection's
  own version while the registry still has it loaded (the collection keeps working, pinned to
  it), else a 409 that says how to re-embed. Never the serving default when it differs.
"""

from __future__ import annotations

from collections.abc import Collection

from service.errors import InvalidInputError
from service.gallery.errors import ModelVersionMismatchError
from service.gallery.models import CollectionInfo, CollectionSpec, ModelRef


def check_model(spec: CollectionSpec, model: ModelRef) -> None:
    """Allow vectors of ``model`` into (or against) the collection, or raise the 409."""
    recorded = spec.models.get(model.name)
    if recorded is None:
        raise _wrong_model(spec, model.name)
    if recorded != model.version:
        raise ModelVersionMismatchError(
            f"collection {spec.name!r} was embedded by {model.name} v{recorded}, not "
            f"v{model.version}: {_how_to_reembed(spec.name, model.name, recorded, model.version)}",
            collection=spec.name,
            model=model.name,
            collection_version=recorded,
            requested_version=model.version,
        )


def query_model(
    info: CollectionInfo, model_name: str, loaded_versions: Collection[int]
) -> ModelRef:
    """The model version that must embed a query against this collection.

    Args:
        info: the collection.
        model_name: the model that will embed the query (e.g. ``text`` for a text query).
        loaded_versions: the versions of that model the registry serves right now.

    Raises:
        ModelVersionMismatchError: (409) when the collection's version of the model is not
            loaded, or the collection holds no vectors of that model.
    """
    spec = info.spec
    recorded = spec.models.get(model_name)
    if recorded is None:
        raise _wrong_model(spec, model_name)
    if recorded in loaded_versions:
        return ModelRef(model_name, recorded)
    serving = max(loaded_versions, default=None)
    raise ModelVersionMismatchError(
        f"collection {spec.name!r} was embedded by {model_name} v{recorded}, which is not loaded "
        f"(loaded: {sorted(loaded_versions) or 'none'}): "
        f"{_how_to_reembed(spec.name, model_name, recorded, serving)}",
        collection=spec.name,
        model=model_name,
        collection_version=recorded,
        loaded_versions=sorted(loaded_versions),
    )


def check_space(spec: CollectionSpec, space: str) -> None:
    """A query embedded in ``space`` may search the collection only if it lives there (422)."""
    if space != spec.space:
        raise InvalidInputError(
            f"collection {spec.name!r} lives in the {spec.space!r} space, the query was embedded "
            f"in {space!r}; embed it with a model of the {spec.space!r} space",
            field="space",
            collection=spec.name,
        )


def _wrong_model(spec: CollectionSpec, model_name: str) -> ModelVersionMismatchError:
    accepted = ", ".join(str(ModelRef(n, v)) for n, v in sorted(spec.models.items()))
    return ModelVersionMismatchError(
        f"collection {spec.name!r} holds vectors of {accepted}, not of model {model_name!r}; "
        f"create a collection for {model_name!r} instead",
        collection=spec.name,
        model=model_name,
    )


def _how_to_reembed(collection: str, model: str, old: int, new: int | None) -> str:
    target = f"{model} v{new}" if new is not None else f"another version of {model}"
    return (
        f"to search it with {target}, create a new collection and add the items again (they are "
        f"embedded by the serving version on the way in), then delete {collection!r}; or load "
        f"{model} v{old} again to keep this collection working as it is"
    )
