"""A desktop notification when a batch ends while the window is in the background.

A tray message where the desktop has a system tray; otherwise the window asks for attention
(a flashing task-bar entry, a bouncing Dock icon). Nothing is shown when the window is active:
the summary dialog already says it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from core.models import Summary
from gui.about import app_icon
from gui.status_bar import describe


class NoticeKind(StrEnum):
    TRAY = "tray"  # a message from a tray icon
    ALERT = "alert"  # QApplication.alert: the task bar or Dock asks for attention


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    title: str
    text: str


class BatchNotifier(QObject):
    """Tells the desktop when a batch ends unseen; `delivered(Notice)` says what was sent (and lets tests see it).

    `tray_available` is a seam: the desktop decides whether a system tray exists, tests choose it."""

    delivered = Signal(object)  # Notice

    def __init__(
        self, window: QWidget, tray_available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable
    ) -> None:
        super().__init__(window)
        self._window = window
        self._tray_available = tray_available
        self.tray: QSystemTrayIcon | None = None
        window.installEventFilter(self)

    def batch_ended(self, summary: Summary) -> Notice | None:
        """Notify if the window is not the active one; returns what was sent."""
        if self._window.isActiveWindow():
            return None
        title = "Batch stopped" if summary.fatal else "Batch cancelled" if summary.cancelled else "Batch finished"
        notice = Notice(NoticeKind.TRAY if self._tray_available() else NoticeKind.ALERT, title, describe(summary))
        if notice.kind is NoticeKind.TRAY:
            tray = self._tray()
            tray.show()
            tray.showMessage(notice.title, notice.text, app_icon(), 10_000)
        else:
            QApplication.alert(self._window)
        self.delivered.emit(notice)
        return notice

    def _tray(self) -> QSystemTrayIcon:
        if self.tray is None:
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip(self._window.windowTitle())
            self.tray.messageClicked.connect(self._bring_back)
            self.tray.activated.connect(lambda _reason: self._bring_back())
        return self.tray

    def _bring_back(self) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The tray icon is there for the message only: it goes when the user is back in the window."""
        if event.type() == QEvent.Type.WindowActivate and self.tray is not None:
            self.tray.hide()
        return False
