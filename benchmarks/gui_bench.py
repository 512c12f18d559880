"""The window under load, offscreen: GUI-thread stalls during a batch, a million-URL list, cold start.

Each probe runs in its own process (the parent starts it with `QT_QPA_PLATFORM=offscreen` and a private config
folder, so no user settings are read or written) and prints one JSON line:

    python -m benchmarks.gui_bench stalls URLS.txt OUT     # 10 ms timer gaps, idle and during the batch
    python -m benchmarks.gui_bench engine URLS.txt OUT     # the same batch and timer without a window
    python -m benchmarks.gui_bench load LIST.txt           # a long list: time to a usable queue, RSS, gaps
    python -m benchmarks.gui_bench hello                   # the cold-start baseline: a bare PySide6 window

A stall is the longest gap between ticks of a 10 ms precise QTimer on the GUI thread: whatever blocks the
event loop (painting, applying progress, decoding thumbnails for the grid) shows up there.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

TICK_MS = 10
CHECK_MS = 20  # how often a probe looks whether what it waits for has happened
IDLE_SECONDS = 2.0
TAB_SWITCH_MS = 1000
SMOKE_MS = 1000  # what `thumbnailer-gui --smoke` waits before quitting; the parent subtracts it


def rss_mb(pid: int | str = "self") -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process has ended
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def window_and_engine_mb(window: object) -> float:
    """The window's process plus the batch's engine process (core.batch.runner_process): the app's memory without the
    resizers, which start afresh for every batch."""
    runner = window.batch.runner  # type: ignore[attr-defined]
    engine = runner.pid if runner is not None else None
    return rss_mb() + (rss_mb(engine) if engine else 0.0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Ticks:
    """Records the GUI thread's 10 ms timer; `gaps()` of a window of time, in milliseconds."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.stamps: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))
        self.timer.start(TICK_MS)

    def gaps(self, start: float, end: float) -> dict[str, object]:
        inside = [t for t in self.stamps if start <= t <= end]
        pairs = sorted(((b - a) * 1000, a - start) for a, b in itertools.pairwise(inside))
        if not pairs:
            return {"max_ms": 0.0, "p99_ms": 0.0, "ticks": 0, "worst": []}
        p99 = pairs[min(len(pairs) - 1, int(len(pairs) * 0.99))][0]
        worst = [[round(ms), round(at, 2)] for ms, at in pairs[-5:]]  # [gap ms, seconds after `start`]
        return {"max_ms": round(pairs[-1][0], 1), "p99_ms": round(p99, 1), "ticks": len(pairs), "worst": worst}


def _app():
    """The application as `thumbnailer-gui` makes it, process-wide settings included (the GIL switch interval)."""
    from gui.app import make_application

    return make_application()


def _window(out: Path | None):
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore

    window = MainWindow(SettingsStore())
    if out is not None:
        window.settings_panel.set_output_dir(out)
    window.show()
    return window


