"""The runner in its own process, as the window runs it: same results, and a dead engine or window ends the
batch with words and loses nothing. Pause, resume and cancel are tested on both runners in test_runner.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from PIL import Image

from core.batch.journal import unfinished_batch
from core.batch.runner_process import CHUNK, RunnerProcess
from core.models import Entry, Progress, Status, Summary
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _entry(url: str) -> Entry:
    return Entry(url, url)


def _settings(out: Path, **kw) -> Settings:
    kw.setdefault("processes", 2)
    kw.setdefault("threads", 4)
    kw.setdefault("timeout", 10)
    return Settings(out=out, **kw)


def _run(qtbot, runner: RunnerProcess, timeout: int = 60_000) -> tuple[Summary, list[Progress]]:
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.finished, timeout=timeout) as blocker:
        runner.start()
    assert runner.wait(10_000)
    return blocker.args[0], seen


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_batch_runs_in_another_process_with_the_same_results(qtbot, http_server, tmp_path: Path) -> None:
    urls = [http_server.url(f"/img/p{i}.jpg?w=640&h=480&color=00ff00") for i in range(6)]
    urls.append(http_server.url("/missing.jpg"))
    runner = RunnerProcess(_settings(tmp_path), map(_entry, urls))
    summary, progress = _run(qtbot, runner)

    assert runner.pid is not None and runner.pid != os.getpid()
    assert (summary.total, summary.done, summary.failed, summary.run_id > 0) == (7, 6, 1, True)
    last = {u.key: u for p in progress for u in p.updates}
    assert last[urls[-1]].status == Status.FAILED and "404" in (last[urls[-1]].error or "")
    for url in urls[:-1]:
        (out,) = last[url].outputs
        with Image.open(tmp_path / out.path) as im:
            assert im.size == (256, 192)
            r, g, b = im.convert("RGB").getpixel((128, 96))
            assert g > 200 and r < 60 and b < 60


def test_a_list_longer_than_one_chunk_arrives_whole(qtbot, tmp_path: Path) -> None:
    n = CHUNK * 2 + 17
    entries = [Entry(f"bad line {i}", None, "list.txt", i + 1, "not a URL") for i in range(n)]
    runner = RunnerProcess(_settings(tmp_path), entries)
    prepared: list[int] = []
    runner.prepared.connect(prepared.append)
    summary, _ = _run(qtbot, runner)
    assert prepared == [n] and (summary.total, summary.invalid) == (n, n)


def test_a_killed_engine_process_ends_the_batch_with_words_and_loses_nothing(
    qtbot, http_server, tmp_path: Path
) -> None:
    good = [http_server.url(f"/img/g{i}.jpg?w=60&h=60") for i in range(3)]
    slow = [http_server.url(f"/drip/kd{i}.jpg?bps=20") for i in range(2)]
    runner = RunnerProcess(_settings(tmp_path, timeout=300), map(_entry, good + slow))
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    runner.start()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].done == 3, timeout=30_000)
    assert runner.pid is not None
    resizers = _children(runner.pid)
    assert len(resizers) == 2
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        os.kill(runner.pid, signal.SIGKILL)
    summary = blocker.args[0]
    assert summary.fatal and "engine process stopped" in summary.fatal and "SIGKILL" in summary.fatal
    assert runner.wait(5_000) and not runner.is_running
    qtbot.waitUntil(lambda: not any(Path(f"/proc/{pid}").exists() for pid in resizers), timeout=10_000)
    assert unfinished_batch(tmp_path) == 2  # the journal kept the unfinished items

    resumed, _ = _run(qtbot, RunnerProcess(_settings(tmp_path, timeout=1), None))
    assert (resumed.done, resumed.total) == (3, 5)


def test_engine_process_of_a_killed_window_stops_and_keeps_the_journal(qtbot, http_server, tmp_path: Path) -> None:
    """A window that dies (SIGKILL, a crash) must not leave its engine running: the engine sees its control
    pipe close, cancels, saves the journal and exits, and its resizers with it."""
    slow = [http_server.url(f"/drip/w{i}.jpg?bps=20") for i in range(3)]
    window = (
        "import sys, time\n"
        "from PySide6.QtCore import QCoreApplication\n"
        "from core.models import Entry\n"
        "from core.batch.runner_process import RunnerProcess\n"
        "from core.settings import Settings\n"
        "app = QCoreApplication([])\n"
        "urls = sys.argv[2:]\n"
        "runner = RunnerProcess(Settings(out=sys.argv[1], timeout=300), [Entry(u, u) for u in urls])\n"
        "runner.progress.connect(lambda p: p.running and print(runner.pid, flush=True))\n"
        "runner.start()\n"
        "app.exec()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", window, str(tmp_path), *slow], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        engine = int(proc.stdout.readline())  # printed once the engine reports items running
        resizers = _children(engine)
        proc.kill()
        proc.wait()
        qtbot.waitUntil(lambda: not any(Path(f"/proc/{pid}").exists() for pid in [engine, *resizers]), timeout=15_000)
    finally:
        proc.kill()
        proc.stdout.close()
    assert unfinished_batch(tmp_path) == 3
