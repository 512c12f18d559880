"""The runner: one batch from entries to thumbnails, shared by the command and the window.

An engine thread owns the journal and all bookkeeping; download threads (a capped `QThreadPool`) and resizer
processes (`ResizePool`) report back to it through one thread-safe queue, so no state is shared between
threads. Work is pulled from the journal lazily and the number of items in flight is bounded, so memory and
spool disk stay flat on a million-URL list. Progress leaves as throttled `Progress` snapshots (~10 Hz)
carrying the item changes since the previous one; Qt queues the signals to the receiver's thread.
"""

from __future__ import annotations

import heapq
import queue
import random
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QThreadPool, Signal

from core.batch.backends.cluster import (
    ClusterSession,
    ClusterUnavailable,
    RemoteJob,
    RemoteResult,
    describe_task_error,
    write_thumb,
)
from core.batch.backends.resize_pool import FATAL_ERRNOS, JobOutcome, ResizeJob, ResizePool, disk_error, start_pool
from core.batch.folder_lock import OutputFolderError
from core.batch.journal import STATE_DIR, Journal, PendingItem
from core.download.fetch import Aborted, Downloader, Fetched, FetchError
from core.download.shared_spool import SLOT_BYTES, SharedSpool
from core.models import Entry, ItemUpdate, Output, Progress, Status, Summary
from core.naming import output_stem
from core.priority import lower_current_thread
from core.settings import Settings

MODES = ("normal", "force", "retry_failed")
TICK = 0.1  # seconds between progress snapshots (and journal flushes)
PULL_SIZE = 500
BUFFER_CAP = 4000  # items pulled from the journal but not yet started
MAX_SHARED_SLOTS = 32  # downloads held in shared memory at once (core.download.shared_spool); more go to spool files
MAX_RETRY_AFTER = 120.0  # a server asking for a longer wait fails the item instead of stalling the batch
RATE_WINDOW = 5.0


def spool_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / "spool"


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number `attempt` (1-based): the server's Retry-After, else exponential with jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


@dataclass(slots=True)
class _Active:
    """An item between its first dispatch and its outcome."""

    item: PendingItem
    host: str
    started: float
    attempt: int = 1
    downloading: bool = True
    fetched: Fetched | None = None


@dataclass(slots=True)
class _Counters:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    invalid: int = 0
    samples: deque[tuple[float, int, int]] = field(default_factory=deque)


class Runner(QObject):
    """Run one batch. Signals are emitted from the engine thread; connect them normally."""

    prepared = Signal(int)
    progress = Signal(object)
    finished = Signal(object)

    def __init__(
        self,
        settings: Settings,
        entries: Iterable[Entry] | None,
        *,
        mode: str = "normal",
        interactive: bool = False,
        pool: ResizePool | None = None,
        parent: QObject | None = None,
    ) -> None:
        """`interactive`: a window shows the batch, so its resizer processes run at the lowest priority.
        `pool`: resizer processes already starting (`backends.resize_pool.start_pool`); the runner uses them and
        shuts them down."""
        super().__init__(parent)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self._settings = settings.validated()
        self._entries = entries
        self._mode = mode
        self.interactive = interactive
        self._abort = threading.Event()
        self._paused = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_id = 0
        self.pool: ResizePool | None = pool

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def run_id(self) -> int:
        return self._run_id

    @property
    def is_running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def is_paused(self) -> bool:
        return self._paused.is_set()

    def start(self) -> None:
        """Start the batch in the background; returns at once."""
        if self._thread is not None:
            raise RuntimeError("a Runner runs one batch; make a new one")
        # Not a daemon: the interpreter must not tear Qt down while the engine is still unwinding.
        self._thread = threading.Thread(target=self._engine, name="thumbnailer-engine")
        self._thread.start()

    def pause(self) -> None:
        """Start no new items; those in flight finish."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def cancel(self) -> None:
        """Stop downloads mid-stream, let running resizes finish, save the journal; resumable later."""
        self._abort.set()
        self._paused.clear()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the batch has ended (the `finished` signal was emitted). For shutdown and tests."""
        if self._thread is None:
            return True
        self._thread.join(None if timeout_ms < 0 else timeout_ms / 1000)
        return not self._thread.is_alive()

    def _engine(self) -> None:
        lower_current_thread()  # a window's GUI thread wins a contended core (core/priority.py)
        started = time.monotonic()
        try:
            summary = _Batch(self).run()
        except Exception as exc:  # the batch cannot go on (folder not writable, journal broken, ...)
            summary = Summary(0, 0, 0, 0, 0, time.monotonic() - started, fatal=_describe(exc))
        self._done.set()
        self.finished.emit(summary)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClusterUnavailable):
        return str(exc)
    if isinstance(exc, OutputFolderError):  # another batch writes there, or a newer release's journal
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, sqlite3.Error):  # e.g. a full disk under the journal: what is recorded stays recorded
        return f"the batch stopped: cannot update its journal ({exc}); fix that and run the same command again"
    return f"{type(exc).__name__}: {exc}"


