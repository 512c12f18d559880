"""The batch scheduler: journal, per-host queues, retries, counters and progress, for any backend.

It runs on the engine thread and owns all bookkeeping: work is pulled from the journal lazily and the number of
items in flight is bounded by the backend's room, so memory and spool disk stay flat on a million-URL list. The
backend reports typed events (`backends.base`) through one thread-safe queue, so no state is shared between
threads. Progress leaves as throttled `Progress` snapshots (~10 Hz) carrying the item changes since the last one.
"""

from __future__ import annotations

import heapq
import logging
import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.batch.backends.base import Aborted, Backend, Context, Downloaded, Event, Failed, FetchFailed, Made, Stop
from core.batch.control import BatchMode, Control
from core.batch.journal import STATE_DIR, Journal, PendingItem, RunState
from core.download.fetch import Fetched, FetchError
from core.models import Entry, ItemUpdate, Progress, Status, Summary
from core.settings import Settings

log = logging.getLogger(__name__)

TICK = 0.1  # seconds between progress snapshots (and journal flushes)
PULL_SIZE = 500
BUFFER_CAP = 4000  # items pulled from the journal but not yet started
MAX_RETRY_AFTER = 120.0  # a server asking for a longer wait fails the item instead of stalling the batch
RATE_WINDOW = 5.0


def spool_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / "spool"


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number `attempt` (1-based): the server's Retry-After, else exponential with jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(30.0, 0.5 * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def host_of(url: str) -> str:
    """The per-host limit's key; local files have none."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return ""
    return parts.netloc.lower()


def _until_cancelled(entries: Iterable[Entry], control: Control) -> Iterator[Entry]:
    for e in entries:
        if control.aborted:
            return
        yield e


def _remove_partial_downloads(spool: Path) -> None:
    for leftover in spool.glob("*.part"):
        leftover.unlink(missing_ok=True)


@dataclass(slots=True)
class _Active:
    """An item between its first dispatch and its outcome."""

    item: PendingItem
    host: str
    started: float
    attempt: int = 1
    downloading: bool = True
    attempt_started: float = 0.0
    downloaded: float | None = None
    fetched: Fetched | None = None


@dataclass(slots=True)
class Meter:
    """The batch's counters, bytes downloaded (counted from download threads) and rates over the last seconds."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    invalid: int = 0
    not_reached: int = 0  # set once a cancelled or stopped batch has wound down
    started: float = field(default_factory=time.monotonic)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _samples: deque[tuple[float, int, int]] = field(default_factory=deque)

    def count_bytes(self, n: int) -> None:
        with self._lock:
            self._bytes += n

    def snapshot(self, running: int, paused: bool, updates: list[ItemUpdate]) -> Progress:
        now = time.monotonic()
        finished_here = self.done + self.failed
        with self._lock:
            nbytes = self._bytes
        self._samples.append((now, finished_here, nbytes))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW:
            self._samples.popleft()
        t0, n0, b0 = self._samples[0]
        span = now - t0
        img_rate = (finished_here - n0) / span if span > 0.3 else 0.0
        byte_rate = (nbytes - b0) / span if span > 0.3 else 0.0
        remaining = self.total - (self.done + self.failed + self.skipped + self.invalid)
        return Progress(
            total=self.total,
            done=self.done,
            failed=self.failed,
            skipped=self.skipped,
            invalid=self.invalid,
            running=running,
            bytes_downloaded=nbytes,
            elapsed=now - self.started,
            images_per_second=img_rate,
            bytes_per_second=byte_rate,
            eta_seconds=remaining / img_rate if img_rate > 0 else None,
            paused=paused,
            updates=updates,
            not_reached=self.not_reached,
        )


