"""``infer``: raw tensors in, raw outputs out (the Open Inference Protocol's path).

The protocol layer decodes the request into per-item inputs with the model in hand (BYTES images
and texts need its preprocessing); this task resolves the model once, runs that decoding in a
worker thread while the model's batcher knows items are on their way, and batches the items
with every other request for the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.inference.engine import Engine
from service.inference.served import ServedModel
from service.inference.session import Inputs, Outputs

PlanT = TypeVar("PlanT")


@dataclass(frozen=True)
class Inferred(Generic[PlanT]):
    """The model that ran, what the decoder planned (e.g. outputs to send), one output per item."""

    model: ServedModel
    plan: PlanT
    outputs: list[Outputs]


async def infer(
    engine: Engine,
    name: str,
    version: int | str | None,
    decode: Callable[[ServedModel], tuple[PlanT, list[Inputs]]],
) -> Inferred[PlanT]:
    """Resolve ``name`` (at ``version``), ``decode`` off the event loop, run the items."""
    model = engine.resolve(name, version)
    # The item count is known only once decoded: admit one before the decode (a full queue is
    # a 429 without it); the batcher's own queue check bounds the rest.
    with model.admit(1):
        with model.preparing():  # the batcher may hold a batch for these items
            plan, items = await asyncio.to_thread(decode, model)
        return Inferred(model, plan, await model.infer(items))
