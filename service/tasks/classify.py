"""``classify`` and ``sentiment``: the heads of one model, for items of images and/or texts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from contract.manifest import Manifest, OutputSpec
from service.errors import InvalidInputError, ModelNotFoundError
from service.inference.engine import Engine
from service.inference.served import ServedModel
from service.inference.session import Outputs
from service.tasks.heads import answer_heads, read_head, regression_value, select_heads
from service.tasks.heads import sentiment_heads as pick_sentiment_heads
from service.tasks.inputs import Item, check_count
from service.tasks.results import ClassifyResult, ItemHeads, Sentiment, SentimentResult

# The model a request without ``model`` goes to, when the repository has it.
DEFAULT_CLASSIFIER = "vision"
DEFAULT_SENTIMENT = "text"


async def classify(
    engine: Engine,
    items: Sequence[Item],
    *,
    model: str | None = None,
    version: int | None = None,
    heads: Sequence[str] | None = None,
    top_k: int = 5,
) -> ClassifyResult:
    """Run one model's classification and regression heads (all, or those named in ``heads``),
    at ``version`` when given (one the model serves), else its highest serving version."""
    check_count(len(items), engine.settings.max_items)
    given = _modalities(items)
    served = choose_model(
        engine, model, DEFAULT_CLASSIFIER, "classify these items",
        lambda m: m.modalities == given and bool(answer_heads(m)), version,
    )  # fmt: skip
    manifest = served.manifest
    chosen = select_heads(manifest, heads)
    outputs = await _run(served, items)
    results = [ItemHeads({h.name: read_head(h, out[h.name], top_k) for h in chosen})
               for out in outputs]  # fmt: skip
    return ClassifyResult(served.name, manifest.version, results)


async def sentiment(
    engine: Engine,
    items: Sequence[Item],
    *,
    model: str | None = None,
    version: int | None = None,
) -> SentimentResult:
    """Sentiment label, class probabilities and valence of texts (with images where taken)."""
    check_count(len(items), engine.settings.max_items)
    if any(item.text is None for item in items):
        raise InvalidInputError("every sentiment item needs a text")
    given = _modalities(items)
    served = choose_model(
        engine, model, DEFAULT_SENTIMENT, "rate the sentiment of these items",
        lambda m: m.modalities == given and any(o.type == "softmax" for o in m.outputs), version,
    )  # fmt: skip
    label_head, valence_head = pick_sentiment_heads(served.manifest)
    outputs = await _run(served, items)
    results = [
        _sentiment(out, label_head, valence_head, item)
        for item, out in zip(items, outputs, strict=True)
    ]
    return SentimentResult(served.name, served.manifest.version, results)


def choose_model(
    engine: Engine,
    requested: str | None,
    default: str,
    what: str,
    fits: Callable[[Manifest], bool],
    version: int | None = None,
) -> ServedModel:
    """The model named in the request; else ``default`` when the repository has it; else the
    one ready model that ``fits``. No model, or several: an error that names the candidates.
    ``version`` picks one of the chosen model's serving versions (404 naming them if not)."""
    if requested is not None:
        return engine.resolve(requested, version)
    if default in {m.name for m in engine.models()}:
        return engine.resolve(default, version)
    able = [m.name for m in engine.models() if m.ready and fits(m.manifest)]
    if len(able) == 1:
        return engine.resolve(able[0], version)
    if not able:
        raise ModelNotFoundError(
            f"no `model` given, the repository has no {default!r} model, and no loaded model can "
            f"{what}; GET /v1/models lists the models"
        )
    raise InvalidInputError(
        f"no `model` given and the repository has no {default!r} model; models that can {what}: "
        f"{', '.join(able)}; name one in `model`",
        models=able,
    )


def _modalities(items: Sequence[Item]) -> frozenset[str]:
    """The modalities the items carry (all of them; the model checks each item)."""
    return frozenset().union(*(item.modalities for item in items))


async def _run(served: ServedModel, items: Sequence[Item]) -> list[Outputs]:
    return await served.run([i.image for i in items], [i.text for i in items])


def _sentiment(
    out: Outputs, label_head: OutputSpec, valence_head: OutputSpec | None, item: Item
) -> Sentiment:
    labels = label_head.labels or []
    probs = [float(p) for p in out[label_head.name].reshape(-1)]
    best = max(range(len(probs)), key=probs.__getitem__)
    return Sentiment(
        label=labels[best],
        probabilities=dict(zip(labels, probs, strict=True)),
        valence=regression_value(out[valence_head.name]) if valence_head else None,
        valence_range=valence_head.range if valence_head else None,
        modalities=["text", "image"] if item.image is not None else ["text"],
    )