class Lanes:
    """Items pulled from the journal, waiting for a free slot of their host (the per-host limit)."""

    def __init__(self, host_limit: int | None) -> None:
        """`host_limit`: downloads per host at once; None when the backend enforces the limit itself."""
        self.host_limit = host_limit
        self.buffer: deque[PendingItem] = deque()
        self.deferred: dict[str, deque[PendingItem]] = {}
        self.deferred_count = 0
        self.host_active: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.buffer) + self.deferred_count

    def host_free(self, host: str) -> bool:
        return not host or self.host_limit is None or self.host_active[host] < self.host_limit

    def take(self, host: str) -> None:
        if host:
            self.host_active[host] += 1

    def give_back(self, host: str) -> None:
        if host:
            self.host_active[host] -= 1

    def next_item(self) -> PendingItem | None:
        """The next item whose host has a free slot; items of busy hosts wait in `deferred`."""
        for host, waiting in self.deferred.items():
            if waiting and self.host_free(host):
                self.deferred_count -= 1
                item = waiting.popleft()
                if not waiting:
                    del self.deferred[host]
                return item
        while self.buffer:
            item = self.buffer.popleft()
            host = host_of(item.url)
            if self.host_free(host):
                return item
            self.deferred.setdefault(host, deque()).append(item)
            self.deferred_count += 1
        return None


@dataclass(frozen=True, slots=True)
class Listener:
    """Where the scheduler reports: the run's id once known, the item count, progress snapshots."""

    run_opened: Callable[[int], None]
    prepared: Callable[[int], None]
    progress: Callable[[Progress], None]


