"""The 100,000-item soak: `make soak` (THUMBNAILER_SOAK=1), minutes long, skipped by `make test`.

One batch of 100,000 list lines against the loopback server (in a process of its own): four in five good
(tiny identical images, so it finishes in minutes), the rest every kind of failure. The report must hold
exactly one outcome per line, the runner's memory must stay flat, and once the batch ends no thread,
process, socket or temporary file of it may remain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.harness import entries_of, list_file, run_batch, settings, stray_files, wait_until

ROOT = Path(__file__).resolve().parents[2]
ITEMS = int(os.environ.get("THUMBNAILER_SOAK_ITEMS", "100000"))

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(os.environ.get("THUMBNAILER_SOAK") != "1", reason="the 100,000-item soak runs with `make soak`"),
]


def line_for(i: int, base: str) -> tuple[str, str]:
    """(list line, expected status): a fixed mix by i mod 100."""
    kind = i % 100
    if kind < 80:
        return f"{base}/img/s.jpg?w=32&h=24&i={i}", "done"
    if kind < 81:
        return f"{base}/redirect/2?i={i}", "done"
    if kind < 86:
        return f"{base}/status/404?i={i}", "failed"
    if kind < 90:
        return f"{base}/html?i={i}", "failed"
    if kind < 92:
        return f"{base}/empty?i={i}", "failed"
    if kind < 94:
        return f"{base}/broken.jpg?i={i}", "failed"  # a JPEG with no image data: the resizer refuses it
    if kind < 96:
        return f"{base}/status/503?i={i}", "failed"  # retried, then given up
    if kind < 98:
        return f"{base}/hangup/h.jpg?i={i}", "failed"  # closed mid-body, retried, given up
    if kind < 99:
        return f"ftp://127.0.0.1/{i}.jpg", "invalid"
    return f"not a url {i}", "invalid"


@dataclass
class Usage:
    """What the test process (which runs the Runner) holds, sampled while the batch runs."""

    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # (seconds, rss, fds, threads)


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def fds() -> list[str]:
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with suppress(OSError):  # the descriptor listing the folder itself is gone by now
            found.append(os.readlink(fd))
    return found


def os_threads() -> int:
    return len(list(Path("/proc/self/task").iterdir()))


def children(exclude: int) -> set[int]:
    me, found = os.getpid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and int(stat.parent.name) != exclude and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.fixture
def soak_server() -> Iterator[tuple[str, int]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.soak_server"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.close()
        server.wait(30)
        server.stdout.close()


@pytest.mark.timeout(900)
def test_a_hundred_thousand_items_end_with_one_outcome_each_and_nothing_leaks(qapp, soak_server, tmp_path) -> None:
    base, server_pid = soak_server
    lines = [line_for(i, base) for i in range(ITEMS)]
    listing = list_file(tmp_path, [line for line, _ in lines])
    out = tmp_path / "out"
    config = settings(out, threads=16, per_host=16, processes=2, retries=1, timeout=10)

    # A short batch first: what lives as long as the process (multiprocessing's resource tracker, Qt's and
    # Python's own bookkeeping) is then part of the baseline, and only what a batch leaves behind counts.
    warm = list_file(tmp_path / "warm", [line_for(i, base)[0] for i in range(100)])
    run_batch(settings(tmp_path / "warm-out"), entries_of(warm))
    before_fds, before_threads, before_children = fds(), os_threads(), children(server_pid)
    usage = Usage()
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.wait(0.5):
            usage.samples.append((time.monotonic() - started, rss(), len(fds()), os_threads()))

    sampler = threading.Thread(target=sample, name="soak-sampler", daemon=True)
    sampler.start()
    try:
        batch = run_batch(config, entries_of(listing), timeout=840)
    finally:
        stop.set()
        sampler.join()
    seconds = time.monotonic() - started

    # One outcome per line, each the expected one.
    expected = dict(lines)
    statuses = {item["source"]: item["status"] for item in batch.items}
    assert len(batch.items) == ITEMS == len(statuses)
    wrong = {source: (status, expected[source]) for source, status in statuses.items() if status != expected[source]}
    assert not wrong, list(wrong.items())[:10]
    counts = Counter(statuses.values())
    s = batch.summary
    assert (s.total, s.done, s.failed, s.invalid, s.skipped) == (
        ITEMS, counts["done"], counts["failed"], counts["invalid"], 0
    )  # fmt: skip
    assert all(item["error"] for item in batch.items if item["status"] != "done")

    # Flat memory: after warming up, the runner's process does not grow with the number of items.
    run = [(t, r) for t, r, _, _ in usage.samples if t < batch.seconds]
    warmed = [r for t, r in run if 0.2 * batch.seconds <= t <= 0.4 * batch.seconds]
    late = [r for t, r in run if t >= 0.8 * batch.seconds]
    growth = max(late) - max(warmed)

    # Nothing left behind: threads, processes, sockets, descriptors, temporary files.
    wait_until(lambda: os_threads() <= before_threads, 30, "the batch's threads to end")
    wait_until(lambda: children(server_pid) <= before_children, 30, "the resizer processes to end")
    after_fds = fds()
    sockets = [f for f in after_fds if f.startswith("socket:")]
    assert len(after_fds) <= len(before_fds), sorted(set(after_fds) - set(before_fds))
    assert len(sockets) <= len([f for f in before_fds if f.startswith("socket:")])
    assert stray_files(out) == []
    assert not list((out / ".thumbnailer" / "spool").iterdir())

    peak_fds = max(f for _, _, f, _ in usage.samples)
    peak_threads = max(n for _, _, _, n in usage.samples)
    report = {
        "items": ITEMS,
        "seconds": round(seconds, 1),
        "items_per_second": round(ITEMS / batch.seconds),
        "outcomes": dict(counts),
        "rss_mib_warm": round(max(warmed) / 2**20, 1),
        "rss_mib_late": round(max(late) / 2**20, 1),
        "rss_growth_mib": round(growth / 2**20, 1),
        "peak_fds": peak_fds,
        "peak_threads": peak_threads,
        "fds_before_after": (len(before_fds), len(after_fds)),
        "threads_before_after": (before_threads, os_threads()),
    }
    print("\nsoak:", json.dumps(report))
    assert growth < 32 * 2**20, report
    assert peak_fds < len(before_fds) + 100 and peak_threads < before_threads + 40, report
