"""The log file and -v's terminal lines (core/logs.py), set up in this process as the two programs do."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import logs


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's handlers are closed again; logging's levels and the environment come back as they were."""
    monkeypatch.setenv(logs.ENV, "")  # recorded, so the set-up's variable is removed again afterwards
    monkeypatch.delenv(logs.ENV)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *logs.OWN_LOGGERS)}
    handlers = list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_the_log_folder_is_the_platforms_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
        assert logs.log_path() == tmp_path / "batch-thumbnailer" / "log" / "batch-thumbnailer.log"
    assert logs.shown(Path.home() / "a" / "b.log") == str(Path("~") / "a" / "b.log")
    assert logs.shown(Path("/elsewhere/b.log")) == "/elsewhere/b.log"


def test_by_default_the_file_holds_info_and_the_terminal_only_warnings(tmp_path: Path) -> None:
    printed: list[str] = []
    path = logs.configure("thumbnailer", 0, console=printed.append, directory=tmp_path)
    assert path == tmp_path / "batch-thumbnailer.log"
    logging.getLogger("core.download.fetch").debug("redirect to %s", "https://b/")
    logging.getLogger("core.batch").info("batch ended")
    logging.getLogger("urllib3.connectionpool").warning("connection pool is full")
    text = path.read_text(encoding="utf-8")
    assert "thumbnailer started:" in text and "batch ended" in text and "connection pool is full" in text
    assert "redirect" not in text
    assert printed == ["WARNING urllib3.connectionpool: connection pool is full"]


def test_verbose_keeps_our_debug_lines_and_very_verbose_the_libraries_too(tmp_path: Path) -> None:
    printed: list[str] = []
    path = logs.configure("thumbnailer", 1, console=printed.append, directory=tmp_path)
    assert path is not None
    logging.getLogger("core.download.fetch").debug("redirect to %s", "https://b/")
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection")
    assert "DEBUG core.download.fetch: redirect to https://b/" in printed
    assert "Starting new" not in path.read_text(encoding="utf-8")

    logs.configure("thumbnailer", 2, console=printed.append, directory=tmp_path)  # replaces the first set-up
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection")
    assert printed.count("DEBUG urllib3.connectionpool: Starting new HTTP connection") == 1
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sum("redirect to" in line for line in lines) == 1  # one file handler, not two
    assert any(f"thumbnailer[{os.getpid()}] DEBUG MainThread urllib3.connectionpool:" in line for line in lines)


def test_the_file_rotates_at_a_few_megabytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 10_000)
    path = logs.configure("thumbnailer", 0, console=None, directory=tmp_path)
    assert path is not None
    for i in range(200):
        logging.getLogger("core").info("line %d %s", i, "x" * 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "batch-thumbnailer.log",
        "batch-thumbnailer.log.1",
        "batch-thumbnailer.log.2",
        "batch-thumbnailer.log.3",
    ]
    assert all(p.stat().st_size <= 10_000 for p in tmp_path.iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_log_folder_that_cannot_be_written_leaves_the_run_going(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        printed: list[str] = []
        assert logs.configure("thumbnailer", 1, console=printed.append, directory=tmp_path / "log") is None
        assert any("no log file: cannot write" in line for line in printed)
    finally:
        tmp_path.chmod(0o700)


def test_a_log_file_that_cannot_be_opened_leaves_the_run_going(tmp_path: Path) -> None:
    (tmp_path / "batch-thumbnailer.log").mkdir()  # in the way, for root too
    printed: list[str] = []
    assert logs.configure("thumbnailer", 1, console=printed.append, directory=tmp_path) is None
    assert any("no log file: cannot write" in line for line in printed)
    logging.getLogger("core").info("the run goes on")
    assert "INFO core: the run goes on" in printed


def test_a_spawned_engine_process_writes_to_the_windows_log(tmp_path: Path) -> None:
    logs.configure("batch-thumbnailer", 1, console=None, directory=tmp_path)
    child = (
        "import logging; from core import logs; logs.configure_child('engine'); "
        "logging.getLogger('core.download').debug('retry 1 of 3')"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "batch-thumbnailer.log").read_text(encoding="utf-8")
    assert f"batch-thumbnailer-engine[{os.getpid()}]" not in text
    assert "batch-thumbnailer-engine[" in text and "DEBUG MainThread core.download: retry 1 of 3" in text
    assert "DEBUG core.download: retry 1 of 3" in done.stderr  # -v: on the window's terminal too


def test_without_a_parent_set_up_a_child_installs_nothing() -> None:
    assert logs.configure_child("engine") is None
