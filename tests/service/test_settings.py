"""Settings: MMS_* environment variables, comma lists, and checks that catch bad combinations."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.inference.session import SessionConfig
from service.settings import Settings


def test_environment_variables_with_the_mms_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMS_MODEL_DIR", "/srv/models")
    monkeypatch.setenv("MMS_MODELS", "vision, text")
    monkeypatch.setenv("MMS_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("MMS_REQUIRE_GPU", "true")
    settings = Settings()
    assert settings.model_dir == Path("/srv/models")
    assert settings.models == ["vision", "text"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.require_gpu is True


def test_unknown_and_inconsistent_settings_fail_loudly() -> None:
    with pytest.raises(ValidationError):
        Settings(providers="tpu")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_queue_size"):
        Settings(max_queue_size=4, max_items=8)
    with pytest.raises(ValidationError):
        Settings(max_batch_siz=8)  # type: ignore[call-arg]


def test_session_options_come_from_settings_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().ort_spinning is False  # spinning steals the CPU decoding needs
    monkeypatch.setenv("MMS_ORT_SPINNING", "1")
    monkeypatch.setenv("MMS_INTRA_OP_THREADS", "2")
    config = SessionConfig.from_settings(Settings(providers="cpu"))
    assert config == SessionConfig(providers="cpu", intra_op_threads=2, inter_op_threads=0,
                                   graph_optimization="all", spinning=True)  # fmt: skip


def test_batch_concurrency_defaults_to_two_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.settings as module

    monkeypatch.setattr(module, "_usable_cpus", lambda: 2)
    assert Settings().batch_concurrency == 4
    monkeypatch.setattr(module, "_usable_cpus", lambda: 64)
    assert Settings().batch_concurrency == 8  # capped: more threads only add contention
    assert Settings(concurrent_batches=3).batch_concurrency == 3
