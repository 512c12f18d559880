"""What the user drops or pastes (QMimeData) becomes queue entries, read off the GUI thread.

The mime data is copied to plain strings at once (a drop's QMimeData dies with the event, and Qt objects
must stay on their thread); parsing happens in `SourceLoader`'s worker, because even a short text can name
a folder of 100,000 photos or a million-line list, and the GUI thread must never wait on the disk.

The worker hands over one batch at a time and waits until the GUI has inserted and painted it (`_Handoff`):
reading is faster than inserting, so without that wait hundreds of batches queued up and one event-loop pass
delivered them all, freezing the window for seconds. Batches are sized so one insert takes ~INSERT_SECONDS.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QMimeData, QObject, QRunnable, QThreadPool, QTimer, QUrl, Signal

from core.models import Entry
from core.priority import lower_current_thread
from core.sources import entries_from_html, entries_from_text, entries_from_uri_list, iter_entries

URI_LIST = "text/uri-list"
BATCH_SIZE = 2000  # the first batch; later ones are sized from the time the GUI took per entry
MIN_BATCH, MAX_BATCH = 100, 50_000
# GUI-thread CPU per insert. The fixed cost of an insert is small (0.3 ms for 100 rows into a million, then
# ~5 ms of layout and paint). Measured on a million-URL list, 2 busy cores: 30 ms inserts made loop turns of
# 50-70 ms once a dict resize or a garbage collection fell on top (both gone now); 20 ms: turns of 25-35 ms,
# load 7.0-7.5 s; 12 ms: p99 gap 5 ms lower, but 8-9.3 s to load.
INSERT_SECONDS = 0.02
BATCH_SECONDS = 0.1  # hand over what was read by then, so a slow source still shows rows
WAIT_SECONDS = 0.05  # how often a waiting worker looks whether it was cancelled
# Entries read between explicit GIL hand-overs. Measured: a worker parsing nonstop kept the GUI thread's
# 10 ms timer from running for 100-300 ms at a time (a shorter switch interval did not help);
# `time.sleep(0)` every few hundred entries brought the longest gap to ~13 ms for ~8% more reading time.
YIELD_EVERY = 256
SETTLE_MS = 5  # after an insert, the view's layout and paint run before the worker reads on


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
    batch = Signal(object)
    done = Signal(int)


class _Handoff:
    """Backpressure between a worker and the GUI thread: one batch in flight, sized to insert quickly.

    The worker reads the next batch only once the GUI has inserted (and painted) the last one: while both
    run Python at once, every call Qt makes into the model waits for the GIL, and a 10 ms insert took 100 ms.
    """

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.size = BATCH_SIZE
        self._free = threading.Semaphore(0)

    def wait_turn(self) -> bool:
        """Block the worker until the GUI took the batch it just handed over; False once cancelled."""
        while not self._free.acquire(timeout=WAIT_SECONDS):
            if self.cancelled.is_set():
                return False
        return not self.cancelled.is_set()

    def taken(self, count: int, seconds: float) -> None:
        """The GUI inserted `count` entries in `seconds`: let the worker go on, with a batch size to match."""
        if count >= self.size // 2 and seconds > 0:  # a short, time-flushed batch says little about the rate
            wanted = int(self.size * INSERT_SECONDS / seconds)
            self.size = max(MIN_BATCH, min(MAX_BATCH, wanted, 2 * self.size))
        self._free.release()

    def cancel(self) -> None:
        self.cancelled.set()
        self._free.release()  # wake a waiting worker now


class _LoadJob(QRunnable):
    """Reads sources on a pool thread, in batches of entries; stops between entries when cancelled."""

    def __init__(self, make: Callable[[], Iterable[Entry]], handoff: _Handoff) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.make = make
        self.handoff = handoff
        self.signals = _LoadSignals()

    def run(self) -> None:
        lower_current_thread()  # parsing must not take a core the GUI thread is waiting for
        count = 0
        chunk: list[Entry] = []
        last = time.monotonic()
        handoff = self.handoff
        try:
            for entry in self.make():
                if handoff.cancelled.is_set():
                    break
                chunk.append(entry)
                count += 1
                if not count % YIELD_EVERY:
                    time.sleep(0)  # let the GUI thread take the GIL (see YIELD_EVERY)
                if len(chunk) >= handoff.size or time.monotonic() - last >= BATCH_SECONDS:
                    self.signals.batch.emit(chunk)
                    chunk = []
                    if not handoff.wait_turn():
                        break
                    last = time.monotonic()
            if chunk and not handoff.cancelled.is_set():
                self.signals.batch.emit(chunk)
        finally:
            self.signals.done.emit(count)


def _abandon(jobs: dict[_LoadSignals, _Handoff], _destroyed: object = None) -> None:
    """The loader is going away: wake its waiting workers and let the collector see everything again."""
    for handoff in jobs.values():
        handoff.cancel()
    if jobs:
        gc.unfreeze()  # _on_done, which would have, never comes


class SourceLoader(QObject):
    """Reads sources off the GUI thread, one job after another. Connect `entries_ready` to the queue model."""

    entries_ready = Signal(list)  # list[Entry], in input order, a batch at a time
    busy_changed = Signal(bool)
    finished = Signal(int)  # entries read by the job that just ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one job at a time keeps drops in the order they were made
        self._jobs: dict[_LoadSignals, _Handoff] = {}
        # A worker waits for the GUI to take each batch: if this loader goes away first (no cancel, no event
        # loop), wake it, or deleting the pool would wait for it forever.
        self.destroyed.connect(partial(_abandon, self._jobs))

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
        handoff = _Handoff()
        job = _LoadJob(make, handoff)
        signals = job.signals
        signals.batch.connect(self._on_batch)
        signals.done.connect(self._on_done)
        was_busy = self.is_busy
        self._jobs[signals] = handoff
        self._pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)

    def cancel(self) -> None:
        """Stop every job, queued or running; entries already handed over stay queued."""
        for handoff in self._jobs.values():
            handoff.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        return self._pool.waitForDone(timeout_ms)

    def _on_batch(self, entries: list[Entry]) -> None:
        handoff = self._jobs.get(self.sender())  # type: ignore[call-overload]
        if handoff is None:
            return
        start = time.thread_time()  # CPU: waits for the GIL or a core say nothing about the batch size
        if not handoff.cancelled.is_set():
            self.entries_ready.emit(entries)  # the queue inserts them now, in this call
        seconds = time.thread_time() - start
        # What is queued is long-lived: full collections, run by whichever thread allocates (the reader's too,
        # holding the GIL), would walk the queue's columns again and again, 20-30 ms each at a million rows.
        gc.freeze()
        # Only after the view has laid out and painted the new rows, or the worker's reading competes
        # with those many short calls into the model for the GIL.
        QTimer.singleShot(SETTLE_MS, self, lambda: handoff.taken(len(entries), seconds))

    def _on_done(self, count: int) -> None:
        signals = self.sender()
        if isinstance(signals, _LoadSignals):
            self._jobs.pop(signals, None)
            signals.deleteLater()  # on the GUI thread, where it lives, whoever drops the last reference
        self.finished.emit(count)
        if not self._jobs:
            gc.unfreeze()  # collected as usual again (see _on_batch)
            self.busy_changed.emit(False)
