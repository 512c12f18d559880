"""`thumbnailer`: the headless command. Same settings and runner as the window.

Exit codes: 0 all done, 1 some items failed or were invalid (or the batch stopped on an error),
2 usage error, 130 interrupted, 143 terminated (journal saved; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import core
from core.models import Entry, Progress, Status, Summary
from core.settings import FITS, FORMATS, Settings, SettingsError, parse_bytes, parse_pixels

if TYPE_CHECKING:
    from core.batch.runner import Runner

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130  # usage errors: argparse exits with 2
EXIT_TERMINATED = 143  # SIGTERM (timeout, systemd, a logout): cancelled like Ctrl+C, by the shell's convention


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked for: finding the installed version costs every launch ~25 ms."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        print(f"{parser.prog} {core.__version__}")  # to stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    d = Settings()
    p = argparse.ArgumentParser(
        prog="thumbnailer",
        description="Turn image URLs, URL lists (.txt, .csv, .html), local images and folders into thumbnails.",
        epilog="Exit codes: 0 all done, 1 some items failed or were invalid, 2 usage error, "
        "130 interrupted (run the same command again to resume).",
    )
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a URL (http, https, file), a URL list (.txt, .csv, .html), an image, a folder, or - for stdin",
    )
    p.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--out", type=Path, default=d.out, help="output folder (default: %(default)s)")
    out.add_argument(
        "-s",
        "--size",
        type=int,
        action="append",
        metavar="PX",
        help=f"bounding box in pixels; repeat for several sizes (default: {d.size[0]})",
    )
    out.add_argument("--fit", choices=FITS, default=d.fit, help="contain, cover (crop) or pad (default: %(default)s)")
    out.add_argument("--upscale", action="store_true", help="enlarge images smaller than the box (default: never)")
    out.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default=d.format,
        help="output format; auto = PNG where the image has transparency, else JPEG (default: %(default)s)",
    )
    out.add_argument(
        "-q", "--quality", type=int, default=d.quality, help="JPEG/WebP/AVIF quality (default: %(default)s)"
    )
    out.add_argument(
        "--background",
        default=d.background,
        help="colour transparency is flattened onto for JPEG, and --fit pad's fill (default: %(default)s)",
    )
    meta = out.add_mutually_exclusive_group()
    meta.add_argument(
        "--strip", dest="keep_metadata", action="store_false", default=d.keep_metadata, help="strip metadata (default)"
    )
    meta.add_argument(
        "--keep-metadata", dest="keep_metadata", action="store_true", help="keep EXIF and the colour profile"
    )
    lim = p.add_argument_group("limits")
    lim.add_argument("--threads", type=int, default=d.threads, help="download threads (default: %(default)s)")
    lim.add_argument(
        "--per-host", type=int, default=d.per_host, help="downloads per host at once (default: %(default)s)"
    )
    lim.add_argument(
        "--timeout", type=float, default=d.timeout, help="seconds for one whole download (default: %(default)s)"
    )
    lim.add_argument(
        "--retries",
        type=int,
        default=d.retries,
        help="retries on connection errors, 429 and 5xx, with backoff (default: %(default)s)",
    )
    lim.add_argument(
        "--max-bytes",
        type=_checked(parse_bytes),
        default=d.max_bytes,
        metavar="SIZE",
        help="largest download, with K/M/G suffixes (default: 50M)",
    )
    lim.add_argument(
        "--max-pixels",
        type=_checked(parse_pixels),
        default=d.max_pixels,
        metavar="N",
        help="largest image in pixels, checked before decoding, e.g. 100M or 10000x10000 (default: 100M)",
    )
    lim.add_argument("--processes", type=int, default=d.processes, help="resizer processes (default: number of cores)")
    lim.add_argument("--user-agent", default=d.user_agent, help="User-Agent header (default: %(default)s)")
    run = p.add_argument_group("batch")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="redo items already done in this output folder")
    mode.add_argument("--retry-failed", action="store_true", help="also redo items that failed in an earlier run")
    mode.add_argument(
        "--resume", action="store_true", help="continue the interrupted batch in the output folder (no SOURCE)"
    )
    run.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=d.cluster,
        help="run the downloads and resizes on a Dask cluster, e.g. tcp://scheduler:8786 (needs the cluster extra)",
    )
    run.add_argument("--report", type=Path, metavar="FILE", help="write a report of every item (.json or .csv)")
    run.add_argument("--quiet", action="store_true", help="no progress line and no summary (errors still print)")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        out=args.out,
        size=tuple(args.size) if args.size else Settings().size,
        fit=args.fit,
        upscale=args.upscale,
        format=args.format,
        quality=args.quality,
        background=args.background,
        keep_metadata=args.keep_metadata,
        threads=args.threads,
        per_host=args.per_host,
        timeout=args.timeout,
        retries=args.retries,
        max_bytes=args.max_bytes,
        max_pixels=args.max_pixels,
        processes=args.processes,
        user_agent=args.user_agent,
        cluster=args.cluster,
    ).validated()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_line(p: Progress) -> str:
    return (
        f"{p.finished}/{p.total} done, {p.failed} failed, {p.images_per_second:.1f} img/s, "
        f"{p.bytes_per_second / 1e6:.1f} MB/s, ETA {_duration(p.eta_seconds)}" + (" (paused)" if p.paused else "")
    )


class _Console:
    """Prints per-item errors and one live progress line (only on a terminal)."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.live = stream.isatty() and not quiet
        self.quiet = quiet
        self.width = 0

    def progress(self, p: Progress) -> None:
        for u in p.updates:
            if u.status in (Status.FAILED, Status.INVALID) and u.error:
                where = f" ({u.file}:{u.line})" if u.file and u.line else ""
                self._print(f"{u.status}: {u.source}{where}: {u.error}")
        if self.live:
            line = progress_line(p)
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
            self.stream.flush()

    def _print(self, text: str) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def summary(self, s: Summary) -> None:
        if s.fatal:
            self._print(f"error: {s.fatal}")
            if s.run_id:  # the journal holds what is left to do
                self._print("nothing is lost: fix that, then run the same command again to finish the batch")
        if s.cancelled:
            self._print("interrupted: the journal is saved; run the same command again to finish the batch")
        if not self.quiet:
            self._print(
                f"{s.done} done, {s.skipped} skipped, {s.failed} failed, {s.invalid} invalid "
                f"of {s.total} in {_duration(s.seconds)}"
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
