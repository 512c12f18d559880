"""One batch per output folder: a second is refused naming the first; a finished or killed first blocks nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.batch.folder_lock import LOCK_NAME, FolderBusy, read_holder
from core.batch.journal import STATE_DIR, Journal
from core.batch.report import write_report
from tests.support.command import ROOT, poll_until, thumbnailer
from tests.support.loopback import LoopbackServer

BUSY = "another batch is writing to the output folder"


def _holder_pid(out: Path) -> int | None:
    holder = read_holder(out / STATE_DIR / LOCK_NAME)
    return holder.pid if holder else None


def _slow_batch(server: LoopbackServer, tmp_path: Path, out: Path) -> subprocess.Popen[str]:
    """A real command on `out` that holds its lock until it is interrupted: its one image drips for minutes."""
    listing = tmp_path / "slow.txt"
    listing.write_text(server.url("/drip/slow.jpg?bps=20") + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", str(listing), "-o", str(out), "--timeout", "300", "--processes", "1"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    poll_until(lambda: server.hits("/drip/slow.jpg") > 0 and _holder_pid(out) == proc.pid, timeout=60)
    return proc


def _fast_list(server: LoopbackServer, tmp_path: Path, name: str) -> Path:
    listing = tmp_path / f"{name}.txt"
    listing.write_text("".join(server.url(f"/img/{name}{i}.jpg?w=64&h=48") + "\n" for i in range(3)))
    return listing


def test_a_second_journal_on_a_folder_is_refused_naming_this_process(tmp_path: Path) -> None:
    with Journal(tmp_path):
        with pytest.raises(FolderBusy) as busy:
            Journal(tmp_path)
        holder = busy.value.holder
        assert holder is not None and (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
        message = str(busy.value)
        assert message.startswith(f"{BUSY} {tmp_path} (process {os.getpid()} on {socket.gethostname()}, started ")
        with Journal(tmp_path, lock=False) as reader:  # a report may be read beside a batch
            assert reader.last_run() is None
    with Journal(tmp_path):  # closed: free again
        pass


def test_a_report_is_written_while_a_batch_holds_the_folder(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run = j.new_run("fp", "normal")
        assert write_report(tmp_path, run, tmp_path / "r.csv") == 0


def test_a_second_command_on_the_folder_stops_naming_the_first_and_a_third_runs_after_it(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = _slow_batch(http_server, tmp_path, out)
    try:
        second = thumbnailer(str(_fast_list(http_server, tmp_path, "second")), "-o", str(out))
        assert second.returncode == 1, second.stderr
        assert f"error: {BUSY} {out} (process {first.pid} on {socket.gethostname()}, started " in second.stderr
        assert http_server.hits("/img/second0.jpg") == 0 and not list(out.glob("second*"))
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 130, err

    third = thumbnailer(str(_fast_list(http_server, tmp_path, "third")), "-o", str(out))
    assert third.returncode == 0, third.stderr
    assert len(list(out.glob("third*.jpg"))) == 3


def test_a_killed_batch_leaves_no_lock_behind(http_server: LoopbackServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _slow_batch(http_server, tmp_path, out)
    first.kill()  # SIGKILL: no clean-up runs; the lock file stays, naming a dead process
    first.communicate(timeout=60)
    assert _holder_pid(out) == first.pid

    after = thumbnailer(str(_fast_list(http_server, tmp_path, "after")), "-o", str(out))
    assert after.returncode == 0, after.stderr
    assert len(list(out.glob("after*.jpg"))) == 3