class _Batch:
    """State of one run, touched only by the engine thread."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner
        self.s = runner.settings
        self.out = Path(self.s.out)
        self.fingerprint = self.s.output_fingerprint()
        self.spec = self.s.resize_spec()
        self.limits = self.s.fetch_limits()
        self.downloader = Downloader()  # holds nothing until the first web download: no close needed before run
        self.events: queue.SimpleQueue[tuple[str, str, object]] = queue.SimpleQueue()
        self.buffer: deque[PendingItem] = deque()
        self.deferred: dict[str, deque[PendingItem]] = {}
        self.deferred_count = 0
        self.retries: list[tuple[float, int, str]] = []
        self.active: dict[str, _Active] = {}
        self.host_active: Counter[str] = Counter()
        self.downloading = 0
        self.resizing = 0
        self.last_id = 0
        self.exhausted = False
        self.finished_updates: list[ItemUpdate] = []
        self.updates: list[ItemUpdate] = []
        self.c = _Counters()
        self.bytes_lock = threading.Lock()
        self.bytes_downloaded = 0
        self.fatal: str | None = None
        self.cluster: ClusterSession | None = None
        self.pool: ResizePool | None = runner.pool
        self.shared: SharedSpool | None = None
        self.seq = 0
        self.started = time.monotonic()

    # -- set-up and tear-down -------------------------------------------------------------------------------

    def run(self) -> Summary:
        try:
            return self._run(self.started)
        finally:
            if self.pool is not None:  # also when the batch never began: the command starts its pool early
                self.pool.shutdown()

    def _run(self, started: float) -> Summary:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot create the output folder: {exc.strerror}", str(self.out)) from None
        if self.s.cluster:  # before the journal: an unreachable cluster costs nothing and loses nothing
            self.cluster = ClusterSession.connect(self.s.cluster, self.r._abort.is_set)
            if self.cluster is None:
                return Summary(0, 0, 0, 0, 0, time.monotonic() - started, cancelled=True)
        elif self.pool is None:
            self.pool = self.r.pool = start_pool(self.s, self.r.interactive)
        self.journal = Journal(self.out)
        try:
            run = self._open_run()
            self.r._run_id = run
            counts = self.journal.counts(run)
            self.c.total = counts.total
            self.c.failed, self.c.skipped, self.c.invalid = counts.failed, counts.skipped, counts.invalid
            self.c.done = counts.done
            self.r.prepared.emit(counts.total)
            self._announce_settled(run)
            spool = spool_dir(self.out)
            spool.mkdir(parents=True, exist_ok=True)
            for leftover in spool.glob("*.part"):
                leftover.unlink(missing_ok=True)
            self.spool = spool
            self._process(run)
            cancelled = self.r._abort.is_set()
            self.journal.end_run(run, "cancelled" if cancelled else "finished")
            counts = self.journal.counts(run)
            return Summary(
                total=counts.total,
                done=counts.done,
                failed=counts.failed,
                skipped=counts.skipped + counts.pending,
                invalid=counts.invalid,
                seconds=time.monotonic() - started,
                cancelled=cancelled and self.fatal is None,
                fatal=self.fatal,
                run_id=run,
            )
        finally:
            self.journal.close()
            if self.cluster is not None:
                self.cluster.close()

    def _open_run(self) -> int:
        if self.r._entries is None:
            last = self.journal.last_run()
            if last is None:
                raise RuntimeError(f"there is no batch to resume in {self.out}")
            run = last[0]
            self.journal.reopen_run(run, self.fingerprint)
        else:
            run = self.journal.new_run(self.fingerprint, self.r._mode)
            self.journal.add_entries(self._until_cancelled(self.r._entries), run)
        self.journal.prepare_run(run, self.fingerprint, self.r._mode)
        return run

    def _until_cancelled(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        for e in entries:
            if self.r._abort.is_set():
                return
            yield e

    def _announce_settled(self, run: int) -> None:
        """Tell the front end about items decided before any work: skipped, invalid, earlier failures."""
        chunk: list[ItemUpdate] = []
        for u in self.journal.items(run):
            if u.status == Status.SKIPPED and u.error:  # pending: the run will process it
                continue
            chunk.append(u)
            if len(chunk) >= 5000:
                self._emit(chunk, run)
                chunk = []
        if chunk:
            self._emit(chunk, run)

    # -- the loop ---------------------------------------------------------------------------------------------

    def _process(self, run: int) -> None:
        self.threads = QThreadPool()
        self.threads.setMaxThreadCount(self.s.threads)
        if self.cluster is None:  # a slot for every item the capacity lets be in flight, up to a cap
            slots = min(MAX_SHARED_SLOTS, self.s.threads + 2 * self.s.processes)
            self.shared = SharedSpool.open(slots, min(SLOT_BYTES, self.s.max_bytes))
        aborting = False
        next_tick = time.monotonic() + TICK
        try:
            while True:
                if self.r._abort.is_set() and not aborting:
                    aborting = True
                    self._drop_waiting_retries()
                    if self.cluster is not None:
                        self.cluster.cancel_all()
                    else:
                        self.pool.cancel_queued()
                if not aborting and not self.r.is_paused:
                    self._fill(run)
                    self._dispatch()
                idle = not (self.buffer or self.deferred_count or self.retries)
                if not self.active and (aborting or (self.exhausted and idle)):
                    break
                now = time.monotonic()
                timeout = max(0.0, next_tick - now)
                if self.retries and not aborting:
                    timeout = min(timeout, max(0.0, self.retries[0][0] - now))
                self._handle_events(timeout)
                if time.monotonic() >= next_tick:
                    self._flush(run)
                    if self.cluster is not None and not aborting:
                        self.cluster.refresh_slots()
                    next_tick = time.monotonic() + TICK
        except BaseException:
            self.r._abort.set()  # stop the downloads still running before the batch reports its failure
            raise
        finally:
            self.threads.waitForDone()
            del self.threads  # destroyed here, on the thread that made it
            self.downloader.close()
            if self.pool is not None:
                self.pool.shutdown()
            self._drain_events()
            self._flush(run)
            for leftover in self.spool.glob("*.part"):
                leftover.unlink(missing_ok=True)
            if self.shared is not None:
                self.shared.close()

    def _fill(self, run: int) -> None:
        if self.exhausted or len(self.buffer) >= PULL_SIZE:
            return
        if len(self.buffer) + self.deferred_count + len(self.retries) >= BUFFER_CAP:
            return
        batch = self.journal.pending(run, self.last_id, PULL_SIZE)
        if len(batch) < PULL_SIZE:
            self.exhausted = True
        if batch:
            self.last_id = batch[-1].id
            self.buffer.extend(batch)

    def _capacity(self) -> bool:
        """Downloads overlap resizing, but the spool holds at most a few items per resizer."""
        if self.cluster is not None:
            return self.downloading < self.cluster.capacity
        limit = self.s.threads + 2 * self.s.processes
        return self.downloading < self.s.threads and self.downloading + self.resizing < limit

    def _drop_waiting_retries(self) -> None:
        """On cancel, items waiting for a retry stay pending in the journal for the next run."""
        for _due, _seq, key in self.retries:
            self.active.pop(key, None)
        self.retries.clear()

    def _due_retry(self, now: float) -> _Active | None:
        if self.retries and self.retries[0][0] <= now:
            act = self.active[self.retries[0][2]]
            if self._host_free(act.host):
                heapq.heappop(self.retries)
                return act
        return None

    def _host_free(self, host: str) -> bool:
        """On a cluster the per-host limit is the cluster's semaphore (backends.cluster), shared by every worker."""
        return not host or self.cluster is not None or self.host_active[host] < self.s.per_host

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self._capacity():
            retry = self._due_retry(now)
            if retry is not None:
                self._start_download(retry)
                continue
            item = self._next_item()
            if item is None:
                return
            act = _Active(item, _host_of(item.url), time.monotonic())
            self.active[item.key] = act
            self.updates.append(ItemUpdate(item.key, item.source, Status.RUNNING, item.file, item.line, item.url))
            self._start_download(act)

    def _next_item(self) -> PendingItem | None:
        """The next item whose host has a free slot; items of busy hosts wait in `deferred`."""
        for host, waiting in self.deferred.items():
            if waiting and self._host_free(host):
                self.deferred_count -= 1
                item = waiting.popleft()
                if not waiting:
                    del self.deferred[host]
                return item
        while self.buffer:
            item = self.buffer.popleft()
            host = _host_of(item.url)
            if self._host_free(host):
                return item
            self.deferred.setdefault(host, deque()).append(item)
            self.deferred_count += 1
        return None

    def _start_download(self, act: _Active) -> None:
        act.downloading = True
        self.downloading += 1
        if act.host:
            self.host_active[act.host] += 1
        if self.cluster is not None:
            self._submit_remote(act)
        else:
            self.threads.start(partial(self._download, act.item.key, act.item.url))

    def _submit_remote(self, act: _Active) -> None:
        """One task on the cluster; a local file travels as bytes, checked here by the same limits."""
        assert self.cluster is not None
        key, url = act.item.key, act.item.url
        data = None
        if not act.host:
            try:
                data = (
                    self.downloader.fetch(url, self.spool, self.limits, self.r._abort.is_set).local_path().read_bytes()
                )
            except FetchError as exc:
                self.events.put(("fetch_failed", key, exc))
                return
            except Aborted:
                self.events.put(("aborted", key, None))
                return
            except OSError as exc:
                self.events.put(("error", key, f"cannot read the file: {_describe(exc)}"))
                return
        job = RemoteJob(url, output_stem(url), self.spec, self.limits, self.s.per_host, data)
        self.cluster.submit(key, job, lambda k, future: self.events.put(("remote", k, future)))

    def _download(self, key: str, url: str) -> None:
        """Runs on a download thread: one attempt, reported back as an event."""
        lower_current_thread()  # idempotent: in effect once per pool thread
        try:
            fetched = self.downloader.fetch(
                url, self.spool, self.limits, self.r._abort.is_set, self._count_bytes, self.shared
            )
        except Aborted:
            self.events.put(("aborted", key, None))
        except FetchError as exc:
            self.events.put(("fetch_failed", key, exc))
        except OSError as exc:
            if exc.errno in FATAL_ERRNOS:  # the spool, inside the output folder, refused the download
                self.events.put(("disk", key, disk_error(exc, str(self.spool), "save downloads")))
            else:
                self.events.put(("error", key, f"unexpected error while downloading: {_describe(exc)}"))
        except Exception as exc:  # a bug must fail one item, not hang the batch
            self.events.put(("error", key, f"unexpected error while downloading: {_describe(exc)}"))
        else:
            self.events.put(("fetched", key, fetched))

    def _count_bytes(self, n: int) -> None:
        with self.bytes_lock:
            self.bytes_downloaded += n

    # -- events -----------------------------------------------------------------------------------------------

    def _handle_events(self, timeout: float) -> None:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        self._handle(event)
        self._drain_events()

    def _drain_events(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _handle(self, event: tuple[str, str, object]) -> None:
        kind, key, payload = event
        act = self.active.get(key)
        if act is None:
            if isinstance(payload, Fetched):
                self._release(payload)
            return
        if act.downloading:
            act.downloading = False
            self.downloading -= 1
            if act.host:
                self.host_active[act.host] -= 1
        if kind == "fetched":
            assert isinstance(payload, Fetched)
            act.fetched = payload
            src = payload.slot or str(payload.path)
            job = ResizeJob(src, str(self.out), output_stem(act.item.url), self.spec)
            assert self.pool is not None
            self.resizing += 1
            self.pool.submit(job, partial(self._resized, key))
        elif kind == "remote":
            self._finish_remote(act, payload)
        elif kind == "resized":
            assert isinstance(payload, JobOutcome)
            self.resizing -= 1
            self._finish_resize(act, payload)
        elif kind == "fetch_failed":
            assert isinstance(payload, FetchError)
            self._fetch_failed(act, payload)
        elif kind == "aborted":
            del self.active[key]  # stays pending in the journal
        elif kind == "disk":
            self._stop_on_disk_error(act, str(payload))
        else:
            self._fail(act, str(payload))

    def _resized(self, key: str, outcome: JobOutcome) -> None:
        """Runs on the pool's dispatcher thread."""
        self.events.put(("resized", key, outcome))

    def _release(self, fetched: Fetched) -> None:
        """The download's spool file or shared-spool slot, once no resizer reads it."""
        if fetched.spooled and fetched.path is not None:
            fetched.path.unlink(missing_ok=True)
        if fetched.slot is not None and self.shared is not None:
            self.shared.give_back(fetched.slot)

    def _finish_resize(self, act: _Active, outcome: JobOutcome) -> None:
        fetched = act.fetched
        assert fetched is not None
        self._release(fetched)
        if outcome.cancelled:
            del self.active[act.item.key]
            return
        if outcome.fatal:
            self._stop_on_disk_error(act, outcome.error or "the output folder cannot be written")
            return
        if outcome.result is None:
            self._fail(act, outcome.error or "resizing failed", fetched)
            return
        res = outcome.result
        self._done(act, fetched, res.source_width, res.source_height, list(res.outputs))

    def _finish_remote(self, act: _Active, future: object) -> None:
        assert self.cluster is not None
        outcome = self.cluster.outcome(act.item.key, future)
        if outcome is None:  # cancelled: by us, or the scheduler went away
            del self.active[act.item.key]  # stays pending in the journal
            if not self.r._abort.is_set() and not self.cluster.running and self.fatal is None:
                self.fatal = f"the batch stopped: lost the Dask scheduler at {self.cluster.address}"
                self.r.cancel()
            return
        if not isinstance(outcome, RemoteResult):
            self._fail(act, describe_task_error(outcome))
            return
        self._count_bytes(outcome.bytes)
        if outcome.fetch_error is not None:
            self._fetch_failed(act, outcome.fetch_error)
            return
        fetched = outcome.fetched()
        if outcome.error is not None:
            self._fail(act, outcome.error, fetched)
            return
        outputs = []
        try:
            for thumb in outcome.thumbs:
                write_thumb(self.out, thumb)
                outputs.append(Output(thumb.name, thumb.width, thumb.height, len(thumb.data)))
        except OSError as exc:
            if exc.errno in FATAL_ERRNOS:
                self._stop_on_disk_error(act, disk_error(exc, str(self.out)))
            else:
                self._fail(act, f"cannot write the thumbnail: {_describe(exc)}", fetched)
            return
        self._done(act, fetched, outcome.source_width, outcome.source_height, outputs)

    def _done(self, act: _Active, fetched: Fetched, width: int, height: int, outputs: list[Output]) -> None:
        self.c.done += 1
        self._settle(act, Status.DONE, fetched, source_width=width, source_height=height, outputs=outputs)

    def _stop_on_disk_error(self, act: _Active, error: str) -> None:
        """The output folder refused a file (full, read-only, ...): stop the batch. The item is not at fault,
        so it stays pending in the journal, like everything not yet done, for the run that resumes."""
        del self.active[act.item.key]
        if self.fatal is None:
            self.fatal = f"the batch stopped: {error}"
        self.r.cancel()

    def _fetch_failed(self, act: _Active, err: FetchError) -> None:
        if err.retryable and act.attempt <= self.s.retries and not self.r._abort.is_set():
            if err.retry_after is not None and err.retry_after > MAX_RETRY_AFTER:
                msg = f"{err.message}; the server asked to wait {err.retry_after:.0f} s, longer than this tool waits"
                self._fail(act, msg, http_status=err.http_status)
                return
            act.attempt += 1
            self.seq += 1
            due = time.monotonic() + backoff_delay(act.attempt - 1, err.retry_after)
            heapq.heappush(self.retries, (due, self.seq, act.item.key))
            return
        msg = err.message
        if err.retryable and (act.attempt > 1 or act.attempt > self.s.retries):
            n = act.attempt  # name the limit that would have allowed more
            msg = f"{msg} (gave up after {n} attempt{'' if n == 1 else 's'}, --retries {self.s.retries})"
        self._fail(act, msg, http_status=err.http_status)

    def _fail(self, act: _Active, error: str, fetched: Fetched | None = None, http_status: int | None = None) -> None:
        self.c.failed += 1
        self._settle(act, Status.FAILED, fetched, error=error, http_status=http_status)

    def _settle(self, act: _Active, status: Status, fetched: Fetched | None, **outcome: object) -> None:
        """Record an item's final outcome: it leaves the in-flight set and is journalled at the next tick."""
        del self.active[act.item.key]
        update = ItemUpdate(
            key=act.item.key,
            source=act.item.source,
            status=status,
            file=act.item.file,
            line=act.item.line,
            seconds=round(time.monotonic() - act.started, 3),
        )
        if fetched is not None:
            update.url, update.http_status, update.bytes = fetched.final_url, fetched.http_status, fetched.bytes
        for name, value in outcome.items():
            if value is not None:
                setattr(update, name, value)
        self.finished_updates.append(update)

    # -- output -----------------------------------------------------------------------------------------------

    def _flush(self, run: int) -> None:
        """Write finished items to the journal in one transaction and emit one progress snapshot."""
        if self.finished_updates:
            self.journal.record(self.finished_updates, run, self.fingerprint)
            self.updates.extend(self.finished_updates)
            self.finished_updates = []
        self._emit(self.updates, run)
        self.updates = []

    def _emit(self, updates: list[ItemUpdate], run: int) -> None:
        now = time.monotonic()
        c = self.c
        finished_here = c.done + c.failed
        with self.bytes_lock:
            nbytes = self.bytes_downloaded
        c.samples.append((now, finished_here, nbytes))
        while len(c.samples) > 2 and now - c.samples[0][0] > RATE_WINDOW:
            c.samples.popleft()
        t0, n0, b0 = c.samples[0]
        span = now - t0
        img_rate = (finished_here - n0) / span if span > 0.3 else 0.0
        byte_rate = (nbytes - b0) / span if span > 0.3 else 0.0
        remaining = c.total - (c.done + c.failed + c.skipped + c.invalid)
        self.r.progress.emit(
            Progress(
                total=c.total,
                done=c.done,
                failed=c.failed,
                skipped=c.skipped,
                invalid=c.invalid,
                running=len(self.active),
                bytes_downloaded=nbytes,
                elapsed=now - self.started,
                images_per_second=img_rate,
                bytes_per_second=byte_rate,
                eta_seconds=remaining / img_rate if img_rate > 0 else None,
                paused=self.r.is_paused,
                updates=updates,
            )
        )


def _host_of(url: str) -> str:
    """The per-host limit's key; local files have none."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return ""
    return parts.netloc.lower()
