"""Process faults: resizers that crash or hang, the app killed mid-batch, a disk that fills up, an output
folder that turns read-only, a source file deleted while the batch runs.

Each ends with the faulty item `failed` in words (or the batch stopped with a clear error and the rest
resumable), the rest of the batch unharmed, and no stray files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

import core.batch.backends.resize_pool
from core.batch.journal import journal_path, unfinished_batch
from core.batch.runner import Runner
from tests.support import images
from tests.support.harness import entries_of, list_file, run_batch, settings, stray_files, wait_until
from tests.support.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def heavy_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small file that keeps a resizer busy for a while (and shows in its memory): a large, flat PNG."""
    path = tmp_path_factory.mktemp("heavy") / "heavy.png"
    path.write_bytes(images.flat_png(8000, 8000, (0, 0, 128)))
    return path


def _heavy(source: Path, path: Path) -> str:
    shutil.copyfile(source, path)
    return str(path)


def _light(folder: Path, n: int, prefix: str = "light") -> list[str]:
    made = []
    for i in range(n):
        path = folder / f"{prefix}{i}.png"
        Image.new("RGB", (120, 80), (40 * i % 256, 120, 200)).save(path)
        made.append(str(path))
    return made


# --- resizers that crash or hang --------------------------------------------------------------------------


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _decoding_worker(runner: Runner) -> int:
    """The pid of a resizer in the middle of decoding the heavy image (its memory shows it)."""
    found: list[int] = []

    def decoding() -> bool:
        pids = runner.pool.worker_pids() if runner.pool is not None else []
        found[:] = [pid for pid in pids if _rss_mib(pid) > 100]
        return bool(found)

    wait_until(decoding, 30, "a resizer decoding the heavy image")
    return found[0]


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGKILL, "SIGKILL"), (signal.SIGSEGV, "SIGSEGV")])
def test_a_resizer_killed_or_segfaulting_mid_job_fails_only_that_item(
    qapp, heavy_png: Path, tmp_path: Path, sig, name
) -> None:
    heavy = _heavy(heavy_png, tmp_path / "heavy.png")
    light = _light(tmp_path, 5)
    listing = list_file(tmp_path, [heavy, *light])
    killed: list[int] = []

    def kill_the_busy_worker(runner: Runner) -> None:
        pid = _decoding_worker(runner)
        os.kill(pid, sig)
        killed.append(pid)

    config = settings(tmp_path / "out", processes=1, threads=1, size=(1024,))
    batch = run_batch(config, entries_of(listing), on_start=kill_the_busy_worker)

    assert killed
    row = batch.item(heavy)
    assert row["status"] == "failed"
    assert "resizer process crashed on this image" in row["error"] and name in row["error"]
    assert [batch.item(p)["status"] for p in light] == ["done"] * 5
    assert stray_files(batch.out) == []


