"""Misbehaving hosts in a real batch: loopback servers on their own ports play a healthy host, a host that
answers 503 with Retry-After and a host that refuses connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.batch.journal import Journal
from core.batch.lanes import FAILURES_TO_PAUSE
from core.batch.runner import Runner
from core.batch.runner_process import RunnerProcess
from core.models import Entry, HostState, HostUpdate, Progress, Status, Summary
from core.settings import Settings
from tests.support.loopback import LoopbackServer

PER_HOST = 4


@pytest.fixture
def refusing_host() -> Iterator[str]:
    """host:port of a socket that is bound but never listens: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def busy_server() -> Iterator[LoopbackServer]:
    """A second host: answers every image with 503 and Retry-After: 0.3."""
    with LoopbackServer() as server:
        yield server


def _run(qtbot, runner: Runner | RunnerProcess, timeout: int = 60_000) -> tuple[Summary, list[Progress]]:
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.finished, timeout=timeout) as blocker:
        runner.start()
    return blocker.args[0], seen


def _host(server: LoopbackServer) -> str:
    return f"127.0.0.1:{server.port}"


def _host_updates(progress: list[Progress], host: str) -> list[HostUpdate]:
    return [h for p in progress for h in p.hosts if h.host == host]


def _last(progress: list[Progress]) -> dict[str, object]:
    last = {}
    for p in progress:
        for u in p.updates:
            last[u.key] = u
    return last


def test_a_misbehaving_host_cools_down_then_pauses_while_a_healthy_host_finishes_at_full_speed(
    qtbot, http_server, busy_server, refusing_host, tmp_path: Path
) -> None:
    good = [http_server.url(f"/drip/g{i}.jpg?bps=20000") for i in range(16)]
    busy = [busy_server.url(f"/status/503?after=0.3&n={i}") for i in range(10)]
    dead = [f"http://{refusing_host}/d{i}.jpg" for i in range(10)]
    mixed = [url for trio in zip(good, busy, dead, strict=False) for url in trio] + good[10:]
    settings = Settings(out=tmp_path, threads=24, per_host=PER_HOST, processes=2, retries=3, timeout=20)
    summary, progress = _run(qtbot, Runner(settings, [Entry(u, u) for u in mixed]))

    last = _last(progress)
    assert [last[u].status for u in good] == [Status.DONE] * len(good)
    assert summary.done == len(good) and summary.failed == len(busy) + len(dead)

    # The 503 host rested for its Retry-After with fewer connections each round (4, 2, 1, 1), then was paused:
    # eight requests in all, where retrying each item to exhaustion would have sent 40.
    assert busy_server.total_hits() == FAILURES_TO_PAUSE
    busy_states = [h.state for h in _host_updates(progress, _host(busy_server))]
    assert HostState.COOLING_DOWN in busy_states and busy_states[-1] == HostState.PAUSED
    paused = f"host paused after {FAILURES_TO_PAUSE} failures in a row: HTTP 503 Service Unavailable"
    assert {last[u].error for u in busy} == {paused}

    refused = f"host paused after {FAILURES_TO_PAUSE} failures in a row: connection refused"
    assert {last[u].error for u in dead} == {refused}
    assert _host_updates(progress, refusing_host)[-1].state == HostState.PAUSED

    # The healthy host kept all its connections and never cooled down.
    assert http_server.peak_transfers() == PER_HOST
    good_updates = _host_updates(progress, _host(http_server))
    assert HostState.COOLING_DOWN not in {h.state for h in good_updates}
    assert sum(h.done_added for h in good_updates) == len(good)
    assert sum(h.failed_added for h in _host_updates(progress, refusing_host)) == len(dead)


def test_a_host_paused_by_the_user_keeps_its_items_to_do_and_they_finish_when_resumed(
    qtbot, http_server, busy_server, tmp_path: Path
) -> None:
    """Through the window's engine process: the request crosses the pipe, the host lists come back in Progress."""
    held = [busy_server.url(f"/img/h{i}.jpg") for i in range(5)]
    other = [http_server.url(f"/img/o{i}.jpg") for i in range(5)]
    settings = Settings(out=tmp_path, threads=4, per_host=2, processes=2, retries=1, timeout=20)
    runner = RunnerProcess(settings, [Entry(u, u) for u in other + held])
    runner.pause_host(_host(busy_server))
    summary, progress = _run(qtbot, runner)

    assert summary.done == len(other) and summary.failed == 0
    assert busy_server.total_hits() == 0
    assert HostState.HELD in {h.state for h in _host_updates(progress, _host(busy_server))}
    with Journal(tmp_path) as journal:
        assert journal.counts(summary.run_id).pending == len(held)

    summary, _ = _run(qtbot, Runner(settings, None))  # resumed: the held host's items are done now
    assert summary.done == len(other) + len(held)
    assert busy_server.total_hits() == len(held)


def test_resuming_a_held_host_mid_batch_lets_its_items_finish(qtbot, http_server, busy_server, tmp_path: Path) -> None:
    """A batch whose only items left belong to held hosts ends (they stay to do); here another host's slow
    download keeps it running while the user resumes the held host."""
    urls = [http_server.url(f"/img/r{i}.jpg") for i in range(6)]
    slow = busy_server.url("/drip/slow.jpg?bps=2000")
    runner = Runner(Settings(out=tmp_path, threads=4, processes=2), [Entry(u, u) for u in [*urls, slow]])
    host = _host(http_server)
    runner.pause_host(host)
    held: list[Progress] = []

    def resume_once_held(p: Progress) -> None:
        if any(h.host == host and h.state == HostState.HELD for h in p.hosts) and not held:
            held.append(p)
            runner.resume_host(host)

    runner.progress.connect(resume_once_held)
    summary, _ = _run(qtbot, runner)
    assert held and summary.done == len(urls) + 1
