"""Reads thumbnails into QImages on a small thread pool of its own, newest request first.

Only the GUI thread calls ImageLoader; worker threads touch nothing but the locked job queue, QImageReader
and QImage, and hand results back through a queued signal. QPixmaps are made by the receiver, on the GUI
thread. Requests beyond `max_pending` drop the oldest: while a user scrolls through ten thousand items only
the cells that were painted last are worth loading, and a cell painted again simply asks again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import partial
from typing import NamedTuple

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QSize, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader, QPainter

from core.priority import lower_current_thread


def read_image(path: str, box: QSize, canvas: bool = False) -> QImage:
    """Decode `path` scaled down to fit `box` (device pixels); a null QImage if it cannot be read.

    The reader decodes at the reduced size where the format allows it (JPEG), so a grid of large files
    stays cheap. With `canvas`, the picture is centred on a transparent box-sized image so every grid cell
    has the same decoration size and captions line up.
    """
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    rotated = bool(reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90)
    fit = box.transposed() if rotated else box
    if size.isValid() and (size.width() > fit.width() or size.height() > fit.height()):
        reader.setScaledSize(size.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio).expandedTo(QSize(1, 1)))
    image = reader.read()
    if image.isNull() or not canvas:
        return image
    out = QImage(box, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    painter = QPainter(out)
    painter.drawImage((box.width() - image.width()) // 2, (box.height() - image.height()) // 2, image)
    painter.end()
    return out


class _Job(NamedTuple):
    generation: int
    token: str
    path: str
    box: QSize
    canvas: bool


class _JobQueue:
    """The state shared with worker threads, behind one lock."""

    def __init__(self, max_threads: int, max_pending: int) -> None:
        self.lock = threading.Lock()
        self.pending: OrderedDict[str, _Job] = OrderedDict()
        self.in_flight: dict[str, int] = {}  # token -> generation
        self.workers = 0
        self.max_threads = max_threads
        self.max_pending = max_pending
        self.generation = 0
        self.closed = False

    def take(self) -> _Job | None:
        """The newest job, or None, in which case the calling worker has already been counted out."""
        with self.lock:
            if self.closed or not self.pending:
                self.workers -= 1
                return None
            token, job = self.pending.popitem(last=True)
            self.in_flight[token] = job.generation
            return job


class _Bridge(QObject):
    done = Signal(int, str, QImage)  # generation, token, image


class _LoadTask(QRunnable):
    """Loads jobs until the queue is empty, so one task per thread serves any number of requests."""

    def __init__(self, queue: _JobQueue, bridge: _Bridge) -> None:
        super().__init__()
        self._queue = queue
        self._bridge = bridge

    def run(self) -> None:
        lower_current_thread()  # decoding for the grid must not take a core the GUI thread is waiting for
        while (job := self._queue.take()) is not None:
            image = read_image(job.path, job.box, job.canvas)
            if not self._queue.closed:
                self._bridge.done.emit(job.generation, job.token, image)


def _stop(queue: _JobQueue, pool: QThreadPool) -> None:
    with queue.lock:
        queue.closed = True
        queue.pending.clear()
    pool.waitForDone()


class ImageLoader(QObject):
    """Loads images by token off the GUI thread; `loaded` delivers each (a null QImage when unreadable)."""

    loaded = Signal(str, QImage)

    def __init__(self, max_threads: int = 2, max_pending: int = 512, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._queue = _JobQueue(max_threads, max_pending)
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        # Whoever deletes us (a parent, Python's GC) may hold the GIL, and QThreadPool's destructor then
        # waits for workers that need it: a deadlock. `destroyed` comes before our children go, so wait
        # here, from Python, where waitForDone releases the GIL. A plain function: `self` is going away.
        self.destroyed.connect(partial(_stop, self._queue, self._pool))

    def request(self, token: str, path: str, box: QSize, canvas: bool = False) -> None:
        """Ask for `path` scaled into `box`; repeated requests for a waiting token just move it forward."""
        q = self._queue
        with q.lock:
            if q.closed or q.in_flight.get(token) == q.generation:
                return
            q.pending[token] = _Job(q.generation, token, path, QSize(box), canvas)
            q.pending.move_to_end(token)
            while len(q.pending) > q.max_pending:
                q.pending.popitem(last=False)
            start = q.workers < q.max_threads
            if start:
                q.workers += 1
        if start:
            self._pool.start(_LoadTask(q, self._bridge))

    def cancel(self) -> None:
        """Forget every waiting request; results of loads already running are dropped when they arrive."""
        q = self._queue
        with q.lock:
            q.pending.clear()
            q.in_flight.clear()
            q.generation += 1

    def shutdown(self) -> None:
        """Stop for good and wait for the worker threads (on quit; done by itself when destroyed)."""
        _stop(self._queue, self._pool)

    def is_idle(self) -> bool:
        with self._queue.lock:
            return not self._queue.pending and self._queue.workers == 0

    @Slot(int, str, QImage)
    def _deliver(self, generation: int, token: str, image: QImage) -> None:
        q = self._queue
        with q.lock:
            if generation != q.generation or q.closed:
                return
            if q.in_flight.get(token) == generation:
                del q.in_flight[token]
        self.loaded.emit(token, image)
