"""The dynamic batcher without HTTP: grouping, ordering, timeouts, failure fan-out, backpressure."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from service.errors import (
    InferenceError,
    InferenceTimeoutError,
    InvalidInputError,
    NotReadyError,
    OverloadedError,
)
from service.inference.batcher import Batcher, BatcherConfig
from service.settings import Settings

pytestmark = pytest.mark.anyio


class Recorder:
    """A ``run_batch`` that doubles numbers and remembers the batches it saw."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay_s = delay_s
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        return [2 * i for i in items]


def _config(**config: object) -> BatcherConfig:
    values = {"max_batch_size": 4, "max_delay_s": 0.05, "max_queue_size": 16, "timeout_s": 5.0,
              "retry_after_s": 1, "concurrency": 1}  # fmt: skip
    values.update(config)
    return BatcherConfig(**values)  # type: ignore[arg-type]


def _batcher(run: object, **config: object) -> Batcher[int, int]:
    return Batcher("m", run, _config(**config))  # type: ignore[arg-type]


async def _started(batcher: Batcher[int, int]) -> Batcher[int, int]:
    batcher.start()
    return batcher


async def test_concurrent_items_form_batches_and_results_go_back_in_order() -> None:
    run = Recorder()
    batcher = await _started(_batcher(run))
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    await batcher.stop()
    assert results == [2 * i for i in range(10)]
    assert [len(b) for b in run.batches] == [4, 4, 2]
    assert sorted(i for b in run.batches for i in b) == list(range(10))
    assert batcher.stats.largest_batch == 4 and batcher.stats.items == 10
    assert batcher.stats.sizes == {4: 2, 2: 1}
    assert all(name != threading.current_thread().name for name in run.threads)


async def test_submit_many_keeps_request_order() -> None:
    batcher = await _started(_batcher(Recorder(), max_batch_size=3))
    first, second = await asyncio.gather(
        batcher.submit_many([1, 2, 3, 4, 5]), batcher.submit_many([10, 20])
    )
    await batcher.stop()
    assert first == [2, 4, 6, 8, 10] and second == [20, 40]


async def test_a_lone_item_runs_after_the_delay_not_never() -> None:
    batcher = await _started(_batcher(Recorder(), max_delay_s=0.01))
    assert await asyncio.wait_for(batcher.submit(7), 1.0) == 14
    await batcher.stop()


async def test_a_lone_item_runs_at_once_when_nothing_else_is_expected() -> None:
    run = Recorder()
    batcher = await _started(_batcher(run, max_delay_s=2.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(batcher.submit(7), 1.0) == 14
    assert loop.time() - started < 0.5  # did not sit out max_delay_s
    await batcher.stop()


async def test_the_batch_waits_for_expected_items_up_to_the_delay() -> None:
    run = Recorder()
    batcher = await _started(_batcher(run, max_delay_s=2.0))
    with batcher.preparing():  # one more request is "being decoded"
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)
        assert not first.done() and run.batches == []  # held for the expected item
    assert await batcher.submit(2) == 4
    assert await first == 2
    await batcher.stop()
    assert run.batches == [[1, 2]]


async def test_items_arriving_while_a_batch_runs_form_the_next_batch() -> None:
    run = Recorder(delay_s=0.1)
    batcher = await _started(_batcher(run, max_delay_s=0.0))
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.03)  # batch [0] is running; these queue meanwhile
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 7)]
    assert await asyncio.gather(first, *rest) == [2 * i for i in range(7)]
    await batcher.stop()
    assert [len(b) for b in run.batches] == [1, 4, 2]


async def test_concurrent_batches_run_side_by_side_and_stop_still_drains() -> None:
    run = Recorder(delay_s=0.2)
    batcher = await _started(_batcher(run, max_batch_size=2, max_delay_s=0.0, concurrency=2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)))
    assert results == [0, 2, 4, 6] and [len(b) for b in run.batches] == [2, 2]
    assert loop.time() - started < 0.35  # two 0.2 s batches overlapped
    assert len(run.threads) == 2 and batcher.pending == 0
    pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0.05)
    await batcher.stop(drain_timeout_s=0.01)
    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(o, NotReadyError) for o in outcomes)  # none left hanging


