"""Fixtures: a repository of tiny real ONNX models and apps serving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.tiny_models import build_repository


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio, the loop uvicorn uses."""
    return "asyncio"


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``vision``, ``text`` and ``fusion``, exported once per test session."""
    return build_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def make_client(model_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``with make_client(**settings) as client:`` an app on ``model_repo``, models loaded."""

    @contextmanager
    def factory(**overrides: Any) -> Iterator[TestClient]:
        values: dict[str, Any] = {
            "model_dir": model_repo, "providers": "cpu",
            "gallery_data_dir": tmp_path_factory.mktemp("gallery"), **overrides,
        }  # fmt: skip
        app = create_app(Settings(**values))
        with TestClient(app, raise_server_exceptions=False) as client:
            client.portal.call(app.state.engine.wait_loaded, 60)
            yield client

    return factory


@pytest.fixture(scope="module")
def client(make_client: Callable[..., Any]) -> Iterator[TestClient]:
    """An app with the default settings (limits lowered so tests stay small)."""
    with make_client(max_items=8, max_text_chars=200, max_body_bytes=2_000_000) as test_client:
        yield test_client
