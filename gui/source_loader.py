"""Fetches and decodes an item's source for the preview's crop boxes, on a thread of its own.

The source is downloaded again (within the batch's limits, by the engine's own Downloader) or read from its file,
and decoded as the resizers decode it (`core.imaging.resize.for_preview`: same formats, orientation and automatic
crop), shrunk for the screen. Only a QImage and plain numbers cross back to the GUI thread.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.priority import lower_current_thread
from core.settings import Settings

#: The longest side of the source as the preview shows it (device pixels).
SHOWN_SIDE = 1200


@dataclass(frozen=True, slots=True)
class LoadedSource:
    """What the preview draws boxes over: the source shrunk (`image`), its full size and cover's automatic shares."""

    image: QImage
    width: int
    height: int
    shares: tuple[float, float]


class SourceLoader(QObject):
    """One load at a time per request token; `loaded(token, LoadedSource | str)` carries the source or, in words,
    why it could not be shown. Newer requests make older results stale (they are dropped)."""

    loaded = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: list[threading.Thread] = []
        self._latest = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()  # downloads in progress stop at once when the window goes

    def request(self, token: str, url: str, settings: Settings) -> None:
        with self._lock:
            self._latest = token
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=self._load, args=(token, url, settings), name="preview-source", daemon=True)
        self._threads.append(thread)
        thread.start()

    def cancel(self) -> None:
        with self._lock:
            self._latest = ""

    def shutdown(self) -> None:
        self.cancel()
        self._closing.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _load(self, token: str, url: str, settings: Settings) -> None:
        lower_current_thread()
        try:
            result: LoadedSource | str = _load(url, settings, self._closing.is_set)
        except Exception as exc:  # a decoder's or a server's surprise must not take the window down
            result = f"cannot show the source: {exc}"
        with self._lock:
            if token != self._latest:
                return
        self.loaded.emit(token, result)


def _load(url: str, settings: Settings, should_abort: Callable[[], bool]) -> LoadedSource | str:
    from core.download.fetch import Aborted, Downloader, FetchError
    from core.imaging.resize import for_preview
    from core.imaging.spec import ResizeError

    downloader = Downloader()
    try:
        with tempfile.TemporaryDirectory(prefix="thumbnailer-preview-") as spool:
            try:
                got = downloader.fetch(url, Path(spool), settings.fetch_limits(), should_abort)
            except (FetchError, Aborted) as exc:
                return f"cannot download the source: {exc}"
            data = got.local_path().read_bytes()
    finally:
        downloader.close()
    try:
        shown = for_preview(data, settings.resize_spec(), SHOWN_SIDE)
    except ResizeError as exc:
        return f"cannot show the source: {exc}"
    rgb = shown.image
    image = QImage(rgb.tobytes(), rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()
    return LoadedSource(image, shown.width, shown.height, shown.shares)
