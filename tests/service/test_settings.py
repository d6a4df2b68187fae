"""Settings: MMS_* environment variables, comma lists, and checks that catch bad combinations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.gallery import GalleryConfig
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


def test_a_one_thread_model_runs_one_batch_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.settings as module

    monkeypatch.setattr(module, "_usable_cpus", lambda: 2)
    assert Settings().batch_concurrency_for(one_thread=True) == 2
    assert Settings().batch_concurrency_for(one_thread=False) == 4  # two per core
    monkeypatch.setattr(module, "_usable_cpus", lambda: 64)
    assert Settings().batch_concurrency_for(one_thread=True) == 8  # the same cap
    assert Settings(concurrent_batches=3).batch_concurrency_for(one_thread=True) == 3  # the setting


def test_gallery_settings_become_the_gallery_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMS_GALLERY_BACKEND", "qdrant")
    monkeypatch.setenv("MMS_GALLERY_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("MMS_GALLERY_QDRANT_API_KEY", "s3cret")
    monkeypatch.setenv("MMS_GALLERY_MAX_TOP_K", "50")
    settings = Settings()
    assert "s3cret" not in repr(settings)  # a SecretStr: never in logs
    config = GalleryConfig.from_settings(settings)
    assert (config.backend, config.qdrant_url, config.qdrant_api_key) == (
        "qdrant", "http://qdrant:6333", "s3cret",
    )  # fmt: skip
    assert config.limits.max_top_k == 50 and config.optimize_threshold == 20_000
    for name in ("BACKEND", "QDRANT_URL", "QDRANT_API_KEY", "MAX_TOP_K", "DATA_DIR"):
        monkeypatch.delenv(f"MMS_GALLERY_{name}", raising=False)
    defaults = GalleryConfig.from_settings(Settings())
    assert defaults == GalleryConfig()


def test_precision_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().precision_for("vision") == "auto"
    monkeypatch.setenv("MMS_PRECISION", "int8")
    monkeypatch.setenv("MMS_MODEL_PRECISIONS", "vision=fp32; text=auto")
    settings = Settings()
    assert settings.precision_for("vision") == "fp32"
    assert settings.precision_for("text") == "auto"
    assert settings.precision_for("shapes-vqa") == "int8"


@pytest.mark.parametrize(
    "bad",
    [
        {"precision": "int4"},
        {"model_precisions": {"vision": "fp16"}},
        {"model_precisions": "vision"},
    ],
)
def test_unknown_precisions_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)  # type: ignore[arg-type]


def test_intra_op_threads_are_set_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMS_INTRA_OP_THREADS", "2")
    monkeypatch.setenv("MMS_MODEL_INTRA_OP_THREADS", "text=1; shapes-vqa = 0")
    settings = Settings(providers="cpu")
    assert settings.model_intra_op_threads == {"text": 1, "shapes-vqa": 0}
    assert settings.intra_op_threads_for("text") == 1
    assert settings.intra_op_threads_for("shapes-vqa") == 0
    assert settings.intra_op_threads_for("vision") == 2
    for bad in ("text=-1", "text=many", "text"):
        monkeypatch.setenv("MMS_MODEL_INTRA_OP_THREADS", bad)
        with pytest.raises(ValidationError):
            Settings()


def test_each_model_session_gets_its_threads(make_client: Callable[..., Any]) -> None:
    with make_client(intra_op_threads=2, model_intra_op_threads={"text": 1}) as client:
        registry = client.app.state.engine.registry  # type: ignore[attr-defined]
        threads = {
            name: registry.entry(name).serving[1].runner.session.get_session_options()
            .intra_op_num_threads
            for name in ("text", "vision")
        }  # fmt: skip
    assert threads == {"text": 1, "vision": 2}
