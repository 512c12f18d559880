"""The log file both programs write, and `-v`'s lines on the terminal.

One rotating file in the platform's log folder (on Linux `~/.local/state/batch-thumbnailer/log`) holds every
run of the command and the window, the window's engine process included: INFO (each run and its summary) by
default, and with `-v` the engine's DEBUG lines too (each item's redirects, retries and timings). `-v` also
prints those lines on the terminal, through a callable that first clears the command's live progress line;
`-vv` adds the libraries' own debug lines (urllib3's connections, Pillow's decoders).
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path

APP_ID = "batch-thumbnailer"
LOG_NAME = f"{APP_ID}.log"
#: A few MB per file and three old ones: weeks of INFO, several long -v batches.
MAX_BYTES = 4 * 2**20
BACKUPS = 3
#: Our own loggers; -v opens their DEBUG lines, -vv everyone's.
OWN_LOGGERS = ("core", "gui")
#: How the window hands its set-up to its engine process (spawned: it inherits the environment, not handlers).
ENV = "BATCH_THUMBNAILER_LOGGING"


class Verbosity(IntEnum):
    """How many `-v` were given."""

    NORMAL = 0
    DEBUG = 1  # our DEBUG lines, in the file and on the terminal
    LIBRARIES = 2  # and the libraries' DEBUG lines


def add_verbose_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`-v/--verbose`, the same for the command and the window."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="print each item's redirects, retries and timings and keep them in the log file; "
        "-vv adds the libraries' debug lines",
    )


def log_dir() -> Path:
    """The platform's log folder for the app (XDG_STATE_HOME on Linux, ~/Library/Logs, %LOCALAPPDATA%)."""
    import platformdirs  # here: the command imports this module on every launch, and only some need it

    return Path(platformdirs.user_log_dir(APP_ID, appauthor=False))


def log_path() -> Path:
    return log_dir() / LOG_NAME


def shown(path: Path) -> str:
    """`path` with the home folder as `~`, for help texts and the man page (the same on every user's machine)."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


class _FileHandler(logging.handlers.RotatingFileHandler):
    """The log file; its own class so a second `configure` finds and replaces it."""


class _ConsoleHandler(logging.Handler):
    """Whole lines to `write`, which owns the terminal (the command's clears its live progress line first)."""

    def __init__(self, write: Callable[[str], None], level: int) -> None:
        super().__init__(level)
        self.write = write
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record))
        except Exception:  # logging's own contract: a handler never raises into the code that logs
            self.handleError(record)


def _stderr_line(text: str) -> None:
    if sys.stderr is not None:  # a windowed app on Windows has none
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def configure(
    program: str,
    verbosity: int = Verbosity.NORMAL,
    *,
    console: Callable[[str], None] | None = _stderr_line,
    directory: Path | None = None,
) -> Path | None:
    """Install the handlers for this run of `program`, replacing any from an earlier call; returns the log
    file, or None when it cannot be written (a read-only home: the run goes on without it, `-v` says why).

    The terminal gets WARNING and above (as Python prints them with no set-up), and from `-v` the DEBUG lines;
    `console=None` prints nothing there.
    """
    level = Verbosity(min(max(verbosity, 0), Verbosity.LIBRARIES))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FileHandler | _ConsoleHandler)]:
        root.removeHandler(old)
        old.close()
    root.setLevel(logging.DEBUG if level >= Verbosity.LIBRARIES else logging.INFO)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level >= Verbosity.DEBUG else logging.INFO)
    if console is not None:
        root.addHandler(_ConsoleHandler(console, logging.DEBUG if level >= Verbosity.DEBUG else logging.WARNING))

    folder = directory or log_dir()
    os.environ[ENV] = json.dumps({"program": program, "verbosity": int(level), "directory": str(folder)})
    path = folder / LOG_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = _FileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).debug("no log file: cannot write %s: %s", path, exc.strerror or exc)
        return None
    handler.setLevel(logging.DEBUG if level >= Verbosity.DEBUG else logging.INFO)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {program}[%(process)d] %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    logging.getLogger(__name__).info("%s started: %s", program, " ".join(sys.argv[1:]) or "(no arguments)")
    return path


def configure_child(role: str) -> Path | None:
    """In a process the window spawned (its engine): the parent's log file and level, lines tagged `role`.
    No parent set-up (a test starting the engine directly): nothing is installed."""
    try:
        parent = json.loads(os.environ[ENV])
        return configure(
            f"{parent['program']}-{role}",
            int(parent["verbosity"]),
            console=_stderr_line,
            directory=Path(parent["directory"]),
        )
    except (KeyError, ValueError, TypeError):
        return None
