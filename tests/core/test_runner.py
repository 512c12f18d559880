"""The runner end to end over the loopback server: real downloads, real resizer processes, a real journal."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from PIL import Image

from core.batch.backends import BACKENDS
from core.batch.backends.base import Context, Failed, FetchFailed, Made
from core.batch.backends.resize_pool import start_pool
from core.batch.control import BatchMode
from core.batch.journal import Journal, RunState, unfinished_batch
from core.batch.runner import Runner, spool_dir
from core.batch.runner_process import RunnerProcess
from core.download.fetch import Downloader, FetchError
from core.imaging.jobs import ResizeJob, run_job
from core.models import Entry, Progress, Status, Summary
from core.naming import output_stem
from core.settings import Settings


def _entry(url: str) -> Entry:
    return Entry(url, url)


def _run(qtbot, runner: Runner, timeout: int = 60_000) -> tuple[Summary, list[Progress]]:
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.finished, timeout=timeout) as blocker:
        runner.start()
    return blocker.args[0], seen


def _settings(out: Path, **kw) -> Settings:
    kw.setdefault("processes", 2)
    kw.setdefault("threads", 4)
    kw.setdefault("retries", 2)
    kw.setdefault("timeout", 10)
    return Settings(out=out, **kw)


def _updates(progress: list[Progress]) -> dict[str, object]:
    """The last update of each item, as a window would show it."""
    last = {}
    for p in progress:
        for u in p.updates:
            last[u.key] = u
    return last


def test_batch_makes_correct_thumbnails_and_reports_progress(qtbot, http_server, tmp_path: Path) -> None:
    urls = [http_server.url(f"/img/p{i}.jpg?w=640&h=480&color=ff0000") for i in range(12)]
    urls += [http_server.url(f"/img/t{i}.png?w=300&h=600&color=0000ff&alpha=1") for i in range(4)]
    summary, progress = _run(qtbot, Runner(_settings(tmp_path / "out"), map(_entry, urls)))

    assert (summary.total, summary.done, summary.failed) == (16, 16, 0)
    last = _updates(progress)
    assert {u.status for u in last.values()} == {Status.DONE}
    for url in urls:
        (out,) = last[url].outputs
        with Image.open(tmp_path / "out" / out.path) as im:
            if ".jpg" in url:
                assert (im.format, im.size) == ("JPEG", (256, 192))
                r, g, b = im.convert("RGB").getpixel((128, 96))
                assert r > 200 and g < 50 and b < 50
            else:
                assert (im.format, im.size) == ("PNG", (128, 256))
        assert (out.width, out.height) == im.size
        assert out.bytes == (tmp_path / "out" / out.path).stat().st_size
    assert progress[-1].done == 16 and progress[-1].fraction == 1.0
    assert not list(spool_dir(tmp_path / "out").iterdir())


def test_second_run_skips_done_items_without_downloading(qtbot, http_server, tmp_path: Path) -> None:
    urls = [http_server.url(f"/img/s{i}.jpg?w=100&h=100") for i in range(6)]
    settings = _settings(tmp_path)
    first, _ = _run(qtbot, Runner(settings, map(_entry, urls)))
    assert first.done == 6
    hits = sum(http_server.hits(f"/img/s{i}.jpg") for i in range(6))

    again, progress = _run(qtbot, Runner(settings, map(_entry, urls)))
    assert (again.done, again.skipped) == (0, 6)
    assert sum(http_server.hits(f"/img/s{i}.jpg") for i in range(6)) == hits
    assert {u.status for u in _updates(progress).values()} == {Status.SKIPPED}

    forced, _ = _run(qtbot, Runner(settings, map(_entry, urls), mode="force"))
    assert forced.done == 6


def test_only_makes_just_those_items_of_the_last_run_and_keeps_the_rest_to_do(
    qtbot, http_server, tmp_path: Path
) -> None:
    """A front end's "Retry this": one item of the last run, done or not, and nothing else."""
    urls = [http_server.url(f"/img/o{i}.jpg?w=80&h=80") for i in range(4)]
    settings = _settings(tmp_path)
    with Journal(tmp_path) as journal:  # a cancelled run that made the first two
        run = journal.new_run(settings.output_fingerprint(), "normal")
        journal.add_entries(map(_entry, urls), run)
        journal.end_run(run, RunState.CANCELLED)
    first, _ = _run(qtbot, Runner(settings, None, only=[urls[0], urls[1]]))
    assert (first.done, first.not_reached, first.cancelled) == (2, 2, False)
    assert unfinished_batch(tmp_path) == 2  # still resumable: the rest is left to do

    again, progress = _run(qtbot, Runner(settings, None, only=[urls[0]]))  # a done item: made again
    assert [http_server.hits(f"/img/o{i}.jpg") for i in range(4)] == [2, 1, 0, 0]
    assert {key: u.status for key, u in _updates(progress).items()} == {urls[0]: Status.DONE}  # no announcements
    assert (again.done, again.not_reached) == (2, 2) and unfinished_batch(tmp_path) == 2
    with pytest.raises(ValueError, match="give no entries"):
        Runner(settings, map(_entry, urls), only=[urls[0]])


