"""Batch-size autotuning: batch a model only where a batch is cheaper per item."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from service.inference.autotune import ladder, tune_batch_size, tune_threads


def _fixed_cost(items: list[Any]) -> None:
    time.sleep(0.004)  # one call costs the same at any batch size: batching pays


def _per_item_cost(items: list[Any]) -> None:
    time.sleep(0.004 * len(items))  # every item costs the same: batching gains nothing


def _gains_until(size: int) -> Callable[[list[Any]], None]:
    """A model whose batches pay up to ``size`` items, then cost the same per item."""

    def run(items: list[Any]) -> None:
        time.sleep(0.004 * max(1, len(items) / size))

    return run


def test_batching_is_kept_where_a_batch_is_cheaper_per_item() -> None:
    profile = tune_batch_size(_fixed_cost, "item", 8)
    assert profile.max_batch_size == 8
    assert profile.per_item_ms[8] < profile.per_item_ms[1] / 4


def test_batching_is_dropped_where_it_gains_nothing() -> None:
    profile = tune_batch_size(_per_item_cost, "item", 8)
    assert profile.max_batch_size == 1
    assert set(profile.per_item_ms) == {1, 4, 8}


def test_the_ladder_stops_where_a_larger_batch_stops_paying() -> None:
    assert ladder(16) == [4, 16] and ladder(32) == [4, 16, 32] and ladder(2) == [2]
    assert tune_batch_size(_gains_until(4), "item", 32).max_batch_size == 4
    profile = tune_batch_size(_gains_until(16), "item", 32)
    assert profile.max_batch_size == 16  # 32 costs the same per item as 16: not worth the wait
    assert set(profile.per_item_ms) == {1, 4, 16, 32}


def test_a_limit_of_one_is_not_timed() -> None:
    calls: list[int] = []
    profile = tune_batch_size(lambda items: calls.append(len(items)), "item", 1)
    assert profile.max_batch_size == 1 and not calls


def test_models_report_the_batch_limit_autotuning_chose(make_client: Any) -> None:
    with make_client(max_batch_size=8, concurrent_batches=2) as tuned:
        batching = tuned.get("/v1/models/vision").json()["batching"]
    assert set(batching["autotune_ms_per_item"]) == {"1", "4", "8"}
    assert batching["max_batch_size"] in (1, 4, 8) and batching["concurrent_batches"] == 2
    with make_client(max_batch_size=8, batch_autotune=False) as fixed:
        batching = fixed.get("/v1/models/vision").json()["batching"]
    assert batching["max_batch_size"] == 8 and batching["autotune_ms_per_item"] == {}


def test_fast_models_are_timed_over_enough_runs_to_be_stable() -> None:
    calls: list[int] = []
    tune_batch_size(lambda items: calls.append(len(items)), "item", 4)
    assert calls.count(1) > 3 and calls.count(4) > 3  # more than the 3 repeats: 10 ms each
    assert len(calls) <= 200


def _takes(ms: float) -> Callable[[list[Any]], None]:
    return lambda items: time.sleep(ms / 1000)


def test_one_thread_is_kept_where_it_runs_an_item_as_fast() -> None:
    one = tune_threads(every_core=_takes(6), one_thread=_takes(2), item="item")
    assert one.intra_op_threads == 1 and one.one_item_ms[1] < one.one_item_ms[0]
    every = tune_threads(every_core=_takes(2), one_thread=_takes(6), item="item")
    assert every.intra_op_threads == 0 and set(every.one_item_ms) == {0, 1}


def test_models_report_the_threads_autotuning_chose(make_client: Any) -> None:
    with make_client() as tuned:
        batching = tuned.get("/v1/models/text").json()["batching"]
        runner = tuned.app.state.engine.registry.entry("text").serving[1].runner
        kept = runner.session.get_session_options().intra_op_num_threads
        settings = tuned.app.state.engine.settings
    assert batching["intra_op_threads"] in (0, 1) and kept == batching["intra_op_threads"]
    assert set(batching["autotune_ms_one_item_by_threads"]) == {"0", "1"}
    # the batches at once follow the threads kept (the rule itself: test_settings.py)
    one_thread = batching["intra_op_threads"] == 1
    assert batching["concurrent_batches"] == settings.batch_concurrency_for(one_thread=one_thread)
    with make_client(intra_op_threads=2, model_intra_op_threads={"vision": 1}) as fixed:
        settings = fixed.app.state.engine.settings
        for name in ("text", "vision"):  # a setting decides: nothing is timed
            batching = fixed.get(f"/v1/models/{name}").json()["batching"]
            assert batching["intra_op_threads"] is None
            assert batching["autotune_ms_one_item_by_threads"] == {}
            one_thread = name == "vision"  # the setting's threads: vision 1, text 2
            expected = settings.batch_concurrency_for(one_thread=one_thread)
            assert batching["concurrent_batches"] == expected


def test_a_burst_of_other_work_does_not_decide_the_threads() -> None:
    """The first six calls of all are slowed (another model warming up, say): timed one series
    after the other, the every-core series would take the whole burst and lose."""
    calls = [0]

    def takes(ms: float) -> Callable[[list[Any]], None]:
        def run(items: list[Any]) -> None:
            calls[0] += 1
            time.sleep((ms + (10 if calls[0] <= 6 else 0)) / 1000)

        return run

    choice = tune_threads(every_core=takes(2), one_thread=takes(3), item="item")
    assert choice.intra_op_threads == 0, choice.one_item_ms
