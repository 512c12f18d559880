"""`thumbnailer`: the headless command. Same settings and runner as the window.

Exit codes: 0 all done, 1 some items failed or were invalid (or the batch stopped on an error),
2 usage error, 130 interrupted, 143 terminated (journal saved; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import core
from core import logs
from core.models import Entry, Progress, Status, Summary
from core.settings import Group, Settings, SettingsError, add_flags, settings_from_flags

if TYPE_CHECKING:
    from core.batch.remake import RemakePlan
    from core.batch.runner import Runner

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130  # usage errors: argparse exits with 2
EXIT_TERMINATED = 143  # SIGTERM (timeout, systemd, a logout): cancelled like Ctrl+C, by the shell's convention

log = logging.getLogger("core.cli")  # not __name__: `python -m core.cli` would log as __main__


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked for: finding the installed version costs every launch ~25 ms."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {core.__version__}")  # to stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="thumbnailer",
        description="Turn image URLs, URL lists (.txt, .csv, .html), local images and folders into thumbnails.",
        epilog="Exit codes: 0 all done, 1 some items failed or were invalid, 2 usage error, "
        "130 interrupted by Ctrl+C, 143 by SIGTERM (run the same command again to resume). "
        f"Log file: {logs.shown(logs.log_path())} (each run and its summary; with -v each item's details).",
    )
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a URL (http, https, file), a URL list (.txt, .csv, .html), an image, a folder, or - for stdin",
    )
    p.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    groups = {group: p.add_argument_group(str(group)) for group in Group}
    run = groups[Group.BATCH]
    for group, container in groups.items():
        if group is Group.BATCH:
            mode = container.add_mutually_exclusive_group()
            mode.add_argument("--force", action="store_true", help="redo items already done in this output folder")
            mode.add_argument(
                "--retry-failed", action="store_true", help="also redo items that failed in an earlier run"
            )
            mode.add_argument(
                "--resume", action="store_true", help="continue the interrupted batch in the output folder (no SOURCE)"
            )
        add_flags(container, group)  # every Settings field, as core.settings declares it
    run.add_argument("--report", type=Path, metavar="FILE", help="write a report of every item (.json or .csv)")
    run.add_argument("--quiet", action="store_true", help="no progress line and no summary (errors still print)")
    logs.add_verbose_flag(run)
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validated Settings from the parsed flags; raises SettingsError (main turns it into a usage error)."""
    return settings_from_flags(args)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_line(p: Progress, width: int | None = None) -> str:
    """The live line; within `width` characters it drops MB/s first, then the ETA, then cuts the end."""
    head = f"{p.finished}/{p.total} done, {p.failed} failed, {p.images_per_second:.1f} img/s"
    rate = f", {p.bytes_per_second / 1e6:.1f} MB/s"
    eta = f", ETA {_duration(p.eta_seconds)}"
    paused = " (paused)" if p.paused else ""
    for line in (head + rate + eta + paused, head + eta + paused, head + paused):
        if width is None or len(line) <= width:
            return line
    return line[:width]


def _columns(stream: TextIO) -> int:
    """The terminal's width now, read for every line (a resize needs no SIGWINCH handler): $COLUMNS, else the
    stream's own terminal (stdout may be redirected while stderr shows the line), else shutil's guess."""
    if "COLUMNS" not in os.environ:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
            if columns > 0:
                return columns
        except (AttributeError, ValueError, OSError):  # not a real file, or not a terminal
            pass
    return shutil.get_terminal_size().columns