def test_changed_output_settings_redo_items(qtbot, http_server, tmp_path: Path) -> None:
    urls = [http_server.url("/img/c.jpg?w=800&h=400")]
    _run(qtbot, Runner(_settings(tmp_path), map(_entry, urls)))
    summary, progress = _run(qtbot, Runner(_settings(tmp_path, size=(64, 128)), map(_entry, urls)))
    assert summary.done == 1
    sizes = sorted((o.width, o.height) for o in _updates(progress)[urls[0]].outputs)
    assert sizes == [(64, 32), (128, 64)]


def test_failures_are_reported_and_the_rest_of_the_batch_is_unharmed(qtbot, http_server, tmp_path: Path) -> None:
    good = [http_server.url(f"/img/g{i}.jpg?w=50&h=50") for i in range(5)]
    missing = http_server.url("/status/404")
    html = http_server.url("/html")
    summary, progress = _run(qtbot, Runner(_settings(tmp_path), map(_entry, [missing, *good, html])))
    assert (summary.done, summary.failed) == (5, 2)
    last = _updates(progress)
    assert "404" in last[missing].error and last[missing].http_status == 404
    assert "HTML" in last[html].error
    assert http_server.hits("/status/404") == 1  # a 404 is not retried


def test_retry_after_is_honoured_then_succeeds(qtbot, http_server, tmp_path: Path) -> None:
    url = http_server.url("/retry/2/r.jpg?after=0")
    summary, _ = _run(qtbot, Runner(_settings(tmp_path, retries=3), [_entry(url)]))
    assert summary.done == 1
    assert http_server.hits("/retry/2/r.jpg") == 3


def test_retries_give_up_with_a_clear_error(qtbot, http_server, tmp_path: Path) -> None:
    url = http_server.url("/retry/5/g.jpg?after=0&code=429")
    summary, progress = _run(qtbot, Runner(_settings(tmp_path, retries=1), [_entry(url)]))
    assert summary.failed == 1
    error = _updates(progress)[url].error
    assert "429" in error and "gave up after 2 attempts" in error


#: The command's in-process runner and the window's, which runs the same Runner in an engine process.
RUNNERS = pytest.mark.parametrize("make", [Runner, RunnerProcess], ids=["in-process", "engine-process"])


@RUNNERS
def test_pause_holds_new_work_and_resume_finishes(qtbot, http_server, tmp_path: Path, make) -> None:
    urls = [http_server.url(f"/img/pause{i}.jpg?w=40&h=40") for i in range(4)]
    runner = make(_settings(tmp_path), map(_entry, urls))
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    runner.pause()
    runner.start()
    qtbot.waitUntil(lambda: len([p for p in seen if p.paused]) >= 3, timeout=20_000)
    assert sum(http_server.hits(f"/img/pause{i}.jpg") for i in range(4)) == 0
    assert runner.is_paused and runner.is_running
    with qtbot.waitSignal(runner.finished, timeout=30_000) as blocker:
        runner.resume()
    assert blocker.args[0].done == 4
    assert runner.wait(10_000)


@RUNNERS
def test_cancel_before_start_downloads_nothing(qtbot, http_server, tmp_path: Path, make) -> None:
    urls = [http_server.url(f"/img/never{i}.jpg?w=40&h=40") for i in range(3)]
    runner = make(_settings(tmp_path), map(_entry, urls))
    runner.cancel()
    summary, _ = _run(qtbot, runner)
    assert summary.cancelled and summary.done == 0
    assert sum(http_server.hits(f"/img/never{i}.jpg") for i in range(3)) == 0
    assert runner.wait(10_000)


