"""What the user drops or pastes (QMimeData) becomes queue entries, read off the GUI thread.

The mime data is copied to plain strings at once (a drop's QMimeData dies with the event, and Qt objects
must stay on their thread); parsing happens in `SourceLoader`'s worker, because even a short text can name
a folder of 100,000 photos or a million-line list, and the GUI thread must never wait on the disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from PySide6.QtCore import QMimeData, QObject, QRunnable, QThreadPool, QUrl, Signal

from core.models import Entry
from core.sources import entries_from_html, entries_from_text, entries_from_uri_list, iter_entries

URI_LIST = "text/uri-list"
BATCH_SIZE = 2000
BATCH_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Dropped:
    """The usable formats of one drop or paste, as plain strings.

    `paths` are the local files and folders; `uri_list` holds the other lines of a text/uri-list (kept
    even when unusable, so they show in the queue as invalid).
    """

    paths: tuple[str, ...] = ()
    uri_list: str = ""
    html: str = ""
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.paths or self.uri_list.strip() or self.html.strip() or self.text.strip())

    def entries(self) -> Iterator[Entry]:
        """Parse the best format (slow: runs on a worker thread).

        Local files win (a file manager also offers their paths as text). A browser offers an image both
        as a URL and as an `<img>` fragment; the fragment names the image itself even when it sits inside
        a link (whose URL is a page), so images found in HTML win over the URL list, which wins over text.
        """
        if self.paths:
            yield from iter_entries(self.paths)  # as if named on the command line
            yield from entries_from_uri_list(self.uri_list)
            return
        if self.html.strip():
            found = list(entries_from_html(self.html))
            if any(e.url for e in found):
                yield from found
                return
        if self.uri_list.strip():
            yield from entries_from_uri_list(self.uri_list)
        elif self.text.strip():
            yield from entries_from_text(self.text)


def can_accept(mime: QMimeData) -> bool:
    """Whether a drag carries anything we could read (files, links, HTML or text)."""
    return mime.hasUrls() or mime.hasHtml() or mime.hasText()


def read_mime(mime: QMimeData) -> Dropped:
    """Copy what a drop or the clipboard offers (fast: GUI thread)."""
    urls = mime.urls()
    paths = tuple(u.toLocalFile() for u in urls if u.isLocalFile())
    if mime.hasFormat(URI_LIST):
        text = bytes(mime.data(URI_LIST).data()).decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if not QUrl(line.strip()).isLocalFile()]
    else:
        lines = [u.toString() for u in urls if not u.isLocalFile()]
    return Dropped(
        paths=paths,
        uri_list="\n".join(lines),
        html=mime.html() if mime.hasHtml() else "",
        text=mime.text() if mime.hasText() else "",
    )


class _LoadSignals(QObject):
    batch = Signal(list)
    done = Signal(int)


class _LoadJob(QRunnable):
    """Reads sources on a pool thread, in batches of entries; stops between entries when cancelled."""

    def __init__(self, make: Callable[[], Iterable[Entry]], cancelled: threading.Event) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.make = make
        self.cancelled = cancelled
        self.signals = _LoadSignals()

    def run(self) -> None:
        count = 0
        chunk: list[Entry] = []
        last = time.monotonic()
        try:
            for entry in self.make():
                if self.cancelled.is_set():
                    break
                chunk.append(entry)
                count += 1
                if len(chunk) >= BATCH_SIZE or time.monotonic() - last >= BATCH_SECONDS:
                    self.signals.batch.emit(chunk)
                    chunk, last = [], time.monotonic()
            if chunk and not self.cancelled.is_set():
                self.signals.batch.emit(chunk)
        finally:
            self.signals.done.emit(count)


class SourceLoader(QObject):
    """Reads sources off the GUI thread, one job after another. Connect `entries_ready` to the queue model."""

    entries_ready = Signal(list)  # list[Entry], in input order, a batch at a time
    busy_changed = Signal(bool)
    finished = Signal(int)  # entries read by the job that just ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one job at a time keeps drops in the order they were made
        self._jobs: dict[_LoadSignals, threading.Event] = {}

    @property
    def is_busy(self) -> bool:
        return bool(self._jobs)

    def load_sources(self, sources: list[str]) -> None:
        """Command-line style sources: URLs, list files, images, folders."""
        if sources:
            args = list(sources)
            self._start(lambda: iter_entries(args))

    def load_dropped(self, dropped: Dropped) -> None:
        if dropped:
            self._start(dropped.entries)

    def _start(self, make: Callable[[], Iterable[Entry]]) -> None:
        cancelled = threading.Event()
        job = _LoadJob(make, cancelled)
        signals = job.signals
        signals.batch.connect(self._on_batch)
        signals.done.connect(self._on_done)
        was_busy = self.is_busy
        self._jobs[signals] = cancelled
        self._pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)

    def cancel(self) -> None:
        """Stop every job, queued or running; entries already handed over stay queued."""
        for cancelled in self._jobs.values():
            cancelled.set()

    def wait(self, timeout_ms: int = -1) -> bool:
        return self._pool.waitForDone(timeout_ms)

    def _on_batch(self, entries: list[Entry]) -> None:
        cancelled = self._jobs.get(self.sender())  # type: ignore[call-overload]
        if cancelled is not None and not cancelled.is_set():
            self.entries_ready.emit(entries)

    def _on_done(self, count: int) -> None:
        signals = self.sender()
        if isinstance(signals, _LoadSignals):
            self._jobs.pop(signals, None)
            signals.deleteLater()  # on the GUI thread, where it lives, whoever drops the last reference
        self.finished.emit(count)
        if not self._jobs:
            self.busy_changed.emit(False)
