"""V2 tensor wire format: JSON data (nested or flat), binary tensors, BYTES, classification."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from service.api.v2 import codec as v2_codec
from service.api.v2.infer import classify, decode_request
from service.errors import InvalidInputError, MalformedRequestError


def test_json_data_nested_and_flat_give_the_same_tensor() -> None:
    nested = v2_codec.from_json("x", "FP32", [2, 2], [[1, 2], [4, 5]])
    flat = v2_codec.from_json("x", "FP32", [2, 2], [1, 2, 4, 5])
    assert nested.dtype == np.float32 and nested.shape == (2, 2)
    np.testing.assert_array_equal(nested, flat)


@pytest.mark.parametrize(
    ("datatype", "shape", "data", "message"),
    [
        ("FP32", [2, 2], [1, 2, 3], "needs 4 values"),
        ("FP32", [2], [[1, 2], [3]], "rectangular"),
        ("INT64", [1], ["a"], "rectangular"),
        ("FP17", [1], [1], "unknown datatype"),
        ("BYTES", [1], [3], "must be strings"),
    ],
)
def test_json_data_errors_name_the_problem(
    datatype: str, shape: list[int], data: object, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        v2_codec.from_json("x", datatype, shape, data)


def test_binary_tensor_round_trip_matches_tritonclient_bytes() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    decoded = v2_codec.from_binary("x", "FP32", [2, 3], array.tobytes())
    np.testing.assert_array_equal(decoded, array)
    with pytest.raises(InvalidInputError, match="needs 24 bytes"):
        v2_codec.from_binary("x", "FP32", [2, 3], array.tobytes()[:-4])


def test_bytes_elements_use_tritons_serialisation() -> None:
    values = np.array([b"\xff\xd8jpeg", b"", b"text"], dtype=object)
    ours = v2_codec.encode_bytes_elements(values)
    assert ours == serialize_byte_tensor(values).item()
    decoded = v2_codec.from_binary("x", "BYTES", [3], ours)
    assert list(decoded) == list(values)
    assert list(deserialize_bytes_tensor(ours)) == list(values)
    with pytest.raises(InvalidInputError, match="runs past"):
        v2_codec.decode_bytes_elements("x", ours[:-1])


def test_json_output_data_is_flat_and_nan_becomes_null() -> None:
    out = v2_codec.to_json_data(np.array([[1.5, np.nan]], dtype=np.float32))
    assert out == [1.5, None]
    assert v2_codec.to_json_data(np.array([b"a:1"], dtype=object)) == ["a:1"]


def test_split_body_checks_the_header_length() -> None:
    assert v2_codec.split_body(b"{}abc", "2") == (b"{}", b"abc")
    assert v2_codec.split_body(b"{}", None) == (b"{}", b"")
    for bad in ("x", "0", "9"):
        with pytest.raises(MalformedRequestError):
            v2_codec.split_body(b"{}abc", bad)


def _header(inputs: list[dict[str, object]]) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


def test_decode_request_mixes_json_and_binary_inputs() -> None:
    ids = np.array([[1, 2, 3]], dtype=np.int64)
    header = _header([
        {"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [[0.5, 1.5]]},
        {"name": "b", "shape": [1, 3], "datatype": "INT64",
         "parameters": {"binary_data_size": ids.nbytes}},
    ])  # fmt: skip
    request, tensors = decode_request(header, ids.tobytes())
    assert request.inputs[0].name == "a"
    np.testing.assert_array_equal(tensors["b"], ids)
    assert tensors["a"].dtype == np.float32


@pytest.mark.parametrize(
    ("header", "tail", "error", "message"),
    [
        (b"not json", b"", MalformedRequestError, "not valid JSON"),
        (_header([]), b"", InvalidInputError, "inputs"),
        (_header([{"name": "a", "shape": [1], "datatype": "FP32"}]), b"", InvalidInputError,
         "neither data"),
        (_header([{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]), b"xx",
         InvalidInputError, "belong to no input"),
        (json.dumps({"inputs": [{"name": "a", "shape": [0], "datatype": "FP32", "data": []}],
                    "bogus": 1}).encode(), b"", InvalidInputError, "bogus"),
    ],
)  # fmt: skip
def test_decode_request_rejects_bad_bodies(
    header: bytes, tail: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        decode_request(header, tail)


def test_classification_strings_follow_triton() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], dtype=np.float32)
    top = classify(scores, 2, ["cat", "dog", "fox"])
    assert top.shape == (2, 2)
    assert top[0].tolist() == [b"0.700000:1:dog", b"0.200000:2:fox"]
    assert classify(scores, 9, None)[1].tolist() == [b"0.500000:0", b"0.300000:2", b"0.200000:1"]
