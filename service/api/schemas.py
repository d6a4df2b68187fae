"""Response models shared by the v1 routers: built straight from the tasks' results.

``Response`` models read their fields from the result dataclasses (``from_attributes``), so a
router shapes its answer with one ``model_validate(result)``; these classes only add what the
client sees in OpenAPI (descriptions, the head union's discriminator).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Response(BaseModel):
    """Base of every v1 response model: validated from a task result's attributes."""

    model_config = ConfigDict(from_attributes=True)


class ScoredLabel(Response):
    """A label and its probability."""

    label: str
    index: int
    score: float


class LabelsHead(Response):
    """A classification head's answer: its top-k labels, best first."""

    task: str
    type: Literal["softmax", "sigmoid"]
    labels: list[ScoredLabel]


class ValueHead(Response):
    """A regression head's answer: one value."""

    task: str
    type: Literal["regression"]
    value: float


HeadResult = Annotated[LabelsHead | ValueHead, Field(discriminator="type")]