def test_a_resizer_stuck_on_an_image_is_stopped_at_the_job_deadline(
    qapp, heavy_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decoder looping on hostile data looks, from outside, like a process that stops running: SIGSTOP."""
    monkeypatch.setattr(core.batch.backends.resize_pool, "JOB_TIMEOUT", 1.5)
    heavy = _heavy(heavy_png, tmp_path / "stuck.png")
    light = _light(tmp_path, 4)
    listing = list_file(tmp_path, [heavy, *light])
    stopped: list[int] = []

    def freeze_the_busy_worker(runner: Runner) -> None:
        pid = _decoding_worker(runner)
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)

    batch = run_batch(
        settings(tmp_path / "out", processes=1, threads=1), entries_of(listing), on_start=freeze_the_busy_worker
    )
    row = batch.item(heavy)
    assert row["status"] == "failed"
    assert "took longer than 1.5 s" in row["error"] and "resizer was stopped" in row["error"]
    assert row["seconds"] < 6
    assert [batch.item(p)["status"] for p in light] == ["done"] * 4
    assert not Path(f"/proc/{stopped[0]}").exists() or _state(stopped[0]) == "Z"
    assert stray_files(batch.out) == []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_resizers_that_hang_while_starting_end_in_an_error_not_a_hang(tmp_path: Path) -> None:
    """A worker that never says it is ready (here: its start-up sleeps forever) is stopped at the start
    deadline; after a few such starts the pool gives every job an outcome instead of waiting forever."""
    script = tmp_path / "hangs.py"
    script.write_text(
        "import sys, threading, time\n"
        "if __name__ == '__mp_main__':\n"
        "    time.sleep(3600)  # what a spawned worker runs first: it never gets ready\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import core.batch.backends.resize_pool as pool_module\n"
        "from core.imaging.resize import ResizeSpec\n"
        "pool_module.START_TIMEOUT = 1.0\n"
        "if __name__ == '__main__':\n"
        "    pool = pool_module.ResizePool(1)\n"
        "    done, got = threading.Event(), []\n"
        f"    job = pool_module.ResizeJob('x.png', {str(tmp_path)!r}, 'x', ResizeSpec())\n"
        "    pool.submit(job, lambda o: (got.append(o), done.set()))\n"
        "    assert done.wait(60), 'no outcome'\n"
        "    pool.shutdown()\n"
        "    print('outcome:', got[0].error, got[0].fatal)\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last == "outcome: the resizer processes cannot start (did not start within 1 s) True"
    assert time.monotonic() - started < 30


# --- a source file deleted while the batch runs ---------------------------------------------------------


def test_a_source_file_deleted_mid_batch_fails_in_words(qapp, heavy_png: Path, tmp_path: Path) -> None:
    heavy = _heavy(heavy_png, tmp_path / "first.png")
    queued = _light(tmp_path, 2, "queued")  # downloaded (checked in place), waiting for the busy resizer
    later = _light(tmp_path, 1, "later")  # not even looked at yet when it disappears
    rest = _light(tmp_path, 3, "rest")
    listing = list_file(tmp_path, [heavy, *queued, *later, *rest])

    def delete_while_busy(runner: Runner) -> None:
        wait_until(lambda: runner.pool is not None and runner.pool.busy() >= 3, 30, "two items queued")
        for path in [*queued, *later]:
            os.unlink(path)

    config = settings(tmp_path / "out", processes=1, threads=1, size=(1024,))
    batch = run_batch(config, entries_of(listing), on_start=delete_while_busy)

    assert batch.item(heavy)["status"] == "done"
    for path in queued:
        row = batch.item(path)
        assert row["status"] == "failed" and row["error"] == f"cannot read {Path(path).name}: No such file or directory"
    (gone,) = later
    row = batch.item(gone)
    assert (row["status"], row["error"]) == ("failed", f"file not found: {gone}")
    assert [batch.item(p)["status"] for p in rest] == ["done"] * 3
    assert stray_files(batch.out) == []


# --- the app killed mid-batch and started again ---------------------------------------------------------


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def _journal_done(out: Path) -> dict[str, list[str]]:
    """Items the journal holds as done, with their output paths (read-only, while the app may run)."""
    path = journal_path(out)
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT source, outputs FROM items WHERE status = 'done'").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return {source: [o[0] for o in json.loads(outputs)] for source, outputs in rows}


def test_the_app_killed_mid_batch_resumes_without_redoing_anything(http_server: LoopbackServer, tmp_path: Path):
    urls = [http_server.url(f"/img/k{i}.jpg?w=200&h=150&delay=0.04") for i in range(60)]
    listing = list_file(tmp_path, urls)
    out, report = tmp_path / "out", tmp_path / "report.json"
    command = [sys.executable, "-m", "core.cli", str(listing), "-o", str(out), "--threads", "2", "--processes", "2"]
    app = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while len(_journal_done(out)) < 15:
            assert app.poll() is None and time.monotonic() < end, "the batch ended before it could be killed"
            time.sleep(0.02)
        resizers = _children(app.pid)
        app.send_signal(signal.SIGKILL)
        app.wait(10)
    finally:
        app.kill()
        app.communicate()
    assert app.returncode == -signal.SIGKILL

    # The resizers notice their parent is gone and end on their own: no orphans.
    end = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in resizers):
        assert time.monotonic() < end, "resizer processes outlived the killed app"
        time.sleep(0.05)

    done_before = _journal_done(out)
    assert 15 <= len(done_before) < 60
    before = {p: (out / p).stat() for paths in done_before.values() for p in paths}
    hits_before = {u: http_server.hits(_target(u)) for u in done_before}

    again = subprocess.run([*command, "--report", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    items = json.loads(report.read_text())["items"]
    assert sorted(i["source"] for i in items) == sorted(urls)  # one outcome each
    status = {i["source"]: i["status"] for i in items}
    assert {status[u] for u in done_before} == {"skipped"}
    assert {s for u, s in status.items() if u not in done_before} == {"done"}
    for p, st in before.items():
        now = (out / p).stat()
        assert (now.st_ino, now.st_mtime_ns, now.st_size) == (st.st_ino, st.st_mtime_ns, st.st_size), p
    assert {u: http_server.hits(_target(u)) for u in done_before} == hits_before  # not downloaded again
    for item in items:
        for o in item["outputs"]:
            with Image.open(o["path"]) as im:
                im.load()  # whole, not half-written
    assert stray_files(out) == []


def _start_heavy_batch(heavy_png: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], list[str], Path]:
    """The command on eight slow-to-decode images, in a session of its own (a terminal's process group), once
    a resizer is in the middle of a decode."""
    heavy = [_heavy(heavy_png, tmp_path / f"heavy{i}.png") for i in range(8)]
    listing = list_file(tmp_path, heavy)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "core.cli", str(listing), "-o", str(out), "--processes", "2", "--threads", "1"]
    app = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    end = time.monotonic() + 60
    while not any(_rss_mib(pid) > 100 for pid in _children(app.pid)):
        assert app.poll() is None and time.monotonic() < end, "no resizer got to decode an image"
        time.sleep(0.02)
    return app, heavy, out


def _resumed_report(out: Path, tmp_path: Path) -> dict[str, str]:
    report = tmp_path / "resumed.json"
    command = [sys.executable, "-m", "core.cli", "--resume", "-o", str(out), "--report", str(report)]
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    return {i["source"]: i["status"] for i in json.loads(report.read_text())["items"]}


def test_ctrl_c_in_a_terminal_leaves_every_unfinished_item_to_do(heavy_png: Path, tmp_path: Path) -> None:
    """Ctrl+C reaches the whole foreground process group, resizers included: they must not die of it in the
    middle of a decode (their items would be recorded as crashed); the command cancels them itself."""
    app, heavy, out = _start_heavy_batch(heavy_png, tmp_path)
    try:
        os.killpg(app.pid, signal.SIGINT)
        _, err = app.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGKILL)
    assert app.returncode == 130, err
    assert "interrupted: the journal is saved" in err and "failed:" not in err
    assert unfinished_batch(out) > 0  # stopped in the middle
    assert _resumed_report(out, tmp_path) == dict.fromkeys(heavy, "done")
    assert stray_files(out) == []


@pytest.mark.parametrize("to_group", [False, True], ids=["to-the-command", "to-its-process-group"])
def test_sigterm_ends_the_command_like_ctrl_c_and_leaks_nothing(
    heavy_png: Path, tmp_path: Path, to_group: bool
) -> None:
    """What `timeout` (the command alone), systemd and a logout (the whole group, resizers included) send: the
    journal is saved, the command says so and exits 143, no item is failed; the batch's shared memory is released
    (else Python's resource tracker warns about a leak)."""
    app, heavy, out = _start_heavy_batch(heavy_png, tmp_path)
    try:
        if to_group:
            os.killpg(app.pid, signal.SIGTERM)
        else:
            app.send_signal(signal.SIGTERM)
        _, err = app.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGKILL)
    assert app.returncode == 143, err
    assert "interrupted: the journal is saved; run the same command again" in err and "failed:" not in err
    assert "leaked" not in err and "resource_tracker" not in err and "Traceback" not in err
    assert unfinished_batch(out) > 0
    assert _resumed_report(out, tmp_path) == dict.fromkeys(heavy, "done")
    assert stray_files(out) == []


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# --- a disk that fills up, an output folder that cannot be written -----------------------------------------


def _noise_sources(folder: Path, n: int, side: int = 512) -> list[str]:
    """Images whose PNG thumbnails are large (noise does not compress): a few fill a small disk."""
    made = []
    for i in range(n):
        path = folder / f"noise{i}.png"
        Image.effect_noise((side, side), 90 + i).convert("RGB").save(path, compress_level=1)
        made.append(str(path))
    return made


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@contextmanager
def _mounted(target: Path, *args: str) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    result = _mount(*args, str(target))
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip() or 'not permitted'})")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting needs root"
    return None


