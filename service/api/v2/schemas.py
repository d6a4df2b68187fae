"""Open Inference Protocol (KServe V2) REST bodies, field for field as the specification names them.

Requests forbid unknown fields and bound every list and string; ``data`` is checked against
``shape`` and ``datatype`` when it becomes a numpy array (``v2_codec``), not here, because
pydantic cannot validate a nested array of arbitrary depth cheaply.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=256)]
ParamKey = Annotated[str, Field(max_length=128)]
ParamValue = Annotated[str, Field(max_length=4096)] | bool | int | float
Parameters = Annotated[dict[ParamKey, ParamValue], Field(max_length=32)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestInput(_Request):
    """One input tensor: ``data`` nested or flat, row-major; or binary after the JSON header."""

    name: Name
    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=8)]
    datatype: Annotated[str, Field(max_length=16)]
    parameters: Parameters | None = None
    data: Any = None


class RequestOutput(_Request):
    """An output to return; ``parameters`` may ask for ``binary_data`` or ``classification``."""

    name: Name
    parameters: Parameters | None = None


class InferRequest(_Request):
    """``$inference_request``: omit ``outputs`` to get every output of the model."""

    id: Annotated[str, Field(max_length=256)] | None = None
    parameters: Parameters | None = None
    inputs: Annotated[list[RequestInput], Field(min_length=1, max_length=16)]
    outputs: Annotated[list[RequestOutput], Field(max_length=64)] | None = None


class ResponseOutput(BaseModel):
    """One output tensor; ``data`` is absent when the tensor follows the JSON as binary."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferResponse(BaseModel):
    """``$inference_response``."""

    model_name: str
    model_version: str | None = None
    id: str
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    """``$metadata_tensor``: -1 marks a variable dimension."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """``$metadata_model_response``."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    """``$metadata_server_response``: the extensions this server implements."""

    name: str
    version: str
    extensions: list[str]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ErrorResponse(BaseModel):
    """``$inference_error_response`` (and every other V2 error)."""

    error: str