class _Console:
    """Prints per-item errors, log lines (-v) and one live progress line (only on a terminal) that never wraps.

    Log lines come from the download threads while progress comes from the event loop: one lock orders them.
    """

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.live = stream.isatty() and not quiet
        self.quiet = quiet
        self.width = 0
        self._lock = threading.RLock()

    def progress(self, p: Progress) -> None:
        for u in p.updates:
            if u.status in (Status.FAILED, Status.INVALID) and u.error:
                where = f" ({u.file}:{u.line})" if u.file and u.line else ""
                self.message(f"{u.status}: {u.source}{where}: {u.error}")
        if self.live:
            room = max(_columns(self.stream) - 1, 1)  # the last column would wrap on some terminals
            line = progress_line(p, room)
            with self._lock:
                self.stream.write("\r" + line.ljust(min(self.width, room)))
                self.width = len(line)
                self.stream.flush()

    def message(self, text: str) -> None:
        """One whole line above the live progress line, which the next progress redraws."""
        with self._lock:
            if self.width:
                self.stream.write("\r" + " " * self.width + "\r")
                self.width = 0
            self.stream.write(text + "\n")
            self.stream.flush()

    def plan(self, plan: RemakePlan) -> None:
        """Before the first download: how many done items are made again, and why (nothing when none are)."""
        line = plan.line()
        if line and not self.quiet:
            self.message(line)
        if line:
            log.info("%s", line)

    def summary(self, s: Summary) -> None:
        if s.fatal:
            self.message(f"error: {s.fatal}")
            if s.run_id:  # the journal holds what is left to do
                self.message("nothing is lost: fix that, then run the same command again to finish the batch")
        if s.cancelled:
            self.message("interrupted: the journal is saved; run the same command again to finish the batch")
        left = f", {s.not_reached} not reached" if s.not_reached else ""  # a stopped batch's items left to do
        if not self.quiet:
            self.message(
                f"{s.done_words}, {s.skipped} skipped, {s.failed} failed, {s.invalid} invalid{left} "
                f"of {s.total} in {_duration(s.seconds)}"
            )
        log.info(
            "batch ended: %s, %d skipped, %d failed, %d invalid%s of %d in %s%s%s",
            s.done_words,
            s.skipped,
            s.failed,
            s.invalid,
            left,
            s.total,
            _duration(s.seconds),
            ", interrupted" if s.cancelled else "",
            f", error: {s.fatal}" if s.fatal else "",
        )


def run_batch(
    settings: Settings, entries: Iterable[Entry] | None, mode: str, console: _Console
) -> tuple[Summary, int, int | None]:
    """Run one batch with a Qt core event loop; Ctrl+C and SIGTERM cancel it cleanly. Returns the summary, the run
    id and the signal that cancelled it (None when none did)."""
    pool = None
    if not settings.cluster:  # first: its processes start while Qt, requests and the runner are imported
        from core.batch.backends.resize_pool import start_pool

        pool = start_pool(settings)
    from core.batch.runner import Runner

    runner = Runner(settings, entries, mode=mode, pool=pool)  # the runner owns the pool from here
    try:
        return _run_with_qt(runner, console)
    finally:
        runner.close()  # a runner that never started must still stop the resizers; after a batch, nothing to do


def _run_with_qt(runner: Runner, console: _Console) -> tuple[Summary, int, int | None]:
    from PySide6.QtCore import QCoreApplication, QTimer

    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    result: list[Summary] = []
    received: list[int] = []

    def on_finished(summary: Summary) -> None:
        result.append(summary)
        app.quit()

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        runner.cancel()

    runner.planned.connect(console.plan)
    runner.progress.connect(console.progress)
    runner.finished.connect(on_finished)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    wake = QTimer()  # lets Python run its signal handler while Qt's loop waits
    wake.timeout.connect(lambda: None)
    wake.start(200)
    try:
        runner.start()
        while not result:
            app.exec()
        runner.wait()
    finally:
        wake.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return result[0], runner.run_id, received[0] if received else None


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        parser.error(str(exc))
    if args.resume and args.sources:
        parser.error("--resume continues the batch in --out; give no SOURCE with it")
    if not args.resume and not args.sources:
        parser.error("no SOURCE given (a URL, a list file, an image, a folder, or - for stdin)")
    if args.report and args.report.suffix.lower() not in (".json", ".csv"):
        parser.error(f"--report must end in .json or .csv: {args.report}")

    from core.sources import iter_entries

    entries = None if args.resume else iter_entries(args.sources, stdin=sys.stdin)
    mode = "force" if args.force else "retry_failed" if args.retry_failed else "normal"
    console = _Console(sys.stderr, args.quiet)
    logs.configure("thumbnailer", args.verbose, console=console.message)
    log.debug("settings: %s", settings)
    summary, run_id, stopped_by = run_batch(settings, entries, mode, console)
    console.summary(summary)
    if args.report and run_id:
        from core.batch.report import write_report

        try:
            write_report(settings.out, run_id, args.report)
        except OSError as exc:
            print(f"error: cannot write the report {args.report}: {exc.strerror}", file=sys.stderr)
            return EXIT_FAILED
    if summary.cancelled:
        return EXIT_TERMINATED if stopped_by == signal.SIGTERM else EXIT_INTERRUPTED
    if summary.fatal or summary.failed or summary.invalid:
        return EXIT_FAILED
    if summary.total == 0 and not args.quiet:
        print("nothing to do: the sources held no items", file=sys.stderr)
    return EXIT_OK


def run() -> NoReturn:
    """The `thumbnailer` command: `main`, then an immediate exit. By then the journal, the report and the
    output are written and closed; tearing down Qt and Python's modules would take ~50 ms more of every batch."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