def _assert_stopped_and_resumable(qapp, batch, sources: list[str], says: str, resume: Callable[[], None]) -> None:
    assert batch.summary.fatal and says in batch.summary.fatal, batch.summary.fatal
    assert "the batch stopped" in batch.summary.fatal
    assert stray_files(batch.out) == []
    pending = unfinished_batch(batch.out)
    done = [s for s in sources if batch.item(s)["status"] == "done"]
    assert pending == len(sources) - len(done) > 0  # nothing lost: what was not made is still to do
    resume()


@pytest.mark.skipif(_can_mount() is not None, reason="mounting a small tmpfs needs root")
def test_a_full_disk_stops_the_batch_with_a_clear_error_and_loses_nothing(qapp, tmp_path: Path) -> None:
    sources = _noise_sources(tmp_path, 8)
    listing = list_file(tmp_path, sources)
    disk = tmp_path / "disk"
    with _mounted(disk, "-t", "tmpfs", "-o", "size=2m", "tmpfs"):
        config = settings(disk / "out", size=(512,), format="png", processes=1, threads=1)
        batch = run_batch(config, entries_of(listing))

        def resume() -> None:
            assert _mount("-o", "remount,size=64m", str(disk)).returncode == 0
            resumed = run_batch(config, None)
            assert resumed.summary.fatal is None and resumed.summary.failed == 0
            assert unfinished_batch(disk / "out") == 0
            assert stray_files(disk / "out") == []

        _assert_stopped_and_resumable(qapp, batch, sources, "No space left on device", resume)


