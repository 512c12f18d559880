"""Files opened with the app on macOS ("Open with", a drop on the Dock icon) arrive as QFileOpenEvent,
not as command-line arguments; this queues them exactly like arguments."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFileOpenEvent


class FileOpenForwarder(QObject):
    """An application-wide event filter that hands each opened file or URL to `add_sources`."""

    def __init__(self, add_sources: Callable[[list[str]], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._add_sources = add_sources

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            self._add_sources([event.file() or event.url().toString()])
            return True
        return False