@RUNNERS
def test_cancel_stops_downloads_keeps_no_temp_files_and_resumes(qtbot, http_server, tmp_path: Path, make) -> None:
    good = [http_server.url(f"/img/k{i}.jpg?w=60&h=60") for i in range(3)]
    slow = [http_server.url(f"/drip/d{i}.jpg?bps=20") for i in range(2)]
    runner = make(_settings(tmp_path, timeout=300), map(_entry, good + slow))
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    runner.start()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].done == 3 and seen[-1].bytes_downloaded > 0, timeout=30_000)
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.cancel()
    summary = blocker.args[0]
    assert summary.cancelled and summary.done == 3 and (summary.skipped, summary.not_reached) == (0, 2)
    last = {u.key: u.status for p in seen for u in p.updates}  # what a front end shows of each item at the end
    assert sorted(last.values()) == [Status.DONE] * 3 + [Status.NOT_REACHED] * 2  # none left running
    assert seen[-1].not_reached == 2
    assert runner.wait(10_000)
    assert not list(spool_dir(tmp_path).glob("*"))
    assert unfinished_batch(tmp_path) == 2

    resumed, _ = _run(qtbot, make(_settings(tmp_path, timeout=1), None))
    assert (resumed.done, resumed.failed, resumed.total) == (3, 2, 5)
    assert unfinished_batch(tmp_path) == 0


def test_a_crashed_resizer_fails_only_its_item(qtbot, http_server, tmp_path: Path) -> None:
    heavy = http_server.url("/img/heavy.png?w=5000&h=5000&noise=1")
    light = [http_server.url(f"/img/l{i}.jpg?w=64&h=64") for i in range(4)]
    runner = Runner(_settings(tmp_path, processes=1, threads=1), map(_entry, [heavy, *light]))
    seen: list[Progress] = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
        qtbot.waitUntil(lambda: runner.pool is not None and runner.pool.busy() > 0, timeout=30_000)
        os.kill(runner.pool.worker_pids()[0], signal.SIGKILL)
    summary = blocker.args[0]
    assert (summary.done, summary.failed) == (4, 1)
    assert "crashed" in _updates(seen)[heavy].error
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_an_output_folder_that_cannot_be_made_stops_with_a_clear_error(qtbot, tmp_path: Path) -> None:
    blocker_file = tmp_path / "not-a-folder"
    blocker_file.write_text("x")
    summary, _ = _run(qtbot, Runner(_settings(blocker_file / "out"), [_entry("http://127.0.0.1:9/x.jpg")]))
    assert summary.fatal and "output folder" in summary.fatal


