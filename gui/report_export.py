"""Writing a report off the GUI thread: a million-item report takes seconds of SQLite reads and writes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal

from core.batch.report import write_report


class ReportExport(QObject):
    """One report export; `done(items, error)` arrives on the GUI thread, `error` empty on success."""

    done = Signal(int, str)

    def __init__(self, out_dir: Path, run_id: int, dest: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.out_dir, self.run_id, self.dest = out_dir, run_id, dest

    def start(self) -> ReportExport:
        QThreadPool.globalInstance().start(self._write)
        return self

    def _write(self) -> None:
        try:
            count = write_report(self.out_dir, self.run_id, self.dest)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.done.emit(0, f"{reason}: {self.dest}")
        else:
            self.done.emit(count, "")
