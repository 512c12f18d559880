"""Work on this machine: download threads (a capped `QThreadPool`), resizer processes (`ResizePool`), and
downloads handed to the resizers in shared memory (`SharedSpool`) or, when it is full, in spool files."""

from __future__ import annotations

import threading
import time
from functools import partial

from PySide6.QtCore import QThreadPool

from core.batch.backends.base import (
    Aborted,
    Context,
    Downloaded,
    Event,
    Failed,
    FetchFailed,
    Made,
    PageRead,
    Stop,
    describe_error,
)
from core.batch.backends.dedup import Twin, Twins, copy_thumbnails
from core.batch.backends.resize_pool import ResizePool, start_pool
from core.batch.concurrency import PERIOD, START, ConcurrencyController, Sample, memory_low
from core.batch.journal import PendingItem, item_name
from core.download.fetch import Aborted as DownloadAborted
from core.download.fetch import Downloader, Fetched, FetchError
from core.download.rate import RateLimiter
from core.download.shared_spool import SLOT_BYTES, SharedSpool
from core.imaging.focus import Focus, focus_text
from core.imaging.jobs import FATAL_ERRNOS, JobOutcome, ResizeJob, disk_error
from core.priority import lower_current_thread
from core.settings import Settings

#: Downloads held in shared memory at once (core.download.shared_spool); more go to spool files.
MAX_SHARED_SLOTS = 32


