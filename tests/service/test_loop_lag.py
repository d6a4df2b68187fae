"""The event-loop lag watch: a blocked loop shows up as lag, and the app exports it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.loop_lag import watch_loop_lag
from service.settings import Settings


async def _lag_around_a_block(block_s: float) -> list[float]:
    samples: list[float] = []
    task = asyncio.create_task(watch_loop_lag(samples.append, every_s=0.02))
    await asyncio.sleep(0.1)  # a few samples of an idle loop
    time.sleep(block_s)  # what a CPU-bound call on the loop does to every other callback
    await asyncio.sleep(0.1)
    task.cancel()
    return samples


def test_a_blocked_loop_shows_up_as_lag_and_an_idle_one_does_not() -> None:
    samples = asyncio.run(_lag_around_a_block(0.3))
    assert len(samples) >= 4
    assert max(samples) >= 0.25  # the block, less the one interval it overlapped
    assert sorted(samples)[len(samples) // 2] < 0.05  # most samples are of the idle loop


def test_the_app_exports_the_loop_lag(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path / "models", gallery_data_dir=tmp_path / "gallery")
    with TestClient(create_app(settings)) as client:
        time.sleep(0.35)  # the watch samples every 100 ms on the app's loop
        body = client.get("/metrics").text
    counts = {
        s.name: s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name.startswith("mms_event_loop_lag_seconds")
    }
    assert counts["mms_event_loop_lag_seconds_count"] >= 2
