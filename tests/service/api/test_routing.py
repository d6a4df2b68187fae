"""The route class: one multipart parse and one model lookup per request, checks before parsing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.multipart import BoundedMultiPartParser
from service.inference.registry import Registry
from tests.service.media import png


def _count(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_an_upload_is_parsed_once_and_resolves_its_model_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = _count(monkeypatch, BoundedMultiPartParser, "finish")
    lookups = _count(monkeypatch, Registry, "get")
    files = [("files", ("a.png", png(), "image/png")), ("files", ("b.png", png(), "image/png"))]
    response = client.post("/v1/classify/upload", files=files, data={"model": "vision"})
    assert response.status_code == 200, response.text
    assert len(parses) == 1 and len(lookups) == 1


def test_the_api_key_is_checked_before_the_body_is_read(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client(api_key="s3cret") as client:
        parses = _count(monkeypatch, BoundedMultiPartParser, "finish")
        files = [("files", ("a.png", png(), "image/png"))]
        assert client.post("/v1/classify/upload", files=files).status_code == 401
        assert parses == []
        # an unknown path is a 404 for everyone: only routes of the API need the key
        assert client.get("/v1/nope").status_code == 404