@pytest.mark.skipif(_can_mount() is not None, reason="mounting a small tmpfs needs root")
def test_a_disk_too_full_for_the_journal_stops_with_words_and_the_same_command_finishes(tmp_path: Path) -> None:
    lines = [f"ftp://127.0.0.1/{i}.jpg" for i in range(3000)]  # settled at once: the journal is the only cost
    listing = list_file(tmp_path, lines)
    disk = tmp_path / "disk"
    with _mounted(disk, "-t", "tmpfs", "-o", "size=128k", "tmpfs"):
        command = [sys.executable, "-m", "core.cli", str(listing), "-o", str(disk / "out")]
        full = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert full.returncode == 1
        assert "error: the batch stopped: cannot update its journal (database or disk is full)" in full.stderr
        assert "run the same command again" in full.stderr and "Traceback" not in full.stderr
        assert _mount("-o", "remount,size=64m", str(disk)).returncode == 0
        report = tmp_path / "r.json"
        command += ["--report", str(report)]
        again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert again.returncode == 1  # every line is invalid, and each says so
        items = json.loads(report.read_text())["items"]
        assert [i["status"] for i in items] == ["invalid"] * len(lines)
        assert stray_files(disk / "out") == []


@pytest.mark.parametrize("where", ["thumbnails", "downloads"])
def test_a_file_size_limit_stops_the_batch_like_a_full_disk(
    http_server: LoopbackServer, tmp_path: Path, where: str
) -> None:
    """Without root, RLIMIT_FSIZE on the app gives the same refusal as a full disk (EFBIG, not ENOSPC), whether
    a thumbnail or a download (spooled inside the output folder) is the file that grows too large."""
    if where == "thumbnails":
        lines, flags = _noise_sources(tmp_path, 4), ["--size", "512", "--format", "png"]
        says = "cannot write thumbnails: File too large"
    else:
        noise = images.encode(Image.effect_noise((600, 600), 90).convert("RGB"), "PNG", compress_level=1)
        lines = [http_server.add(f"/noise{i}.png", noise, {"Content-Type": "image/png"}) for i in range(4)]
        flags, says = ["--size", "64"], "cannot save downloads: File too large"
    listing = list_file(tmp_path, lines)
    out, report = tmp_path / "out", tmp_path / "r.json"

    def limit_file_size() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, resource.RLIM_INFINITY))

    command = [sys.executable, "-m", "core.cli", str(listing), "-o", str(out), *flags, "--report", str(report)]
    run = subprocess.run(
        [*command, "--processes", "1", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert f"error: the batch stopped: {says} (a file-size limit: ulimit -f, or a quota)" in run.stderr
    assert "run the same command again" in run.stderr
    assert stray_files(out) == []
    assert unfinished_batch(out) == 4  # nothing failed: everything is still to do
    finish = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert finish.returncode == 0, finish.stderr
    assert [i["status"] for i in json.loads(report.read_text())["items"]] == ["done"] * 4


@contextmanager
def _unwritable(out: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """Make `out` refuse new files while its journal folder stays writable; yields (the error the system
    gives, how to make it writable again). As root, permissions do not stop writes: a read-only bind mount
    does. Otherwise, taking away the write permission does."""
    (out / ".thumbnailer").mkdir(parents=True)
    if os.geteuid() != 0:
        out.chmod(0o555)
        try:
            yield "Permission denied", lambda: out.chmod(0o755)
        finally:
            out.chmod(0o755)
        return
    state = out.parent / "state"
    state.mkdir()
    with _mounted(out, "--bind", str(out)):
        if _mount("-o", "remount,bind,ro", str(out)).returncode != 0:
            pytest.skip("cannot make a read-only bind mount here")
        with _mounted(out / ".thumbnailer", "--bind", str(state)):  # the journal stays writable
            yield "Read-only file system", lambda: _mount("-o", "remount,bind,rw", str(out))


def test_an_output_folder_that_cannot_be_written_stops_with_a_clear_error(qapp, tmp_path: Path) -> None:
    sources = _light(tmp_path, 6)
    listing = list_file(tmp_path, sources)
    out = tmp_path / "out"
    with _unwritable(out) as (says, make_writable):
        config = settings(out, processes=1, threads=1)
        batch = run_batch(config, entries_of(listing))

        def resume() -> None:
            make_writable()
            resumed = run_batch(config, None)
            assert resumed.summary.fatal is None and resumed.summary.failed == 0
            assert unfinished_batch(out) == 0

        _assert_stopped_and_resumable(qapp, batch, sources, says, resume)
