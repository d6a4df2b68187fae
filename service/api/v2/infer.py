"""The V2 inference path without HTTP: request body -> per-item model inputs, outputs -> body.

Raw tensors are split along the batch axis into the same per-item dicts the task endpoints
build, so a V2 request joins the model's dynamic batch with everything else (and the ONNX
session sees the same collation). Two conveniences beyond raw tensors, as the Open Inference
Protocol allows: an ``image`` input sent as ``BYTES`` carries encoded JPEG/PNG/WebP files
(base64 in JSON, raw in binary tensor data) and is decoded and preprocessed server-side as the
manifest says; a ``text`` input sent as ``BYTES`` carries strings, tokenised server-side (its
attention mask and token type ids are then derived, not sent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from contract.manifest import ImageInput, Manifest
from service.api.inputs import decode_base64
from service.api.v2 import codec
from service.api.v2.schemas import InferRequest, RequestOutput
from service.errors import InvalidInputError, MalformedRequestError
from service.inference.images import image_input
from service.inference.served import ServedModel
from service.inference.session import Inputs, Outputs
from service.tasks.inputs import check_count

__all__ = ["OutputPlan", "decode_request", "encode_response", "plan_outputs", "to_items"]

_BYTES_ALTERNATIVE = {"image": " (or BYTES: encoded images)", "text": " (or BYTES: strings)"}
_TEXT_COMPANIONS = ("attention_mask", "token_type_ids")


def decode_request(header: bytes, tail: bytes) -> tuple[InferRequest, dict[str, np.ndarray]]:
    """Parse the JSON header and every input tensor (JSON ``data`` or binary tail)."""
    try:
        request = InferRequest.model_validate_json(header)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for spec in request.inputs:
        if spec.name in tensors:
            raise InvalidInputError(f"input {spec.name!r} is given twice")
        size = (spec.parameters or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidInputError(f"input {spec.name!r}: binary_data_size must be an int")
            raw = tail[offset : offset + size]
            if len(raw) != size:
                raise InvalidInputError(f"input {spec.name!r}: the binary data is truncated")
            offset += size
            tensors[spec.name] = codec.from_binary(spec.name, spec.datatype, spec.shape, raw)
        elif spec.data is None:
            raise InvalidInputError(f"input {spec.name!r} has neither data nor binary_data_size")
        else:
            tensors[spec.name] = codec.from_json(spec.name, spec.datatype, spec.shape, spec.data)
    if offset != len(tail):
        raise InvalidInputError(f"{len(tail) - offset} bytes of binary data belong to no input")
    return request, tensors


def _validation_error(exc: ValidationError) -> InvalidInputError | MalformedRequestError:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return MalformedRequestError("the request body is not valid JSON")
    where = ".".join(str(part) for part in first["loc"])
    return InvalidInputError(f"{where}: {first['msg']}" if where else str(first["msg"]))


def to_items(model: ServedModel, tensors: dict[str, np.ndarray], max_items: int) -> list[Inputs]:
    """Split the request's tensors into one item per batch row (decoding BYTES inputs).

    CPU-heavy when images are decoded: call it from a worker thread.
    """
    manifest = model.manifest
    _check_names(manifest, tensors)
    batch = _batch_size(tensors)
    check_count(batch, max_items)
    columns: dict[str, list[np.ndarray]] = {}
    for spec in manifest.inputs:
        if spec.name in columns:
            continue  # filled with the text input it derives from
        tensor = tensors.get(spec.name)
        if tensor is None:
            raise InvalidInputError(_missing(manifest, spec.name))
        if tensor.dtype == np.object_ and spec.role == "image":
            assert isinstance(spec, ImageInput)
            columns[spec.name] = [_image_row(spec, v, model) for v in _elements(spec.name, tensor)]
        elif tensor.dtype == np.object_ and spec.role == "text":
            texts = [_text(spec.name, v) for v in _elements(spec.name, tensor)]
            columns.update(_tokenised(model, spec.name, tensors, texts))
        else:
            columns[spec.name] = list(_typed(spec.name, spec.dtype, spec.role, tensor))
    _check_text_rows(manifest, columns)
    return [{name: rows[i] for name, rows in columns.items()} for i in range(batch)]


def _check_names(manifest: Manifest, tensors: dict[str, np.ndarray]) -> None:
    known = {spec.name for spec in manifest.inputs}
    for name in tensors:
        if name not in known:
            raise InvalidInputError(
                f"model {manifest.name!r} has no input {name!r}; its inputs are {sorted(known)}"
            )


def _missing(manifest: Manifest, name: str) -> str:
    return f"input {name!r} of model {manifest.name!r} is missing"


def _batch_size(tensors: dict[str, np.ndarray]) -> int:
    sizes = {name: (t.shape[0] if t.ndim else -1) for name, t in tensors.items()}
    if len(set(sizes.values())) != 1 or min(sizes.values()) < 1:
        raise InvalidInputError(
            f"every input needs the same batch size (first dimension) >= 1; got {sizes}"
        )
    return next(iter(sizes.values()))


def _typed(name: str, dtype: str, role: str, tensor: np.ndarray) -> np.ndarray:
    want = codec.MANIFEST_DATATYPES[dtype]
    got = codec.datatype_of(tensor)
    if got != want:
        extra = _BYTES_ALTERNATIVE.get(role, "")
        raise InvalidInputError(f"input {name!r} must be {want}{extra}, got {got}")
    return tensor


def _elements(name: str, tensor: np.ndarray) -> list[Any]:
    """The one element per batch row of a BYTES tensor of shape ``(B,)`` or ``(B, 1)``."""
    if tensor.ndim > 2 or (tensor.ndim == 2 and tensor.shape[1] != 1):
        raise InvalidInputError(
            f"BYTES input {name!r} must have shape [batch] or [batch, 1], got {list(tensor.shape)}"
        )
    return list(tensor.reshape(-1))


def _image_row(spec: ImageInput, value: Any, model: ServedModel) -> np.ndarray:
    """One image tensor from encoded bytes (binary) or base64 / a data URI (JSON)."""
    data = value if isinstance(value, bytes) else decode_base64(value)
    return image_input(data, spec, model.preprocessor.max_image_pixels)


def _tokenised(
    model: ServedModel, name: str, tensors: dict[str, np.ndarray], texts: list[str]
) -> dict[str, list[np.ndarray]]:
    encoder = model.preprocessor.text
    assert encoder is not None  # a manifest with a text input always has one
    companions = [s for s in model.manifest.inputs if s.role in _TEXT_COMPANIONS]
    for spec in companions:
        if spec.name in tensors:
            raise InvalidInputError(
                f"input {spec.name!r} is derived from the text when {name!r} is sent as BYTES; "
                "leave it out"
            )
    encoded = [encoder.encode(text) for text in texts]
    columns = {name: [e["text"] for e in encoded]}
    columns.update({spec.name: [e[spec.role] for e in encoded] for spec in companions})
    return columns


def _text(name: str, value: Any) -> str:
    """A BYTES element as a string (its limits are checked by the tokeniser)."""
    try:
        return value if isinstance(value, str) else bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"input {name!r}: a BYTES text must be UTF-8") from None


def _check_text_rows(manifest: Manifest, columns: dict[str, list[np.ndarray]]) -> None:
    """Token ids, mask and type ids of one item must have the same length."""
    names = [s.name for s in manifest.inputs if s.role in ("text", *_TEXT_COMPANIONS)]
    for rows in zip(*(columns[n] for n in names), strict=True):
        if len({row.shape for row in rows}) > 1:
            shapes = {n: list(row.shape) for n, row in zip(names, rows, strict=True)}
            raise InvalidInputError(f"text inputs of one item must have one shape, got {shapes}")


@dataclass(frozen=True)
class OutputPlan:
    """One output to send: its name, how many classes to report (0: the tensor), binary or not."""

    name: str
    classification: int
    binary: bool


def plan_outputs(manifest: Manifest, request: InferRequest) -> list[OutputPlan]:
    """Which outputs to return and how, checked before any inference runs."""
    default_binary = bool((request.parameters or {}).get("binary_data_output", False))
    wanted = request.outputs or [RequestOutput(name=o.name) for o in manifest.outputs]
    plans = []
    for output in wanted:
        try:
            spec = manifest.output(output.name)
        except KeyError:
            names = [o.name for o in manifest.outputs]
            raise InvalidInputError(
                f"model {manifest.name!r} has no output {output.name!r}; its outputs are {names}"
            ) from None
        params = output.parameters or {}
        k = params.get("classification", 0)
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise InvalidInputError(f"output {spec.name!r}: classification must be an int >= 0")
        if k and len(spec.shape) != 2:
            raise InvalidInputError(f"output {spec.name!r} is not a (batch, classes) tensor")
        plans.append(OutputPlan(spec.name, k, bool(params.get("binary_data", default_binary))))
    return plans


def classify(scores: np.ndarray, k: int, labels: list[str] | None) -> np.ndarray:
    """Top-``k`` per row as BYTES ``"<value>:<index>[:<label>]"``, as Triton's extension does."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = []
    for row, indices in zip(scores, top, strict=True):
        rows.append([_class_entry(float(row[i]), int(i), labels) for i in indices])
    out = np.empty((scores.shape[0], k), dtype=object)
    out[:] = rows
    return out


def _class_entry(value: float, index: int, labels: list[str] | None) -> bytes:
    label = f":{labels[index]}" if labels and index < len(labels) else ""
    return f"{value:f}:{index}{label}".encode()


def encode_response(
    model: ServedModel, request_id: str, plans: list[OutputPlan], results: list[Outputs]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when binary tensors follow it."""
    outputs: list[dict[str, Any]] = []
    tail: list[bytes] = []
    for plan in plans:
        array = np.stack([result[plan.name] for result in results])
        if plan.classification:
            labels = model.manifest.output(plan.name).labels
            array = classify(array, plan.classification, labels)
        entry: dict[str, Any] = {
            "name": plan.name, "datatype": codec.datatype_of(array), "shape": list(array.shape),
        }  # fmt: skip
        if plan.binary:
            raw = codec.to_binary(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        else:
            entry["data"] = codec.to_json_data(array)
        outputs.append(entry)
    manifest = model.manifest
    body = {"model_name": manifest.name, "model_version": str(manifest.version),
            "id": request_id, "outputs": outputs}  # fmt: skip
    header = json.dumps(body, separators=(",", ":")).encode()
    if not tail:
        return header, None
    return header + b"".join(tail), len(header)
