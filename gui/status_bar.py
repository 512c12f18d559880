"""The status bar of a batch: progress, done/total, failures, speed and time left."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from core.models import Progress, Summary
from core.settings import format_bytes
from gui.theme import error_color


def format_duration(seconds: float) -> str:
    """42 -> '0:42', 3725 -> '1:02:05'."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StatusBar(QStatusBar):
    """Shows a batch's latest Progress; plain messages (hints, errors) use the left side as usual."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts_label = QLabel()
        self.failed_label = QLabel()
        self.link_label = file_link_label()
        self.addWidget(self.link_label, 1)
        self.messageChanged.connect(self._on_message)
        self.speed_label = QLabel()
        self.eta_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        for widget in (self.counts_label, self.failed_label, self.speed_label, self.eta_label):
            self.addPermanentWidget(widget)
        self.addPermanentWidget(self.progress_bar)
        self._colour_failed()
        self.reset()

    def reset(self) -> None:
        """Idle: no batch shown."""
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.hide()
        for label in (self.counts_label, self.failed_label, self.speed_label, self.eta_label):
            label.clear()
            label.hide()

    def show_file_link(self, text: str, path: Path) -> None:
        """A line that names a file as a link which opens it ("Report written: ... in <report.json>")."""
        self.clearMessage()
        self.link_label.setText(f"{escape(text)} {link_to(path)}")
        self.link_label.show()

    def _on_message(self, message: str) -> None:
        if message:  # a newer message: the link is about something past
            self.link_label.hide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            QTimer.singleShot(0, self, self._colour_failed)  # once the change is complete

    def _colour_failed(self) -> None:
        palette = self.failed_label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, error_color(self))
        self.failed_label.setPalette(palette)

    def show_preparing(self) -> None:
        """Sources are being read into the journal: the total is not known yet."""
        self.reset()
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.showMessage("Preparing the batch…")

    def show_progress(self, progress: Progress) -> None:
        self._set_bar(progress.finished, progress.total)
        self.counts_label.setText(f"{progress.finished:,} / {progress.total:,}")
        self.failed_label.setText(f"{progress.failed:,} failed")
        self.failed_label.setVisible(progress.failed > 0)
        self.speed_label.setText(
            f"{progress.images_per_second:.1f} img/s · {format_bytes(progress.bytes_per_second)}/s"
        )
        if progress.paused:
            self.eta_label.setText("Paused")
        elif progress.eta_seconds is not None:
            self.eta_label.setText(f"{format_duration(progress.eta_seconds)} left")
        else:
            self.eta_label.setText("")
        for label in (self.counts_label, self.speed_label, self.eta_label):
            label.setVisible(bool(label.text()))
        self.clearMessage()

    def _set_bar(self, finished: int, total: int) -> None:
        """Move the bar with an ordinary, coalesced update.

        QProgressBar.setValue calls repaint(), which paints every dirty part of the window at once, inside
        this Python call: 20 ms of GUI-thread CPU per snapshot during a batch, 100+ ms with the GIL contended.
        """
        bar = self.progress_bar
        bar.setUpdatesEnabled(False)
        bar.setRange(0, max(total, 1))
        bar.setValue(min(finished, max(total, 1)))
        bar.setFormat(f"{percent(finished, total)}%")
        bar.setUpdatesEnabled(True)  # schedules one update()
        bar.show()

    def show_summary(self, summary: Summary) -> None:
        self.reset()
        self.showMessage(describe(summary))


def link_to(path: Path) -> str:
    """Rich text: the path as a link to the file (its full path shown)."""
    return f"<a href='{escape(QUrl.fromLocalFile(str(path)).toString(), quote=True)}'>{escape(str(path))}</a>"


def file_link_label() -> QLabel:
    """A label whose file links open with the desktop's application for them, by mouse or keyboard."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
    label.hide()
    return label


def percent(finished: int, total: int) -> int:
    """Whole percent, never 100 before the last item is finished."""
    return finished * 100 // total if total > 0 else 0


def why_stopped(fatal: str) -> str:
    """The engine's reason without its own "the batch stopped:" lead, which the window's sentences already say."""
    lead = "the batch stopped: "
    return fatal[len(lead) :] if fatal.startswith(lead) else fatal


def describe(summary: Summary) -> str:
    """One line for the status bar: what happened to the batch."""
    if summary.fatal:
        head = f"Batch stopped: {why_stopped(summary.fatal)}"
    elif summary.cancelled:
        head = "Batch cancelled"
    else:
        head = "Batch finished"
    warned = f" ({summary.warned:,} with warning{'' if summary.warned == 1 else 's'})" if summary.warned else ""
    parts = [f"{summary.done:,} done{warned}"]
    for count, word in (
        (summary.failed, "failed"),
        (summary.skipped, "skipped"),
        (summary.invalid, "invalid"),
        (summary.not_reached, "not reached"),
    ):
        if count:
            parts.append(f"{count:,} {word}")
    return f"{head} in {format_duration(summary.seconds)}: {', '.join(parts)}."
