"""The query commands: classify, sentiment, rank, search, models, health.

Each ``cmd_*`` takes the client and the parsed arguments, prints a table (or JSON with
``--json``) and returns the exit code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mapping_client import Client
from mapping_client.cli.output import as_json, plain, shorten, table


def cmd_classify(client: Client, args: argparse.Namespace) -> int:
    """Top labels of every head for each photo."""
    results = client.classify([Path(p) for p in args.photos], model=args.model, top_k=args.top_k)
    if args.json:
        as_json([{"photo": p, **_dict(r)} for p, r in zip(args.photos, results, strict=True)])
        return 0
    rows = [
        (photo, name, label.label, label.score)
        for photo, result in zip(args.photos, results, strict=True)
        for name, head in result.heads.items()
        for label in head.labels or []
    ]
    table(rows, ["photo", "head", "label", "score"])
    return 0


def cmd_sentiment(client: Client, args: argparse.Namespace) -> int:
    """Label, valence and class probabilities of each text."""
    results = client.sentiment(args.texts, model=args.model)
    if args.json:
        as_json([{"text": t, **_dict(r)} for t, r in zip(args.texts, results, strict=True)])
        return 0
    rows = [
        (shorten(text, 50), r.label, r.valence,
         " ".join(f"{k} {v:.2f}" for k, v in r.probabilities.items()))
        for text, r in zip(args.texts, results, strict=True)
    ]  # fmt: skip
    table(rows, ["text", "label", "valence", "probabilities"])
    return 0


def cmd_rank(client: Client, args: argparse.Namespace) -> int:
    """The labels ranked against a photo (zero-shot classification)."""
    ranked = client.rank(Path(args.photo), args.labels, space=args.space)
    if args.json:
        as_json(ranked)
        return 0
    rows = [(n, r.text, r.probability, r.cosine) for n, r in enumerate(ranked, 1)]
    table(rows, ["rank", "label", "probability", "cosine"])
    return 0


def cmd_search(client: Client, args: argparse.Namespace) -> int:
    """The collection's items nearest to a text (or ``--image``)."""
    if (args.query is None) == (args.image is None):
        raise SystemExit("error: give a text query or --image PATH (one of them)")
    found = client.search(
        args.collection, args.query, image=Path(args.image) if args.image else None,
        top_k=args.top_k, offset=args.offset, filter=_filter(args.filter),
    )  # fmt: skip
    if args.json:
        as_json(found)
        return 0
    rows = [
        (n, hit.score, _name(hit.metadata), hit.id[:12], shorten(_extra(hit.metadata), 40))
        for n, hit in enumerate(found, args.offset + 1)
    ]
    table(rows, ["rank", "score", "name", "id", "metadata"])
    return 0


def cmd_models(client: Client, args: argparse.Namespace) -> int:
    """The models with state, version, provider and heads."""
    models = client.models()
    if args.json:
        as_json(models)
        return 0
    rows = [
        (m.name, m.state, m.version, ",".join(_short(p) for p in m.providers), m.kind,
         ", ".join(f"{h.name} ({h.type})" for h in m.heads))
        for m in models
    ]  # fmt: skip
    table(rows, ["model", "state", "version", "provider", "kind", "heads"])
    return 0


def cmd_health(client: Client, args: argparse.Namespace) -> int:
    """Liveness and readiness; exit code 0 only when ready."""
    ready = client.ready()
    if args.json:
        as_json({"live": True, **_dict(ready)})
    else:
        print(f"live: yes   ready: {'yes' if ready.ready else 'no'}")
        rows = [(name, m.state, m.version, ",".join(m.providers), m.reason)
                for name, m in ready.models.items()]  # fmt: skip
        table(rows, ["model", "state", "version", "providers", "reason"])
    return 0 if ready.ready else 1


def _short(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider")


def _dict(value: Any) -> dict[str, Any]:
    result = plain(value)
    assert isinstance(result, dict)
    return result


def _filter(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --filter is not JSON: {exc}") from None
    if not isinstance(value, dict):
        example = '{"must": [{"key": "album", "match": "2024"}]}'
        raise SystemExit(f"error: --filter must be a JSON object, e.g. '{example}'")
    return value


def _name(metadata: dict[str, Any] | None) -> str:
    meta = metadata or {}
    return str(meta.get("path") or meta.get("filename") or meta.get("text") or "")


def _extra(metadata: dict[str, Any] | None) -> str:
    shown = {k: v for k, v in (metadata or {}).items()
             if k not in ("path", "filename", "thumbnail")}  # fmt: skip
    return json.dumps(shown, ensure_ascii=False) if shown else ""
