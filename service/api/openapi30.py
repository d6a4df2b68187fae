"""Rewrite FastAPI's OpenAPI 3.1 document as OpenAPI 3.0 for the bundled Swagger UI.

The Swagger UI that ``swagger_ui_bundle`` ships (4.x) renders only ``openapi: 3.0.x`` documents,
while FastAPI writes 3.1. The differences that matter for our schemas are few: nullable types,
binary file fields, exclusive bounds, ``const`` and ``examples``. ``/openapi.json`` stays 3.1;
only the docs page reads the 3.0 rendition.
"""

from __future__ import annotations

import copy
from typing import Any

OPENAPI_30 = "3.0.3"


def downgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A 3.0 copy of an OpenAPI 3.1 ``document`` (the input is not modified)."""
    result = _convert(copy.deepcopy(document))
    assert isinstance(result, dict)
    result["openapi"] = OPENAPI_30
    return result


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _convert(value) for key, value in node.items()}
    _nullable_any_of(node)
    _nullable_type_list(node)
    if "contentMediaType" in node:  # an uploaded file
        node.pop("contentMediaType")
        node.pop("contentEncoding", None)
        node["format"] = "binary"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            node[limit], node[bound] = node[bound], True
    if isinstance(node.get("examples"), list) and "schema" not in node and node["examples"]:
        node["example"] = node.pop("examples")[0]
    return node


def _nullable_any_of(node: dict[str, Any]) -> None:
    """``anyOf: [X, {type: null}]`` becomes X with ``nullable: true``."""
    options = node.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return
    rest = [option for option in options if option != {"type": "null"}]
    node.pop("anyOf")
    node["nullable"] = True
    if len(rest) != 1:
        node["anyOf"] = rest
    elif "$ref" in rest[0]:
        node["allOf"] = rest  # a $ref ignores sibling keys in 3.0
    else:
        node.update({key: value for key, value in rest[0].items() if key not in node})


def _nullable_type_list(node: dict[str, Any]) -> None:
    """``type: [X, "null"]`` becomes ``type: X`` with ``nullable: true``."""
    types = node.get("type")
    if isinstance(types, list):
        kept = [t for t in types if t != "null"]
        if len(kept) < len(types):
            node["nullable"] = True
        node["type"] = kept[0] if kept else "string"