def test_local_files_are_read_in_place(qtbot, tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    Image.new("RGB", (400, 200), "green").save(src)
    summary, progress = _run(qtbot, Runner(_settings(tmp_path / "out"), [Entry(str(src), src.as_uri())]))
    assert summary.done == 1
    (out,) = _updates(progress)[src.as_uri()].outputs
    assert (out.width, out.height) == (256, 128)
    assert src.exists()
    with Journal(tmp_path / "out") as j:
        (item,) = j.items(summary.run_id)
    assert item.status == Status.DONE and item.http_status is None


@pytest.mark.parametrize("per_host", [1, 3])
def test_per_host_limit_is_never_exceeded(qtbot, http_server, tmp_path: Path, per_host: int) -> None:
    urls = [http_server.url(f"/drip/h{per_host}-{i}.jpg?w=32&h=32&bps=5000") for i in range(8)]
    summary, _ = _run(qtbot, Runner(_settings(tmp_path, threads=8, per_host=per_host), map(_entry, urls)))
    assert summary.done == 8
    assert http_server.peak_transfers() == per_host


def test_resizer_processes_started_early_end_with_a_batch_that_cannot_begin(qtbot, tmp_path: Path) -> None:
    """The command starts its resizers before the batch opens its journal; a batch that fails there (nothing
    to resume) must still stop them, or they would outlive the run."""
    settings = _settings(tmp_path / "out")
    pool = start_pool(settings)
    qtbot.waitUntil(lambda: len(pool.worker_pids()) == 2, timeout=30_000)
    pids = pool.worker_pids()
    summary, _ = _run(qtbot, Runner(settings, None, pool=pool))

    assert summary.fatal and "no batch to resume" in summary.fatal
    qtbot.waitUntil(lambda: not any(_alive(pid) for pid in pids), timeout=10_000)


def _alive(pid: int) -> bool:
    """A child that exited but was not reaped is a zombie: not alive for this purpose."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _counting_shutdowns(pool) -> list[int]:
    """Record each call of the pool's shutdown (which still runs)."""
    calls: list[int] = []
    shutdown = pool.shutdown

    def counted() -> None:
        calls.append(1)
        shutdown()

    pool.shutdown = counted
    return calls


def test_resizer_processes_handed_to_a_runner_that_never_starts_are_stopped_once(qtbot, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "out")
    pool = start_pool(settings)
    shutdowns = _counting_shutdowns(pool)
    qtbot.waitUntil(lambda: len(pool.worker_pids()) == 2, timeout=30_000)
    pids = pool.worker_pids()
    runner = Runner(settings, [_entry("http://127.0.0.1:9/x.jpg")], pool=pool)
    runner.close()
    runner.close()
    assert shutdowns == [1]
    qtbot.waitUntil(lambda: not any(_alive(pid) for pid in pids), timeout=10_000)


def test_resizer_processes_handed_to_a_runner_are_stopped_once_when_the_batch_ends(qtbot, tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), "red").save(src)
    settings = _settings(tmp_path / "out")
    pool = start_pool(settings)
    shutdowns = _counting_shutdowns(pool)
    runner = Runner(settings, [Entry(str(src), src.as_uri())], pool=pool)
    summary, _ = _run(qtbot, runner)
    runner.close()  # what the command does after every batch: nothing left to release
    assert summary.done == 1 and shutdowns == [1]


def test_an_unknown_mode_is_refused_and_modes_are_the_journal_strings() -> None:
    assert [m.value for m in BatchMode] == ["normal", "force", "retry_failed"]
    with pytest.raises(ValueError, match="unknown mode"):
        Runner(Settings(), [], mode="sometimes")


class _InlineBackend:
    """A third backend in a few lines: each item downloads and resizes on a thread of its own, in this process."""

    host_limit = None

    def __init__(self, settings: Settings, *, interactive: bool = False, pool: object = None) -> None:
        self.settings = settings
        self.threads: list[threading.Thread] = []

    def start(self, ctx: Context) -> bool:
        self.ctx = ctx
        return True

    def has_room(self) -> bool:
        return len([t for t in self.threads if t.is_alive()]) < 2

    def submit(self, item) -> None:
        self.threads.append(threading.Thread(target=self._run, args=(item.key, item.url)))
        self.threads[-1].start()

    def _run(self, key: str, url: str) -> None:
        s = self.settings
        try:
            with Downloader() as downloader:
                fetched = downloader.fetch(url, self.ctx.spool, s.fetch_limits(), self.ctx.control.should_abort)
        except FetchError as exc:
            self.ctx.report(FetchFailed(key, exc))
            return
        outcome = run_job(ResizeJob(str(fetched.path), str(s.out), output_stem(url), s.resize_spec()))
        if outcome.result is None:
            self.ctx.report(Failed(key, outcome.error or "", fetched))
        else:
            r = outcome.result
            self.ctx.report(Made(key, fetched, r.source_width, r.source_height, tuple(r.outputs)))

    def cancel_queued(self) -> None: ...

    def tick(self) -> None: ...

    def close(self) -> None:
        for t in self.threads:
            t.join()


def test_a_new_backend_is_one_class_and_one_registration(qtbot, tmp_path: Path, monkeypatch) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (400, 100), "blue").save(good)
    missing = tmp_path / "missing.png"
    monkeypatch.setitem(BACKENDS, "local", lambda: _InlineBackend)
    entries = [Entry(str(p), p.as_uri()) for p in (good, missing)]
    summary, progress = _run(qtbot, Runner(_settings(tmp_path / "out"), entries))
    assert (summary.done, summary.failed) == (1, 1)
    last = _updates(progress)
    assert [(o.width, o.height) for o in last[good.as_uri()].outputs] == [(256, 64)]
    assert "file not found" in last[missing.as_uri()].error