def _run_until(app, done, timeout: float) -> bool:
    """Run the event loop as the app runs it (`exec`, idle in Qt's poll without the GIL) until `done()`, which is
    checked every CHECK_MS. Polling with processEvents() and a 1 ms sleep instead kept the GUI thread taking the
    GIL a thousand times a second, and so measured waits for it that the app itself does not have."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    checker = QTimer()
    checker.timeout.connect(lambda: (done() or time.monotonic() >= deadline) and loop.quit())
    checker.start(CHECK_MS)
    if not done():
        loop.exec()
    checker.stop()
    return bool(done())


def stalls(urls: Path, out: Path, timeout: float) -> dict[str, object]:
    """Idle gaps, then a whole batch of `urls` with the queue and the grid each shown half the time."""
    from PySide6.QtCore import QTimer

    app = _app()
    window = _window(out)
    ticks = Ticks()
    idle_start = time.perf_counter()
    _run_until(app, lambda: time.perf_counter() - idle_start > IDLE_SECONDS, IDLE_SECONDS + 1)
    idle = ticks.gaps(idle_start, time.perf_counter())

    window.add_sources([str(urls)])
    if not _run_until(app, lambda: not window.loader.is_busy, timeout):
        raise RuntimeError("the URL list was not queued in time")
    finished: list[object] = []
    window.batch.finished.connect(finished.append)
    switcher = QTimer()
    switcher.timeout.connect(lambda: window.tabs.setCurrentIndex(1 - window.tabs.currentIndex()))
    rss: list[tuple[float, float]] = []  # (fraction finished, MB)

    def sample() -> None:
        p = window.batch.last_progress
        if p is not None:
            rss.append((p.fraction, window_and_engine_mb(window)))

    sampler = QTimer()
    sampler.timeout.connect(sample)
    if not window.start():
        raise RuntimeError("the window refused to start the batch")
    start = time.perf_counter()
    switcher.start(TAB_SWITCH_MS)
    sampler.start(250)
    ok = _run_until(app, lambda: bool(finished), timeout)
    end = time.perf_counter()
    switcher.stop()
    sampler.stop()
    if not ok:
        raise RuntimeError(f"the batch did not finish within {timeout:g} s")
    summary = finished[0]
    early = [mb for f, mb in rss if f >= 0.1] or [rss_mb()]
    result = {
        "idle": idle,
        "batch": ticks.gaps(start, end),
        "items": window.model.rowCount(),
        "done": getattr(summary, "done", 0),
        "seconds": round(end - start, 2),
        "rss_at_10pct_mb": round(early[0], 1),
        "rss_at_end_mb": round(rss[-1][1] if rss else rss_mb(), 1),
    }
    window.close()
    return result


def engine(urls: Path, out: Path, timeout: float) -> dict[str, object]:
    """The same batch with no window: the engine process, as the window runs it, and the 10 ms timer in a bare
    QCoreApplication that receives its progress snapshots.

    The baseline for stalls: gaps seen here come from the machine (two cores shared with the engine process,
    the resizers and the web server), not from widgets. It runs with the window process's GIL switch interval,
    so the difference between the two is the widgets' alone."""
    from PySide6.QtCore import QCoreApplication

    from core.batch.runner_process import RunnerProcess
    from core.settings import Settings
    from core.sources import iter_entries
    from gui.app import GIL_SWITCH_SECONDS

    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    ticks = Ticks()
    finished: list[object] = []
    runner = RunnerProcess(Settings(out=out), iter_entries([str(urls)]))
    runner.finished.connect(finished.append)
    start = time.perf_counter()
    runner.start()
    ok = _run_until(app, lambda: bool(finished), timeout)
    end = time.perf_counter()
    runner.wait()
    if not ok:
        raise RuntimeError(f"the batch did not finish within {timeout:g} s")
    return {"batch": ticks.gaps(start, end), "done": getattr(finished[0], "done", 0), "seconds": round(end - start, 2)}


def load(listing: Path, timeout: float) -> dict[str, object]:
    """Queue a long list: seconds until every row is in the model and the view has scrolled to the last."""
    app = _app()
    window = _window(None)
    ticks = Ticks()
    _run_until(app, lambda: False, 0.3)
    base_rss = rss_mb()
    lines = sum(1 for _ in listing.open("rb"))
    start = time.perf_counter()
    window.add_sources([str(listing)])
    loaded = _run_until(app, lambda: not window.loader.is_busy and window.model.rowCount() >= lines, timeout)
    table = window.queue_view.table
    table.scrollToBottom()
    app.processEvents()
    end = time.perf_counter()
    if not loaded:
        raise RuntimeError(f"only {window.model.rowCount()} of {lines} rows after {timeout:g} s")
    last = window.model.data(window.model.index(lines - 1, 0))
    result = {
        "rows": window.model.rowCount(),
        "last_row_ok": bool(last),
        "seconds": round(end - start, 2),
        "gaps": ticks.gaps(start, end),
        "rss_before_mb": round(base_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    window.close()
    return result


def hello() -> None:
    """A bare PySide6 main window shown, the event loop entered, quit after SMOKE_MS: the cold-start floor."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setCentralWidget(QLabel("hello"))
    window.resize(1280, 800)
    window.show()
    QTimer.singleShot(SMOKE_MS, app.quit)
    app.exec()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gui_bench")
    sub = p.add_subparsers(dest="which", required=True)
    s = sub.add_parser("stalls")
    s.add_argument("urls", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--timeout", type=float, default=600)
    e = sub.add_parser("engine")
    e.add_argument("urls", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--timeout", type=float, default=600)
    ld = sub.add_parser("load")
    ld.add_argument("listing", type=Path)
    ld.add_argument("--timeout", type=float, default=120)
    sub.add_parser("hello")
    args = p.parse_args(argv)
    if args.which == "hello":
        hello()
        return 0
    if args.which == "stalls":
        result = stalls(args.urls, args.out, args.timeout)
    elif args.which == "engine":
        result = engine(args.urls, args.out, args.timeout)
    else:
        result = load(args.listing, args.timeout)
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