class Scheduler:
    """One batch on one backend; everything here is touched only by the engine thread."""

    def __init__(
        self,
        settings: Settings,
        entries: Iterable[Entry] | None,
        mode: BatchMode,
        backend: Backend,
        control: Control,
        listener: Listener,
        only: frozenset[str] | None = None,
    ) -> None:
        """`only`: make just these keys of the last run again (with `entries` None), whatever their state; the rest
        of that run stays as it is, and so does the run's resumability."""
        self.s, self.entries, self.mode, self.backend, self.control = settings, entries, mode, backend, control
        self.listener = listener
        self.only = only
        self.state_before = RunState.RUNNING  # the reopened run's state, kept when `only` leaves items to do
        self.out = Path(settings.out)
        self.spool = spool_dir(self.out)
        self.fingerprint = settings.output_fingerprint()
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.lanes = Lanes(backend.host_limit)
        self.retries: list[tuple[float, int, str]] = []
        self.active: dict[str, _Active] = {}
        self.last_id = 0
        self.exhausted = False
        self.finished_updates: list[ItemUpdate] = []
        self.updates: list[ItemUpdate] = []
        self.meter = Meter()
        self.fatal: str | None = None
        self.seq = 0
        self.run_id = 0
        self.journal: Journal | None = None

    def run(self) -> Summary:
        try:
            return self._run()
        finally:
            self.backend.close()  # also for a batch that never began; once the loop ran, a second call does nothing

    def _run(self) -> Summary:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot create the output folder: {exc.strerror}", str(self.out)) from None
        ctx = Context(self.spool, self.control, self.events.put, self.meter.count_bytes)
        if not self.backend.start(ctx):  # before the journal: a backend that cannot start loses nothing
            return Summary(0, 0, 0, 0, 0, time.monotonic() - self.meter.started, cancelled=True)
        with Journal(self.out) as journal:
            self.journal = journal
            self.run_id = run = self._open_run(journal)
            self.listener.run_opened(run)
            counts = journal.counts(run)
            m = self.meter
            m.total, m.done, m.failed, m.skipped, m.invalid = (
                counts.total, counts.done, counts.failed, counts.skipped, counts.invalid
            )  # fmt: skip
            self.listener.prepared(counts.total)
            if self.only is None:  # a front end that picks a few items already shows the others
                self._announce_settled(journal)
            self.spool.mkdir(parents=True, exist_ok=True)
            _remove_partial_downloads(self.spool)
            self._loop()
            cancelled = self.control.aborted
            counts = journal.counts(run)
            journal.end_run(run, self._end_state(cancelled, counts.pending))
            return Summary(
                total=counts.total,
                done=counts.done,
                failed=counts.failed,
                skipped=counts.skipped,
                invalid=counts.invalid,
                seconds=time.monotonic() - self.meter.started,
                cancelled=cancelled and self.fatal is None,
                fatal=self.fatal,
                run_id=run,
                warned=counts.warned,
                not_reached=counts.pending,
            )

    def _open_run(self, journal: Journal) -> int:
        if self.entries is None:
            last = journal.last_run()
            if last is None:
                raise RuntimeError(f"there is no batch to resume in {self.out}")
            run, self.state_before = last[0], RunState(last[1])
            journal.reopen_run(run, self.fingerprint)
        else:
            run = journal.new_run(self.fingerprint, self.mode.value)
            journal.add_entries(_until_cancelled(self.entries, self.control), run)
        journal.prepare_run(run, self.fingerprint, self.mode.value)
        if self.only is not None:
            journal.redo(run, self.only)
        return run

    def _end_state(self, cancelled: bool, pending: int) -> RunState:
        if self.fatal:
            return RunState.STOPPED
        if cancelled:
            return RunState.CANCELLED
        if pending and self.only is not None:  # the rest of the run is as resumable as it was
            return self.state_before if self.state_before != RunState.FINISHED else RunState.CANCELLED
        return RunState.FINISHED

    def _announce_settled(self, journal: Journal) -> None:
        """Tell the front end about items decided before any work: skipped, invalid, earlier failures. A resumed
        batch announces what is left too (pending): its front end knows nothing of the batch yet."""
        resuming = self.entries is None
        chunk: list[ItemUpdate] = []
        for u in journal.items(self.run_id, reported=False):
            if u.status == Status.PENDING and not resuming:  # the front end gave it and shows it pending
                continue
            chunk.append(u)
            if len(chunk) >= 5000:
                self._emit(chunk)
                chunk = []
        if chunk:
            self._emit(chunk)

    # -- the loop ---------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        aborting = False
        next_tick = time.monotonic() + TICK
        try:
            while True:
                if self.control.aborted and not aborting:
                    aborting = True
                    self._drop_waiting_retries()
                    self.backend.cancel_queued()
                if not aborting and not self.control.paused:
                    self._fill()
                    self._dispatch()
                idle = not (self.lanes or self.retries)
                if not self.active and (aborting or (self.exhausted and idle)):
                    break
                now = time.monotonic()
                timeout = max(0.0, next_tick - now)
                if self.retries and not aborting:
                    timeout = min(timeout, max(0.0, self.retries[0][0] - now))
                self._handle_events(timeout)
                if time.monotonic() >= next_tick:
                    self._flush()
                    self.backend.tick()
                    next_tick = time.monotonic() + TICK
        except BaseException:
            self.control.cancel()  # stop the downloads still running before the batch reports its failure
            raise
        finally:
            self.backend.close()  # waits for the work in flight: its last events are handled below
            self._drain_events()
            if self.control.aborted:
                m = self.meter
                m.not_reached = m.total - (m.done + m.failed + m.skipped + m.invalid)
            self._flush()
            _remove_partial_downloads(self.spool)

    def _fill(self) -> None:
        if self.exhausted or len(self.lanes.buffer) >= PULL_SIZE:
            return
        if len(self.lanes) + len(self.retries) >= BUFFER_CAP:
            return
        assert self.journal is not None
        batch = self.journal.pending(self.run_id, self.last_id, PULL_SIZE)
        if len(batch) < PULL_SIZE:
            self.exhausted = True
        if batch:
            self.last_id = batch[-1].id
            only = self.only
            self.lanes.buffer.extend(batch if only is None else [item for item in batch if item.key in only])

    def _drop_waiting_retries(self) -> None:
        """On cancel, items waiting for a retry stay pending in the journal for the next run."""
        for _due, _seq, key in self.retries:
            act = self.active.pop(key, None)
            if act is not None:
                self._not_reached(act)
        self.retries.clear()

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self.backend.has_room():
            retry = self._due_retry(now)
            if retry is not None:
                self._start_download(retry)
                continue
            item = self.lanes.next_item()
            if item is None:
                return
            act = _Active(item, host_of(item.url), time.monotonic())
            self.active[item.key] = act
            self.updates.append(ItemUpdate(item.key, item.source, Status.RUNNING, item.file, item.line, item.url))
            self._start_download(act)

    def _due_retry(self, now: float) -> _Active | None:
        if self.retries and self.retries[0][0] <= now:
            act = self.active[self.retries[0][2]]
            if self.lanes.host_free(act.host):
                heapq.heappop(self.retries)
                return act
        return None

    def _start_download(self, act: _Active) -> None:
        act.downloading = True
        act.attempt_started = time.monotonic()
        self.lanes.take(act.host)
        self.backend.submit(act.item)

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

    def _handle(self, event: Event) -> None:
        act = self.active.get(event.key)
        if act is None:
            return
        if act.downloading:
            act.downloading = False
            self.lanes.give_back(act.host)
        match event:
            case Downloaded(fetched=fetched):
                act.fetched, act.downloaded = fetched, time.monotonic()
            case Made(fetched=fetched, source_width=width, source_height=height, outputs=outputs, warning=warning):
                self.meter.done += 1
                self._settle(
                    act, Status.DONE, fetched, source_width=width, source_height=height, outputs=list(outputs),
                    warning=warning,
                )  # fmt: skip
            case FetchFailed(error=error):
                self._fetch_failed(act, error)
            case Failed(error=error, fetched=fetched):
                self._fail(act, error, fetched)
            case Aborted():
                del self.active[event.key]  # stays pending in the journal
                self._not_reached(act)
            case Stop(error=error):
                self._stop(act, error)

    def _not_reached(self, act: _Active) -> None:
        """The batch stopped before this started item was made: the front end stops showing it running. The journal
        keeps it pending, to do in the run that resumes."""
        item = act.item
        self.updates.append(ItemUpdate(item.key, item.source, Status.NOT_REACHED, item.file, item.line, item.url))

    def _stop(self, act: _Active, error: str) -> None:
        """The batch cannot go on (the output folder refused a file, ...). The item is not at fault, so it stays
        pending in the journal, like everything not yet done, for the run that resumes."""
        del self.active[act.item.key]
        self._not_reached(act)
        if self.fatal is None:
            self.fatal = f"the batch stopped: {error}"
        self.control.cancel()

    def _fetch_failed(self, act: _Active, err: FetchError) -> None:
        if err.retryable and act.attempt <= self.s.retries and not self.control.aborted:
            if err.retry_after is not None and err.retry_after > MAX_RETRY_AFTER:
                msg = f"{err.message}; the server asked to wait {err.retry_after:.0f} s, longer than this tool waits"
                self._fail(act, msg, http_status=err.http_status)
                return
            act.attempt += 1
            self.seq += 1
            delay = backoff_delay(act.attempt - 1, err.retry_after)
            log.debug("%s: retry %d in %.2f s: %s", act.item.key, act.attempt - 1, delay, err.message)
            heapq.heappush(self.retries, (time.monotonic() + delay, self.seq, act.item.key))
            return
        msg = err.message
        if err.retryable and (act.attempt > 1 or act.attempt > self.s.retries):
            n = act.attempt  # name the limit that would have allowed more
            msg = f"{msg} (gave up after {n} attempt{'' if n == 1 else 's'}, --retries {self.s.retries})"
        self._fail(act, msg, http_status=err.http_status)

    def _fail(self, act: _Active, error: str, fetched: Fetched | None = None, http_status: int | None = None) -> None:
        self.meter.failed += 1
        self._settle(act, Status.FAILED, fetched, error=error, http_status=http_status)

    def _settle(self, act: _Active, status: Status, fetched: Fetched | None, **outcome: object) -> None:
        """Record an item's final outcome: it leaves the in-flight set and is journalled at the next tick."""
        del self.active[act.item.key]
        now = time.monotonic()
        if log.isEnabledFor(logging.DEBUG):
            downloaded = act.downloaded or now  # a Dask task reports download and resize as one
            log.debug(
                "%s: %s after %d attempt(s): download %.3f s, resize %.3f s%s",
                act.item.key, status.value, act.attempt, downloaded - act.attempt_started, now - downloaded,
                f": {outcome['error']}" if outcome.get("error") else "",
            )  # fmt: skip
        update = ItemUpdate(
            key=act.item.key,
            source=act.item.source,
            status=status,
            file=act.item.file,
            line=act.item.line,
            seconds=round(now - act.started, 3),
        )
        if fetched is not None:
            update.url, update.http_status, update.bytes = fetched.final_url, fetched.http_status, fetched.bytes
        for name, value in outcome.items():
            if value is not None:
                setattr(update, name, value)
        self.finished_updates.append(update)

    # -- output -----------------------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write finished items to the journal in one transaction and emit one progress snapshot."""
        if self.finished_updates:
            assert self.journal is not None
            self.journal.record(self.finished_updates, self.run_id, self.fingerprint)
            self.updates.extend(self.finished_updates)
            self.finished_updates = []
        self._emit(self.updates)
        self.updates = []

    def _emit(self, updates: list[ItemUpdate]) -> None:
        self.listener.progress(self.meter.snapshot(len(self.active), self.control.paused, updates))
