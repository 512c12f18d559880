"""The end-of-batch dialog: what happened, and what to do about the failures."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.models import Summary
from gui.report_export import ReportExport
from gui.settings_store import FolderKind, SettingsStore
from gui.status_bar import file_link_label, format_duration, link_to, why_stopped


def _headline(summary: Summary) -> str:
    if summary.fatal:
        return f"The batch stopped: {why_stopped(summary.fatal)}"
    if summary.cancelled:
        left = summary.not_reached
        if not left:
            return "The batch was cancelled."
        images = f"{left:,} image{'' if left == 1 else 's'}"
        return f"The batch was cancelled: {images} not reached. They can be finished later."
    if summary.ok:
        return "All images are done."
    return "The batch finished, but some items were not made."


class SummaryDialog(QDialog):
    """Counts and time of one batch; 'Retry failed' emits `retry_requested` and closes, 'Finish the rest' (items a
    cancelled or stopped batch did not reach) `finish_requested`. `count_labels`: each count's value, by its title."""

    retry_requested = Signal()
    finish_requested = Signal()

    def __init__(
        self, summary: Summary, failed_sources: list[str], out_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch summary")
        self.summary = summary
        self.failed_sources = list(failed_sources)
        self.out_dir = out_dir
        self.folders: SettingsStore | None = None  # where the report dialog was last left (set by the window)

        self.headline = headline = QLabel(_headline(summary))
        headline.setWordWrap(True)
        font = headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        headline.setFont(font)

        counts = QFormLayout()
        self.count_labels: dict[str, QLabel] = {}
        for label, value in (
            ("Done:", summary.done),
            ("Failed:", summary.failed),
            ("Skipped (already made):", summary.skipped),
            ("Invalid lines:", summary.invalid),
            ("Not reached:", summary.not_reached),
        ):
            self.count_labels[label] = QLabel(f"{value:,}")
            counts.addRow(label, self.count_labels[label])
        counts.setRowVisible(self.count_labels["Not reached:"], summary.not_reached > 0)  # only a stopped batch
        self.warned_label = QLabel(f"{summary.warned:,} (made from a file that decoded in part: see the queue)")
        counts.insertRow(1, "Done with a warning:", self.warned_label)
        counts.setRowVisible(1, summary.warned > 0)  # rare: shown only when there is something to say
        counts.addRow("Time:", QLabel(format_duration(summary.seconds)))
        where = QLabel(f"Thumbnails are in <a href='{QUrl.fromLocalFile(str(out_dir)).toString()}'>{out_dir}</a>")
        where.setTextFormat(Qt.TextFormat.RichText)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        where.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.retry_button = QPushButton("&Retry failed")
        self.finish_button = QPushButton("&Finish the rest")
        self.finish_button.setToolTip("Start again: what is made is skipped, the items not reached are made")
        self.copy_button = QPushButton("&Copy failed URLs")
        self.export_failed_button = QPushButton("Export &failed…")
        self.export_report_button = QPushButton("Export &report…")
        self.retry_button.setToolTip("Try the failed downloads again (change the limits first if they were the cause)")
        for button in (self.finish_button, self.retry_button, self.copy_button, self.export_failed_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        # After addButton, which shows a button again.
        self.finish_button.setVisible(summary.not_reached > 0)
        self.retry_button.setVisible(summary.failed > 0)
        for button in (self.copy_button, self.export_failed_button):
            button.setVisible(bool(self.failed_sources))
        buttons.addButton(self.export_report_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.export_report_button.setEnabled(summary.run_id > 0)
        self.retry_button.clicked.connect(self._retry)
        self.finish_button.clicked.connect(self._finish)
        self.copy_button.clicked.connect(self.copy_failed)
        self.export_failed_button.clicked.connect(self._choose_failed_file)
        self.export_report_button.clicked.connect(self._choose_report_file)

        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addLayout(counts)
        layout.addWidget(where)
        layout.addWidget(buttons)
        self.report_note = file_link_label()
        self.report_note.show()
        layout.addWidget(self.report_note)
        if summary.not_reached:
            self.finish_button.setFocus()
        elif summary.failed:
            self.retry_button.setFocus()
        else:
            buttons.button(QDialogButtonBox.StandardButton.Close).setFocus()

    def copy_failed(self) -> None:
        """Failed sources to the clipboard, one per line (pastable back as a list)."""
        QGuiApplication.clipboard().setText("\n".join(self.failed_sources) + "\n")

    def export_failed(self, dest: Path) -> None:
        """Write the failed sources as a URL list file the app (and the command) can read back."""
        dest.write_text("\n".join(self.failed_sources) + "\n", encoding="utf-8")

    def export_report(self, dest: Path) -> ReportExport:
        """Write this batch's report (JSON or CSV by suffix) in the background; the line under the buttons
        says when it is written."""
        export = ReportExport(self.out_dir, self.summary.run_id, dest, self)
        export.done.connect(self._report_written)
        self.report_note.setText(escape(f"Writing the report to {dest}…"))
        return export.start()

    def _report_written(self, count: int, error: str) -> None:
        if error:
            self.report_note.setText("")
            QMessageBox.warning(self, "Cannot write the report", error)
        else:
            export = self.sender()
            dest = export.dest if isinstance(export, ReportExport) else ""
            self.report_note.setText(f"Report written: {count:,} items in {link_to(Path(dest))}")

    def _retry(self) -> None:
        self.retry_requested.emit()
        self.accept()

    def _finish(self) -> None:
        self.finish_requested.emit()
        self.accept()

    def _choose_failed_file(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Export failed URLs", str(self.out_dir / "failed.txt"), "URL list (*.txt)"
        )
        if not name:
            return
        try:
            self.export_failed(Path(name))
        except OSError as exc:
            QMessageBox.warning(self, "Cannot write the list", f"{exc.strerror or exc}: {name}")

    def _choose_report_file(self) -> None:
        dest = ask_report_file(self, self.out_dir, self.folders)
        if dest is not None:
            self.export_report(dest)


def ask_report_file(parent: QWidget, out_dir: Path, folders: SettingsStore | None = None) -> Path | None:
    """Ask where to save a report (shared by the dialog and the File menu); None when cancelled.

    It opens where the last report went (remembered in `folders`), else in the output folder."""
    start = (folders.last_folder(FolderKind.REPORT) if folders is not None else None) or out_dir
    name, _ = QFileDialog.getSaveFileName(
        parent, "Export report", str(start / "report.json"), "JSON report (*.json);;CSV report (*.csv)"
    )
    if name and folders is not None:
        folders.set_last_folder(FolderKind.REPORT, Path(name).parent)
    return Path(name) if name else None
