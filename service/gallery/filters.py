"""The metadata filter: a small, validated language that both backends translate to Qdrant's.

JSON shape (every clause optional; conditions within ``must`` are ANDed)::

    {"must": [{"key": "camera", "match": "x100"},
              {"key": "tag", "any": ["cat", "dog"]},
              {"key": "year", "range": {"gte": 2019, "lt": 2024}}],
     "should": [...],    # at least one of these, when given
     "must_not": [...]}  # none of these

A condition tests one metadata field (``a.b`` reaches into nested objects; an array field matches
when any of its elements does): ``match`` is equality with a string or an integer, ``any`` is
membership in a list of strings or of integers, ``range`` is numeric bounds. Booleans are refused:
the embedded engine (qdrant-edge-py 0.9.0) turns ``True`` into ``1`` and then never matches a
boolean field, and both backends must answer alike; store flags as strings or 0/1 instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from service.gallery.errors import InvalidFilterError

#: A metadata key: up to four dot-separated names of letters, digits, ``_`` and ``-``.
KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$"
MAX_CONDITIONS = 32
MAX_VALUES = 256

Number = StrictInt | StrictFloat
Token = Annotated[str, Field(min_length=1, max_length=256)]


class Range(BaseModel):
    """Numeric bounds; at least one, and the lower ones below the upper ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> Range:
        lows = [v for v in (self.gt, self.gte) if v is not None]
        highs = [v for v in (self.lt, self.lte) if v is not None]
        if not lows and not highs:
            raise ValueError("a range needs at least one of gt, gte, lt, lte")
        if lows and highs and max(lows) > min(highs):
            raise ValueError("the lower bound of the range is above its upper bound")
        return self


class Condition(BaseModel):
    """One test on one metadata field: exactly one of ``match``, ``any``, ``range``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=KEY_PATTERN, description="metadata field, `a.b` for nested")
    match: StrictStr | StrictInt | None = Field(default=None, description="equal to this value")
    any: list[StrictStr] | list[StrictInt] | None = Field(
        default=None, min_length=1, max_length=MAX_VALUES, description="equal to one of these"
    )
    range: Range | None = Field(default=None, description="within these numeric bounds")

    @field_validator("match", mode="before")
    @classmethod
    def _no_float_or_bool_match(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("boolean filters are not supported; store the flag as 0/1 or a string")
        if isinstance(value, float):
            raise ValueError("match compares strings and integers; use a range for a float")
        return value

    @field_validator("any", mode="before")
    @classmethod
    def _one_kind_of_value(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if any(isinstance(v, bool) for v in value):
            raise ValueError("boolean filters are not supported; store the flag as 0/1 or a string")
        if len({type(v) for v in value}) > 1:
            raise ValueError("any takes a list of strings or a list of integers, not a mix")
        return value

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        given = [name for name in ("match", "any", "range") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a condition needs exactly one of match, any, range; got {given}")
        return self


Conditions = Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)]


class Filter(BaseModel):
    """Conditions on metadata: all of ``must``, one of ``should`` (if any), none of ``must_not``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    must: Conditions = Field(default_factory=list)
    should: Conditions = Field(default_factory=list)
    must_not: Conditions = Field(default_factory=list)

    def is_empty(self) -> bool:
        """True when the filter has no condition at all (it matches every item)."""
        return not (self.must or self.should or self.must_not)


def parse_filter(raw: Filter | Mapping[str, Any] | None) -> Filter | None:
    """A validated :class:`Filter` from client JSON; ``None`` stays ``None``.

    Raises:
        InvalidFilterError: (422) with every problem found, each prefixed by where it is.
    """
    if raw is None or isinstance(raw, Filter):
        return raw
    try:
        return Filter.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise InvalidFilterError(f"malformed filter: {problems}", field="filter") from None


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "filter"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
