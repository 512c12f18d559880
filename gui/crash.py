"""Uncaught exceptions end in a dialog with a copyable report and a log file, not a vanished window.

The report goes to a crash log of its own (one a day, the file the dialog names) in the app's log folder, and
into the app's log file there, next to what led up to it.

The hook may run on any thread (PySide reports exceptions from slots and runnables through
`sys.excepthook`); it writes the log right away and hands the report to the GUI thread by a queued signal.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import traceback
from datetime import datetime
from pathlib import Path
from types import TracebackType

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Qt, QUrl, Signal, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import logs
from gui.about import app_version

log = logging.getLogger(__name__)


def default_log_dir() -> Path:
    """The folder of the log file the command and the window write (core/logs.py)."""
    return logs.log_dir()


def format_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> str:
    """What a bug report needs: versions, platform, time and the traceback."""
    lines = [
        f"Batch Thumbnailer {app_version()}",
        f"Python {platform.python_version()}, PySide6 {pyside_version}, Qt {qVersion()}",
        f"{platform.platform()}",
        f"Time: {datetime.now().isoformat(timespec='seconds')}",
        f"Thread: {threading.current_thread().name}",
        "",
        *traceback.format_exception(exc_type, exc, tb),
    ]
    return "\n".join(line.rstrip("\n") for line in lines) + "\n"


class CrashDialog(QDialog):
    """Shows one or more reports; later crashes are appended instead of stacking dialogs."""

    def __init__(self, report: str, log_path: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch Thumbnailer hit a bug")
        self.resize(720, 460)
        where = f" The details were saved to {log_path}." if log_path else ""
        self.message = message = QLabel(
            "Something went wrong inside the app. It keeps running, but what you just did may not have "
            f"worked.{where} Please copy the report below into a bug report."
        )
        message.setWordWrap(True)
        message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_edit = QPlainTextEdit(report)
        self.report_edit.setReadOnly(True)
        self.report_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_path = log_path

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("&Copy report")
        copy.clicked.connect(self.copy_report)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        if log_path:
            open_logs = QPushButton("Open &log folder")
            open_logs.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_path.parent))))
            buttons.addButton(open_logs, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addWidget(self.report_edit, 1)
        layout.addWidget(buttons)

    def append(self, report: str) -> None:
        self.report_edit.appendPlainText("\n" + report)

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.report_edit.toPlainText())


class CrashHandler(QObject):
    """Install with `install()`; keep the object alive as long as the app runs."""

    _reported = Signal(str, str)

    def __init__(self, log_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_dir = log_dir or default_log_dir()
        self.dialog: CrashDialog | None = None
        self._lock = threading.Lock()
        self._previous = (sys.excepthook, threading.excepthook)
        self._reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> CrashHandler:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread
        return self

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        report = format_report(exc_type, exc, tb)
        log.error("%s", report.rstrip("\n"))  # to the log file and the terminal (as Python would print it)
        path = self._write_log(report)
        self._reported.emit(report, str(path) if path else "")

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def _write_log(self, report: str) -> Path | None:
        """Append to today's crash log; a log that cannot be written must not hide the dialog."""
        with self._lock:
            try:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                path = self.log_dir / f"crash-{datetime.now():%Y-%m-%d}.log"
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(report + "\n")
                return path
            except OSError:
                return None

    def _show(self, report: str, log_path: str) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.append(report)
            return
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = CrashDialog(report, Path(log_path) if log_path else None, QApplication.activeWindow())
        self.dialog.show()
