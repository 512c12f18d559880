"""--max-rate: the batch's downloads together read at most that many bytes a second, measured against the
loopback server; the flag and the window's value parse like --max-bytes, with 0 for no limit."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from core.batch.runner import Runner
from core.download.fetch import Aborted, Downloader, FetchError
from core.download.rate import RateLimiter
from core.models import Entry
from core.settings import OPTIONS, Settings, SettingsError, settings_from_flags
from tests.support.images import encode, marked

RATE = 1024 * 1024


class _Meter:
    """Bytes read by every download thread, with when each arrived; a condition to wait for a total."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.total = 0
        self.last = 0.0

    def __call__(self, n: int) -> None:
        with self.cond:
            self.total += n
            self.last = time.monotonic()
            self.cond.notify_all()


def _bodies(http_server, count: int, size: int) -> list[str]:
    """`count` distinct JPEG-headed bodies of `size` bytes on the server (random tail: nothing compresses)."""
    head = encode(marked(16, 16), "JPEG")
    return [http_server.add(f"/rate/{i}.jpg", head + os.urandom(size - len(head))) for i in range(count)]


def test_four_downloads_together_hold_the_rate_within_ten_percent(http_server, tmp_path: Path) -> None:
    urls = _bodies(http_server, count=4, size=900 * 1024)
    total = 4 * 900 * 1024  # 3.5 s at 1 MiB/s
    meter = _Meter()
    limiter = RateLimiter(RATE)
    limits = Settings(timeout=60).fetch_limits()
    stop = threading.Event()
    with Downloader(rate=limiter) as downloader:
        threads = [
            threading.Thread(target=downloader.fetch, args=(u, tmp_path, limits, stop.is_set, meter)) for u in urls
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        with meter.cond:
            assert meter.cond.wait_for(lambda: meter.total >= total, timeout=30)
            seconds = meter.last - started
        for t in threads:
            t.join()
    # What the bucket held at the start (one grant) came at once; the rest at the rate.
    measured = (total - limiter.grant_size) / seconds
    assert 0.9 * RATE <= measured <= 1.1 * RATE


def test_a_cancelled_batch_does_not_wait_for_the_rate(http_server, tmp_path: Path) -> None:
    (url,) = _bodies(http_server, count=1, size=400 * 1024)
    stop = threading.Event()
    meter = _Meter()
    outcome: list[Exception] = []

    def fetch() -> None:
        try:
            downloader.fetch(url, tmp_path, Settings(timeout=60).fetch_limits(), stop.is_set, meter)
        except (Aborted, FetchError) as exc:
            outcome.append(exc)

    with Downloader(rate=RateLimiter(10 * 1024)) as downloader:  # 40 s for the whole body
        thread = threading.Thread(target=fetch)
        thread.start()
        with meter.cond:
            assert meter.cond.wait_for(lambda: meter.total > 0, timeout=10)
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], Aborted)
    assert not list(tmp_path.glob("*.part"))


def test_a_batch_with_max_rate_takes_as_long_as_its_bytes_at_that_rate(qtbot, http_server, tmp_path: Path) -> None:
    urls = _bodies(http_server, count=3, size=300 * 1024)
    settings = Settings(out=tmp_path / "out", processes=1, max_rate=512 * 1024)
    runner = Runner(settings, (Entry(u, u) for u in urls))
    started = time.monotonic()
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    assert blocker.args[0].done == 3
    assert time.monotonic() - started >= (3 * 300 * 1024 - 64 * 1024) / (512 * 1024)


@pytest.mark.parametrize(("text", "value"), [("2M", 2 * 1024**2), ("500K", 500 * 1024), ("0", 0), ("1048576", 1024**2)])
def test_the_flag_takes_k_m_suffixes_and_zero_for_no_limit(text: str, value: int) -> None:
    from core.cli import build_parser

    settings = settings_from_flags(build_parser().parse_args(["x.txt", "--max-rate", text]))
    assert settings.max_rate == value
    assert OPTIONS["max_rate"].parse_text(OPTIONS["max_rate"].to_text(value)) == value


def test_no_limit_by_default_and_a_negative_rate_is_refused() -> None:
    assert Settings().max_rate == 0
    with pytest.raises(SettingsError, match="--max-rate"):
        Settings(max_rate=-1).validated()
    with pytest.raises(SettingsError):
        OPTIONS["max_rate"].parse_text("fast")
