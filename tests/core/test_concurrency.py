"""Adaptive downloads in flight: the controller fed measurements of simulated batches, and a real batch whose
downloads wait on a slow server running far more than 16 at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.batch.concurrency import PERIOD, ConcurrencyController, Move, Sample
from core.batch.runner import Runner
from core.models import Entry
from core.settings import Settings

KB = 1000


def _world(capacity: int, per_download: int = 100 * KB) -> Callable[[int], Sample]:
    """A latency-bound batch: each download in flight brings `per_download` bytes a second, up to `capacity`
    downloads (beyond, the network gives no more); there is always more to start."""

    def sample(limit: int) -> Sample:
        rate = min(limit, capacity) * per_download
        return Sample(seconds=PERIOD, bytes=int(rate * PERIOD), held_back=True, backlog=0.0, cpu=0.2)

    return sample


def _drive(controller: ConcurrencyController, world: Callable[[int], Sample], periods: int) -> list[int]:
    limits = []
    for _ in range(periods):
        controller.update(world(controller.limit))
        limits.append(controller.limit)
    return limits


def test_a_latency_bound_batch_grows_to_the_ceiling_within_a_few_periods() -> None:
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    limits = _drive(controller, _world(capacity=1000), periods=6)
    assert limits[:4] == [32, 64, 128, 256]
    assert controller.limit == 256  # never above --threads


def test_growth_stops_where_more_downloads_bring_no_more_bytes() -> None:
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    limits = _drive(controller, _world(capacity=40), periods=40)
    # 16 -> 32 -> 64 raised the rate (32 -> 40 downloads' worth); 128 did not and was taken back, as is every
    # later probe: the limit settles where the gain stopped, never far above what the network gives.
    assert 128 in limits
    assert limits[-1] == 64
    assert max(limits[10:]) <= 80


def test_nothing_grows_when_the_limit_held_nothing_back() -> None:
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    for _ in range(10):
        assert controller.update(Sample(PERIOD, 10 * KB, held_back=False, backlog=0.0, cpu=0.1)) is Move.HOLD
    assert controller.limit == 16


def test_a_busy_engine_process_stops_the_growth() -> None:
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    busy = Sample(PERIOD, 10_000 * KB, held_back=True, backlog=0.0, cpu=0.95)
    assert controller.update(busy) is Move.HOLD
    assert controller.limit == 16


def test_resizers_falling_behind_shrink_the_limit_to_its_floor_and_no_lower() -> None:
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    _drive(controller, _world(capacity=1000), periods=4)
    assert controller.limit == 256
    moves = []
    for backlog in range(9, 60, 3):  # the backlog grows every period: the resizers do not keep up
        moves.append(controller.update(Sample(PERIOD, 10_000 * KB, held_back=True, backlog=backlog, cpu=0.3)))
    assert moves[0] is Move.SHRINK
    assert controller.limit == 16


def test_a_backlog_being_worked_off_holds_the_limit() -> None:
    """Downloads that arrive in a burst leave a queue the resizers then drain: no reason to cut the limit."""
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    _drive(controller, _world(capacity=1000), periods=4)
    controller.update(Sample(PERIOD, 10_000 * KB, held_back=True, backlog=40, cpu=0.3))
    shrunk = controller.limit
    for backlog in (35, 30, 20, 10):
        assert controller.update(Sample(PERIOD, 0, held_back=True, backlog=backlog, cpu=0.3)) is Move.HOLD
    assert controller.limit == shrunk


def test_low_memory_shrinks_the_limit() -> None:
    controller = ConcurrencyController(16, 256, backlog_limit=8)
    _drive(controller, _world(capacity=1000), periods=4)
    low = Sample(PERIOD, 10_000 * KB, held_back=True, backlog=0.0, cpu=0.2, memory_low=True)
    assert controller.update(low) is Move.SHRINK
    assert controller.limit == 192


def test_a_ceiling_below_the_floor_is_the_limit() -> None:
    """--threads 4 is kept as it was: four downloads at most, from the start."""
    controller = ConcurrencyController(16, 4, backlog_limit=8)
    _drive(controller, _world(capacity=1000), periods=5)
    assert controller.limit == 4


def test_a_latency_bound_batch_runs_far_more_than_16_downloads_at_once(qtbot, http_server, tmp_path: Path) -> None:
    """Every answer waits 0.3 s on the server (a far host): with the default --threads the batch grows past the
    16 downloads it used to be capped at, and stays within --per-host."""
    urls = [http_server.url(f"/img/far{i}.jpg?w=64&h=48&delay=0.3") for i in range(240)]
    settings = Settings(out=tmp_path / "out", processes=2, per_host=48, retries=0, timeout=20)
    runner = Runner(settings, (Entry(u, u) for u in urls))
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    summary = blocker.args[0]
    assert (summary.done, summary.failed) == (240, 0)
    assert 16 < http_server.peak_transfers() <= 48
