"""`thumbnailer-gui [SOURCES...] [--out DIR] [--start] [--smoke] [-v] [--version]`: the window people start."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

ORGANISATION = "BatchThumbnailer"
APP_NAME = "Batch Thumbnailer"
SMOKE_MS = 1000
#: How long a thread may keep the GIL while another waits for it (Python's default: 5 ms). Each call Qt makes
#: into Python (a slot, a timer, a model's data() for every painted cell) first waits for the GIL, which the
#: list-reading and thumbnail-loading threads hold often (a batch's engine runs in its own process).
GIL_SWITCH_SECONDS = 0.001


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import core
    from core import logs

    parser = argparse.ArgumentParser(
        prog="thumbnailer-gui",
        description="Open the Batch Thumbnailer window, optionally with sources queued.",
        epilog=f"Log file (crash reports beside it): {logs.shown(logs.log_path())}",
    )
    # The version is read anyway at every launch, for the window's title and About box.
    parser.add_argument("--version", action="version", version=f"%(prog)s {core.__version__}")
    parser.add_argument("sources", nargs="*", metavar="SOURCES", help="URLs, URL lists, images or folders to queue")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (replaces the saved one)")
    parser.add_argument("--start", action="store_true", help="start the batch once the sources are queued")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="show the window for a second and quit; with --start, quit when the batch ends (packaging tests)",
    )
    logs.add_verbose_flag(parser)
    return parser.parse_args(argv)


def make_application() -> QApplication:
    """The QApplication with the app's names, in a process tuned for a responsive window (the benchmarks too)."""
    from PySide6.QtWidgets import QApplication

    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # The window's process only ever makes a QApplication (pytest-qt's is one too).
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APP_NAME)
    return app


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # first: a frozen app's resizer processes re-enter here
    args = parse_args(sys.argv[1:] if argv is None else argv)

    # Imported here, after freeze_support: a frozen app's worker processes start through this function too,
    # and must not pay for loading Qt and the window.
    from PySide6.QtCore import QTimer

    from core import logs
    from gui.about import app_icon, app_version
    from gui.crash import CrashHandler
    from gui.file_open import FileOpenForwarder
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore

    logs.configure("thumbnailer-gui", args.verbose)
    app = make_application()
    app.setApplicationVersion(app_version())
    app.setDesktopFileName("batch-thumbnailer")
    app.setWindowIcon(app_icon())
    crash_handler = CrashHandler(parent=app).install()

    window = MainWindow(SettingsStore())
    file_opener = FileOpenForwarder(window.add_sources, parent=app)
    app.installEventFilter(file_opener)
    if args.out is not None:
        window.settings_panel.set_output_dir(args.out.expanduser().resolve())
    window.show()
    if args.sources:
        window.add_sources(args.sources)
    if args.start:
        window.start_when_loaded()
    elif not args.smoke and not args.sources:
        window.offer_resume()
    if args.smoke and args.start:
        window.batch.finished.connect(lambda _summary: app.quit())
    elif args.smoke:
        QTimer.singleShot(SMOKE_MS, app.quit)
    try:
        return app.exec()
    finally:
        crash_handler.uninstall()


if __name__ == "__main__":
    sys.exit(main())