class LocalBackend:
    """Downloads overlap resizing, but at most a few downloaded items wait per resizer (memory, spool disk)."""

    def __init__(self, settings: Settings, *, interactive: bool = False, pool: ResizePool | None = None) -> None:
        """`pool`: resizer processes already starting (the command starts them early); this backend owns
        them from here and shuts them down in `close`. Otherwise `start` starts them."""
        self._settings = settings
        self._interactive = interactive
        self.pool = pool
        self._limits = settings.fetch_limits()
        rate = RateLimiter(settings.max_rate) if settings.max_rate else None  # --max-rate, for all downloads
        self._downloader = Downloader(rate=rate)  # this batch's sessions and watchdog, closed with it
        self._spec = settings.resize_spec()
        self._lock = threading.Lock()
        self._downloading = 0
        self._resizing = 0
        self._threads: QThreadPool | None = None
        self._shared: SharedSpool | None = None
        self._ctx: Context | None = None
        self._twins = Twins(self._finish_twin)
        self._closed = False
        # Downloads in flight adapt between today's 16 and --threads (core.batch.concurrency); a backlog of more
        # than four waiting jobs per resizer, on average over a period, means the resizers do not keep up.
        self.concurrency = ConcurrencyController(START, settings.threads, backlog_limit=4 * settings.processes)
        self._held_back = False
        self._bytes = 0
        self._period = _Period(time.monotonic(), time.process_time())

    @property
    def host_limit(self) -> int:
        return self._settings.per_host

    def start(self, ctx: Context) -> bool:
        s = self._settings
        self._ctx = ctx
        if self.pool is None:
            self.pool = start_pool(s, self._interactive)
        self._threads = QThreadPool()
        self._threads.setMaxThreadCount(s.threads)
        # A slot for every item the capacity lets be in flight, up to a cap.
        slots = min(MAX_SHARED_SLOTS, s.threads + 2 * s.processes)
        self._shared = SharedSpool.open(slots, min(SLOT_BYTES, s.max_bytes))
        return True

    def has_room(self) -> bool:
        limit = self.concurrency.limit
        with self._lock:
            if self._downloading >= limit:
                self._held_back = True
                return False
            return self._downloading + self._resizing < limit + 2 * self._settings.processes

    def submit(self, item: PendingItem) -> None:
        assert self._threads is not None
        with self._lock:
            self._downloading += 1
        read_page = self._settings.pages and not item.from_page  # one level deep
        self._threads.start(partial(self._download, item.key, item.url, item_name(item), read_page, item.focus))

    def cancel_queued(self) -> None:
        if self.pool is not None:
            self.pool.cancel_queued()

    def tick(self) -> None:
        """Measure the resizer backlog; once a period, let the controller set the downloads in flight."""
        now = time.monotonic()
        p = self._period
        with self._lock:
            p.backlog += max(0, self._resizing - self._settings.processes)
            p.ticks += 1
            if now - p.started < PERIOD:
                return
            held_back, self._held_back = self._held_back, False
            nbytes, self._bytes = self._bytes, 0
        cpu = time.process_time()
        sample = Sample(
            seconds=now - p.started,
            bytes=nbytes,
            held_back=held_back,
            backlog=p.backlog / p.ticks,
            cpu=(cpu - p.cpu) / (now - p.started),
            memory_low=memory_low(),
        )
        self.concurrency.update(sample)
        self._period = _Period(now, cpu)

    def close(self) -> None:
        """Wait for the downloads, let running resizes finish, stop the resizers: the pool's one shutdown."""
        if self._closed:
            return
        self._closed = True
        if self._threads is not None:
            self._threads.waitForDone()
            self._threads = None  # destroyed here, on the thread that made it
        self._downloader.close()
        if self.pool is not None:  # also when the batch never began: the command starts its pool early
            self.pool.shutdown()
        if self._shared is not None:
            self._shared.close()

    # -- on a download thread ------------------------------------------------------------------------------------

    def _download(self, key: str, url: str, name: str, read_page: bool, focus: Focus | None) -> None:
        """One attempt; on success the resize is handed to the pool from here (a web page read for its images
        has nothing to resize)."""
        lower_current_thread()  # idempotent: in effect once per pool thread
        ctx = self._ctx
        assert ctx is not None
        event: Event
        try:
            fetched = self._downloader.fetch(
                url, ctx.spool, self._limits, ctx.control.should_abort, self._count_bytes, self._shared,
                read_page=read_page,
            )  # fmt: skip
        except DownloadAborted:
            event = Aborted(key)
        except FetchError as exc:
            event = FetchFailed(key, exc)
        except OSError as exc:
            if exc.errno in FATAL_ERRNOS:  # the spool, inside the output folder, refused the download
                event = Stop(key, disk_error(exc, str(ctx.spool), "save downloads"))
            else:
                event = Failed(key, f"unexpected error while downloading: {describe_error(exc)}")
        except Exception as exc:  # a bug must fail one item, not hang the batch
            event = Failed(key, f"unexpected error while downloading: {describe_error(exc)}")
        else:
            if fetched.page is None:
                self._resize(key, name, fetched, focus)
                return
            event = PageRead(key, fetched)
        with self._lock:
            self._downloading -= 1
        ctx.report(event)

    def _count_bytes(self, n: int) -> None:
        assert self._ctx is not None
        self._ctx.count_bytes(n)
        with self._lock:
            self._bytes += n

    def _resize(self, key: str, name: str, fetched: Fetched, focus: Focus | None) -> None:
        """Hand the download to a resizer, unless an earlier download of this batch had the same bytes: then its
        thumbnails are copied (`dedup.Twins`), and this one's bytes are let go at once."""
        assert self._ctx is not None and self.pool is not None
        self._ctx.report(Downloaded(key, fetched))
        # Same bytes and the same crop chosen by hand make the same thumbnails.
        content = None if fetched.digest is None else f"{fetched.digest} {focus_text(focus)}"
        first = content is None or self._twins.claim(content, Twin(key, name, fetched))
        with self._lock:
            self._downloading -= 1
            if first:
                self._resizing += 1
        if not first:
            self._release(fetched)
            return
        job = ResizeJob(fetched.slot or str(fetched.path), str(self._settings.out), name, self._spec, focus)
        self.pool.submit(job, partial(self._resized, key, fetched, content))

    # -- on the pool's dispatcher thread -------------------------------------------------------------------------

    def _resized(self, key: str, fetched: Fetched, content: str | None, outcome: JobOutcome) -> None:
        self._release(fetched)
        with self._lock:
            self._resizing -= 1
        assert self._ctx is not None
        self._ctx.report(_event_for(key, fetched, outcome))
        if content is not None:
            self._twins.settle(content, outcome)

    # -- on either: a download thread (its first was made) or the dispatcher (it waited for its first) -------------

    def _finish_twin(self, twin: Twin, first_url: str, outcome: JobOutcome) -> None:
        """A twin's outcome is its first's: copies of its thumbnails under the twin's names, or its failure."""
        assert self._ctx is not None
        res = outcome.result
        event: Event
        if outcome.cancelled or outcome.fatal:
            event = Aborted(twin.key)  # the batch is stopping: the twin stays to do
        elif res is None:
            event = Failed(twin.key, outcome.error or "resizing failed", twin.fetched, duplicate_of=first_url)
        else:
            try:
                copies = copy_thumbnails(res.outputs, self._settings.out, twin.name, self._spec.sizes)
            except (OSError, ValueError) as exc:  # ValueError: a name that would leave the output folder
                if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
                    event = Stop(twin.key, disk_error(exc, str(self._settings.out)))
                else:
                    event = Failed(twin.key, f"cannot copy the thumbnails of {first_url}: {describe_error(exc)}")
            else:
                event = Made(
                    twin.key, twin.fetched, res.source_width, res.source_height, tuple(copies), res.warning,
                    duplicate_of=first_url,
                )  # fmt: skip
        self._ctx.report(event)

    def _release(self, fetched: Fetched) -> None:
        """The download's spool file or shared-spool slot, once no resizer reads it."""
        if fetched.spooled and fetched.path is not None:
            fetched.path.unlink(missing_ok=True)
        if fetched.slot is not None and self._shared is not None:
            self._shared.give_back(fetched.slot)


class _Period:
    """What `tick` gathers between two samples."""

    __slots__ = ("backlog", "cpu", "started", "ticks")

    def __init__(self, started: float, cpu: float) -> None:
        self.started = started
        self.cpu = cpu
        self.backlog = 0.0
        self.ticks = 0


def _event_for(key: str, fetched: Fetched, outcome: JobOutcome) -> Event:
    if outcome.cancelled:
        return Aborted(key)
    if outcome.fatal:
        return Stop(key, outcome.error or "the output folder cannot be written")
    if outcome.result is None:
        return Failed(key, outcome.error or "resizing failed", fetched)
    res = outcome.result
    return Made(key, fetched, res.source_width, res.source_height, tuple(res.outputs), res.warning)
