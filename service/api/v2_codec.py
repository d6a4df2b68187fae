"""Open Inference Protocol tensors: JSON ``data`` and binary bodies to numpy and back.

Pure functions, no FastAPI, so the wire format is unit-tested on its own. Covers the JSON tensor
form of the spec (nested or flat, row-major) and Triton's binary tensor data extension: the
body is a JSON header of ``Inference-Header-Content-Length`` bytes followed by the raw
little-endian tensors of every input whose ``parameters.binary_data_size`` is set, in order;
BYTES elements are each a 4-byte little-endian length and the bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from service.errors import InvalidInputError, MalformedRequestError

__all__ = [
    "DTYPES",
    "MANIFEST_DATATYPES",
    "datatype_of",
    "decode_bytes_elements",
    "encode_bytes_elements",
    "from_binary",
    "from_json",
    "split_body",
    "to_json_data",
]

DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(np.object_),
}
_BY_DTYPE = {dtype: name for name, dtype in DTYPES.items() if name != "BYTES"}
# The manifest's tensor dtypes (``contract.manifest``) as protocol datatypes.
MANIFEST_DATATYPES = {"float32": "FP32", "int64": "INT64"}


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype name of a numpy array (``BYTES`` for object arrays)."""
    if array.dtype == np.object_:
        return "BYTES"
    return _BY_DTYPE[array.dtype.newbyteorder("<")]


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """Split a body into (JSON header, binary tail) by ``Inference-Header-Content-Length``."""
    if header_length is None:
        return body, b""
    try:
        size = int(header_length)
    except ValueError:
        raise MalformedRequestError(
            f"Inference-Header-Content-Length must be an integer, got {header_length[:32]!r}"
        ) from None
    if not 0 < size <= len(body):
        raise MalformedRequestError(
            f"Inference-Header-Content-Length is {size} but the body has {len(body)} bytes"
        )
    return body[:size], body[size:]


def _element_count(name: str, shape: Sequence[int]) -> int:
    if any(dim < 0 for dim in shape):
        raise InvalidInputError(f"input {name!r}: shape {list(shape)} has a negative dimension")
    return math.prod(shape)


def from_json(name: str, datatype: str, shape: Sequence[int], data: Any) -> np.ndarray:
    """A tensor from JSON ``data`` (nested or flat, row-major), checked against ``shape``.

    BYTES elements stay Python ``str`` (JSON has no byte strings); the caller decides what they
    mean (base64 image, text).
    """
    dtype = _dtype(name, datatype)
    count = _element_count(name, shape)
    try:
        flat = np.asarray(data, dtype=dtype).reshape(-1)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInputError(
            f"input {name!r}: data is not a rectangular array of {datatype} values"
        ) from None
    if datatype == "BYTES" and not all(isinstance(item, str) for item in flat):
        raise InvalidInputError(f"input {name!r}: BYTES data must be strings in JSON")
    if flat.size != count:
        raise InvalidInputError(
            f"input {name!r}: shape {list(shape)} needs {count} values, data has {flat.size}"
        )
    return flat.reshape(tuple(shape))


def from_binary(name: str, datatype: str, shape: Sequence[int], raw: bytes) -> np.ndarray:
    """A tensor from its raw little-endian bytes (binary tensor data extension)."""
    dtype = _dtype(name, datatype)
    count = _element_count(name, shape)
    if datatype == "BYTES":
        flat = decode_bytes_elements(name, raw)
    else:
        if len(raw) != count * dtype.itemsize:
            raise InvalidInputError(
                f"input {name!r}: shape {list(shape)} of {datatype} needs "
                f"{count * dtype.itemsize} bytes, binary_data_size is {len(raw)}"
            )
        flat = np.frombuffer(raw, dtype=dtype)
    if flat.size != count:
        raise InvalidInputError(
            f"input {name!r}: shape {list(shape)} needs {count} elements, got {flat.size}"
        )
    return flat.reshape(tuple(shape))


def decode_bytes_elements(name: str, raw: bytes) -> np.ndarray:
    """BYTES elements serialised as (uint32 little-endian length, bytes)... into an object array."""
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInputError(f"input {name!r}: truncated BYTES element length")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidInputError(f"input {name!r}: a BYTES element runs past the data")
        items.append(raw[offset : offset + length])
        offset += length
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def encode_bytes_elements(array: np.ndarray) -> bytes:
    """The binary form of a BYTES tensor (row-major): each element as uint32 length + bytes."""
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def to_json_data(array: np.ndarray) -> list[Any]:
    """Flat, row-major JSON ``data`` of an output (BYTES as UTF-8 strings)."""
    flat = array.reshape(-1)
    if array.dtype == np.object_:
        return [item.decode() if isinstance(item, bytes) else str(item) for item in flat]
    values: list[Any] = flat.tolist()
    if array.dtype.kind == "f" and not np.isfinite(flat).all():
        # JSON has no NaN or Infinity: send null, which numpy clients read back as NaN.
        values = [v if math.isfinite(v) else None for v in values]
    return values


def to_binary(array: np.ndarray) -> bytes:
    """Raw little-endian bytes of an output (binary tensor data extension)."""
    if array.dtype == np.object_:
        return encode_bytes_elements(array)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _dtype(name: str, datatype: str) -> np.dtype[Any]:
    try:
        return DTYPES[datatype]
    except KeyError:
        raise InvalidInputError(
            f"input {name!r}: unknown datatype {datatype!r}; use one of {', '.join(DTYPES)}"
        ) from None
