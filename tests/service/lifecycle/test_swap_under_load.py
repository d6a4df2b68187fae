"""A version swap under continuous load loses nothing (what ``bench/lifecycle.py`` measures)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from bench.lifecycle import summarize, swap_under_load
from service.app import create_app
from service.settings import Settings
from tests.service.api.v2.server import serve_in_thread


@pytest.mark.parametrize("mode", ["poll", "explicit"])
def test_a_swap_under_load_fails_nothing_and_then_only_the_new_version_answers(
    mode: str, model_repo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(model_repo / "vision", root / "vision")
    settings = Settings(
        model_dir=root, providers="cpu", model_control_mode=mode, repository_poll_s=0.1,
        models=["vision"] if mode == "explicit" else [],
    )  # fmt: skip
    with serve_in_thread(create_app(settings)) as url:
        base = f"http://{url}"
        run = asyncio.run(swap_under_load(base, root, "vision", mode, seconds=4, concurrency=8))
        info = httpx.get(f"{base}/v1/models/vision", trust_env=False).json()
    result = summarize(run, warmup_s=0.0)
    assert result["failed"] == 0 and result["statuses"] == [200]
    assert result["versions_before_appearing"] == [1]
    assert result["answers_after_swap"] > 0 and result["versions_after_swap"] == [2]
    assert info["serving_versions"] == [2]  # version 1 was released