async def test_a_failed_batch_fails_every_item_with_an_inference_error() -> None:
    def explode(items: list[int]) -> list[int]:
        raise RuntimeError("ORT blew up: secret detail")

    batcher = await _started(_batcher(explode))
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    await batcher.stop()
    assert all(isinstance(r, InferenceError) for r in results)
    assert all("secret" not in str(r) for r in results)
    assert batcher.stats.failed_batches == 1


async def test_domain_errors_from_the_run_pass_through() -> None:
    def reject(items: list[int]) -> list[int]:
        raise InvalidInputError("bad item")

    batcher = await _started(_batcher(reject))
    with pytest.raises(InvalidInputError):
        await batcher.submit(1)
    await batcher.stop()


async def test_a_wrong_number_of_results_is_an_error_not_a_misalignment() -> None:
    def short(items: Sequence[int]) -> list[int]:
        return list(items)[:-1]

    batcher = await _started(_batcher(short))
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    await batcher.stop()
    assert all(isinstance(r, InferenceError) for r in results)


async def test_a_full_queue_is_rejected_with_retry_after() -> None:
    run = Recorder(delay_s=0.3)
    batcher = await _started(_batcher(run, max_batch_size=1, max_queue_size=2, retry_after_s=3))
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.05)  # item 0 is running; the queue is empty again
    queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    with pytest.raises(OverloadedError) as info:
        await batcher.submit(3)
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "3"
    with pytest.raises(OverloadedError):
        await batcher.submit_many([4, 5, 6])  # all or nothing
    assert await asyncio.gather(first, *queued) == [0, 2, 4]
    assert batcher.stats.rejected == 4
    await batcher.stop()


async def test_an_item_that_waits_too_long_times_out_and_is_skipped() -> None:
    run = Recorder(delay_s=0.3)
    batcher = await _started(_batcher(run, max_batch_size=1, timeout_s=0.1))
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, InferenceTimeoutError) for r in results)
    await asyncio.sleep(0.4)
    await batcher.stop()
    assert run.batches == [[1]]  # item 2 timed out in the queue and never ran
    assert batcher.stats.timeouts == 2


async def test_stop_drains_queued_items_then_refuses_new_ones() -> None:
    run = Recorder(delay_s=0.05)
    batcher = await _started(_batcher(run, max_batch_size=2, max_delay_s=0.0))
    pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    await batcher.stop(drain_timeout_s=5)
    assert [p.result() for p in pending] == [0, 2, 4, 6, 8]
    with pytest.raises(NotReadyError):
        await batcher.submit(9)


async def test_unstarted_batcher_refuses_work() -> None:
    with pytest.raises(NotReadyError):
        await _batcher(Recorder()).submit(1)


async def test_stop_fails_items_still_running_when_the_drain_time_is_over() -> None:
    batcher = await _started(_batcher(Recorder(delay_s=0.5), max_delay_s=0.0))
    pending = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.05)
    await batcher.stop(drain_timeout_s=0.05)
    with pytest.raises(NotReadyError, match="shutting down"):
        await asyncio.wait_for(pending, 1.0)


def test_the_config_comes_from_the_settings_and_the_models_limit() -> None:
    settings = Settings(max_delay_ms=7, max_queue_size=99, request_timeout_s=3, retry_after_s=2,
                        concurrent_batches=3, max_batch_size=16)  # fmt: skip
    assert BatcherConfig.from_settings(settings, 5) == BatcherConfig(
        max_batch_size=5, max_delay_s=0.007, max_queue_size=99, timeout_s=3.0, retry_after_s=2,
        concurrency=3,
    )  # fmt: skip
