"""Per-host lanes on their own: cool-down, recovery, pause, the user's hold, and a table that stays small."""

from __future__ import annotations

import tracemalloc

from core.batch.journal import PendingItem
from core.batch.lanes import FAILURES_TO_PAUSE, Lanes
from core.download.fetch import FetchError
from core.models import HostState

UNAVAILABLE = FetchError("HTTP 503 Service Unavailable", http_status=503, retryable=True, retry_after=30)


def _items(host: str, n: int, start: int = 0) -> list[PendingItem]:
    urls = [f"http://{host}/{start + i}.jpg" for i in range(n)]
    return [PendingItem(start + i, url, url, url, None, None) for i, url in enumerate(urls)]


def _start_all(lanes: Lanes, now: float) -> list[PendingItem]:
    started = []
    while (item := lanes.next_item(now)) is not None:
        lanes.started(item.url.split("/")[2])
        started.append(item)
    return started


def test_a_503_halves_the_host_limit_and_rests_the_host_for_its_retry_after_while_others_go_on() -> None:
    lanes = Lanes(host_limit=4)
    lanes.buffer.extend(_items("bad", 10) + _items("good", 10, start=100))
    first = _start_all(lanes, now=0.0)
    assert sum("bad" in i.url for i in first) == 4 and sum("good" in i.url for i in first) == 4

    for _ in range(4):  # one round of attempts: the limit is cut once, not four times
        assert lanes.failed("bad", UNAVAILABLE, attempt_started=0.0, now=1.0) is None
    assert lanes.state("bad", now=1.0) == HostState.COOLING_DOWN
    for _ in range(4):
        lanes.succeeded("good", 1000, now=1.0)
    # The good host refills at once; the bad one waits for its Retry-After, even for items never tried.
    assert {i.url.split("/")[2] for i in _start_all(lanes, now=1.0)} == {"good"}
    assert _start_all(lanes, now=30.9) == []
    again = _start_all(lanes, now=31.0)
    assert len(again) == 2 and all("bad" in i.url for i in again)  # 4 // 2 connections

    lanes.succeeded("bad", 1000, now=31.5)  # each answer gives one connection back
    assert len(_start_all(lanes, now=31.5)) == 2
    lanes.succeeded("bad", 1000, now=31.6)
    assert lanes.state("bad", now=31.6) == HostState.OK  # back to --per-host 4


def test_failures_in_a_row_pause_the_host_and_its_waiting_items_are_refused_with_the_reason() -> None:
    lanes = Lanes(host_limit=FAILURES_TO_PAUSE)
    lanes.buffer.extend(_items("dead", FAILURES_TO_PAUSE + 3))
    started = _start_all(lanes, now=0.0)
    assert len(started) == FAILURES_TO_PAUSE
    refused = FetchError("connection refused", retryable=True)
    messages = [lanes.failed("dead", refused, 0.0, now=0.1) for _ in started]
    assert messages[:-1] == [None] * (FAILURES_TO_PAUSE - 1)
    assert messages[-1] == f"host paused after {FAILURES_TO_PAUSE} failures in a row: connection refused"
    assert lanes.state("dead") == HostState.PAUSED
    assert [message for _, message in lanes.refused] == [messages[-1]] * 3
    lanes.refused.clear()
    lanes.buffer.extend(_items("dead", 1, start=50))  # items read later are refused too
    assert lanes.next_item(now=100.0) is None and len(lanes.refused) == 1


def test_an_answer_ends_the_run_of_failures() -> None:
    lanes = Lanes(host_limit=1)
    clock = iter(range(100, 10_000, 100))  # each attempt past the last cool-down

    def attempt(ok: bool) -> str | None:
        now = float(next(clock))
        lanes.buffer.extend(_items("flaky", 1, start=int(now)))
        assert len(_start_all(lanes, now)) == 1
        if ok:
            lanes.succeeded("flaky", 10, now)
            return None
        return lanes.failed("flaky", UNAVAILABLE, now, now)

    for _ in range(FAILURES_TO_PAUSE - 1):
        assert attempt(ok=False) is None
    attempt(ok=True)
    for _ in range(FAILURES_TO_PAUSE - 1):
        assert attempt(ok=False) is None
    assert attempt(ok=False) is not None  # the eighth in a row


def test_one_address_failing_again_and_again_does_not_pause_its_host() -> None:
    """Only first attempts count: a bad address retried on a healthy host is that item's problem."""
    lanes = Lanes(host_limit=2)
    (item,) = _items("shop", 1)
    lanes.buffer.append(item)
    for n in range(3 * FAILURES_TO_PAUSE):
        now = 100.0 * (n + 1)
        assert _start_all(lanes, now) == [item]
        assert lanes.failed("shop", UNAVAILABLE, now, now, first_attempt=n == 0) is None
        lanes.retry_later("shop")
        lanes.requeue(item, "shop")
    assert lanes.state("shop", now=1e6) != HostState.PAUSED


def test_a_held_host_keeps_its_items_waiting_until_released() -> None:
    lanes = Lanes(host_limit=2)
    lanes.hold("slow")
    lanes.buffer.extend(_items("slow", 3) + _items("other", 1, start=10))
    assert [i.url for i in _start_all(lanes, now=0.0)] == ["http://other/10.jpg"]
    assert lanes.movable == 0 and lanes.held_waiting == 3 and not lanes.refused
    assert {u.host: u.state for u in lanes.tick(0.0)}["slow"] == HostState.HELD
    lanes.release("slow")
    assert len(_start_all(lanes, now=0.0)) == 2


def test_thousands_of_hosts_leave_no_table_behind() -> None:
    """A lane lives while its host has work in hand: 20,000 one-item hosts do not grow the engine's memory."""
    lanes = Lanes(host_limit=6)

    def run(first: int) -> None:
        for n in range(first, first + 10_000):
            host = f"h{n}.example"
            lanes.buffer.extend(_items(host, 1, start=n))
            item = lanes.next_item(now=0.0)
            assert item is not None
            lanes.started(host)
            lanes.succeeded(host, 100, now=0.0)
            lanes.settled(host, done=True)
            if n % 100 == 0:
                lanes.tick(0.0)
        lanes.tick(0.0)

    run(0)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    run(10_000)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert lanes.hosts_known == 0
    assert grown < 64 * 1024, f"{grown} bytes kept for 10,000 hosts seen"


def test_the_hosts_report_carries_only_what_changed() -> None:
    lanes = Lanes(host_limit=2)
    lanes.buffer.extend(_items("a", 2) + _items("b", 1, start=10))
    _start_all(lanes, now=0.0)
    assert {u.host: u.in_flight for u in lanes.tick(0.0)} == {"a": 2, "b": 1}
    lanes.succeeded("b", 500, now=0.5)
    lanes.settled("b", done=True)
    changes = lanes.tick(0.6)
    assert [(u.host, u.state, u.in_flight, u.done_added, u.bytes_added) for u in changes] == [
        ("b", HostState.OK, 0, 1, 500)
    ]
    assert lanes.tick(0.7) == []  # nothing changed: nothing sent
