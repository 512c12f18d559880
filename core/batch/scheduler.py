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
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.batch.backends.base import (
    Aborted,
    Backend,
    Context,
    Downloaded,
    Event,
    Failed,
    FetchFailed,
    Made,
    PageRead,
    Stop,
)
from core.batch.control import BatchMode, Control, HostAction
from core.batch.journal import STATE_DIR, Journal, PendingItem, RunState
from core.batch.lanes import Lanes, host_of
from core.batch.remake import RemakePlan, remake_plan
from core.download.fetch import Fetched, FetchError
from core.models import Entry, HostUpdate, ItemUpdate, Progress, Status, Summary
from core.naming import NameTemplate, safe_join
from core.settings import Settings

log = logging.getLogger(__name__)

TICK = 0.1  # seconds between progress snapshots (and journal flushes)
PULL_SIZE = 500
BUFFER_CAP = 4000  # items pulled from the journal but not yet started
HELD_CAP = 100_000  # items kept waiting for hosts the user paused; beyond it the batch waits for the user
MAX_RETRY_AFTER = 120.0  # a server asking for a longer wait fails the item instead of stalling the batch
RATE_WINDOW = 5.0


def spool_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / "spool"


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number `attempt` (1-based): the server's Retry-After, else exponential with jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(30.0, 0.5 * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.5)


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


def _say_nothing(_plan: RemakePlan) -> None:
    """A listener that does not tell anyone what is made again."""


def remove_outputs(out: Path, paths: Iterable[str]) -> None:
    """Delete thumbnails the journal listed as an item's and that its new outputs replaced. Only inside `out`
    (a name that leaves it is left alone); a file already gone, or one that cannot be removed, stays as it is."""
    for name in paths:
        try:
            safe_join(out, name).unlink(missing_ok=True)
        except (ValueError, OSError) as exc:
            log.warning("old thumbnail %s left in place: %s", name, exc)


@dataclass(frozen=True, slots=True)
class Listener:
    """Where the scheduler reports: the run's id once known, the item count, progress snapshots, and (before
    the first download) which done items it makes again."""

    run_opened: Callable[[int], None]
    prepared: Callable[[int], None]
    progress: Callable[[Progress], None]
    planned: Callable[[RemakePlan], None] = _say_nothing


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
        only: Collection[str] | None = None,
    ) -> None:
        """`only`: redo just these keys of the run they belong to (`entries` None), e.g. one item whose crop was
        chosen by hand; every other item of that run stays as it is, and so does the run's state."""
        self.s, self.entries, self.mode, self.backend, self.control = settings, entries, mode, backend, control
        self.only = None if only is None else frozenset(only)
        self.listener = listener
        self.out = Path(settings.out)
        self.spool = spool_dir(self.out)
        self.fingerprint = settings.output_fingerprint()
        self.namer = NameTemplate.parse(settings.name).item_name
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
        self.submitted = 0  # items in the backend's hands (download or resize), whose final event is to come
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
            self._announce_settled(journal)
            self.spool.mkdir(parents=True, exist_ok=True)
            _remove_partial_downloads(self.spool)
            state_before = journal.run_state(run)
            self._loop()
            cancelled = self.control.aborted
            journal.end_run(run, self._end_state(cancelled, state_before))
            counts = journal.counts(run)
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
        if self.only is not None:
            found = journal.run_of(self.only)
            if found is None:
                raise RuntimeError(f"the items to redo are not in the journal of {self.out}")
            journal.prepare_run(found, self.fingerprint, self.mode.value, self.only)
            return found
        if self.entries is None:
            last = journal.last_run()
            if last is None:
                raise RuntimeError(f"there is no batch to resume in {self.out}")
            run = last[0]
            journal.reopen_run(run, self.fingerprint)
        else:
            run = journal.new_run(self.fingerprint, self.mode.value)
            journal.add_entries(_until_cancelled(self.entries, self.control), run, self.namer)
            journal.include_page_items(run)
        self.listener.planned(remake_plan(self.out, self.s, self.mode))  # the run just opened is the newest
        journal.prepare_run(run, self.fingerprint, self.mode.value)
        return run

    def _end_state(self, cancelled: bool, before: RunState | None) -> RunState:
        """How the run ends: redoing `only` some items leaves its state (and resumability) as it was."""
        if self.fatal:
            return RunState.STOPPED
        if cancelled:
            return RunState.CANCELLED
        if self.only is not None and before is not None:
            return before
        return RunState.FINISHED

    def _announce_settled(self, journal: Journal) -> None:
        """Tell the front end about items decided before any work: skipped, invalid, earlier failures. A resumed
        batch announces what is left too (pending): its front end knows nothing of the batch yet. Not when redoing
        `only` some items: the front end shows the rest already (a million of them, perhaps)."""
        if self.only is not None:
            return
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
                self._obey_host_actions()
                if not aborting and not self.control.paused:
                    self._fill()
                    self._dispatch()
                idle = not (self.lanes.movable or self.retries)
                if not self.submitted and (aborting or (self.exhausted and idle)):
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
            self._leave_held()
            if self.control.aborted:
                m = self.meter
                m.not_reached = m.total - (m.done + m.failed + m.skipped + m.invalid)
            self._flush()
            _remove_partial_downloads(self.spool)

    def _fill(self) -> None:
        if self.exhausted or len(self.lanes.buffer) >= PULL_SIZE:
            return
        if self.lanes.movable + len(self.retries) >= BUFFER_CAP or len(self.lanes) >= HELD_CAP:
            return
        assert self.journal is not None
        batch = self.journal.pending(self.run_id, self.last_id, PULL_SIZE, self.only)
        if len(batch) < PULL_SIZE:
            self.exhausted = True
        if batch:
            self.last_id = batch[-1].id
            self.lanes.buffer.extend(batch)

    def _drop_waiting_retries(self) -> None:
        """On cancel, items waiting for a retry stay pending in the journal for the next run."""
        for _due, _seq, key in self.retries:
            act = self.active.pop(key, None)
            if act is not None:
                self._not_reached(act)
        self.retries.clear()

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self.retries and self.retries[0][0] <= now:  # due retries join their host's lane
            due = self.active[heapq.heappop(self.retries)[2]]
            self.lanes.requeue(due.item, due.host)
        while self.backend.has_room():
            item = self.lanes.next_item(now)
            if item is None:
                break
            act = self.active.get(item.key)  # a retry has one already
            if act is None:
                act = _Active(item, host_of(item.url), time.monotonic())
                self.active[item.key] = act
                self.updates.append(ItemUpdate(item.key, item.source, Status.RUNNING, item.file, item.line, item.url))
            self._start_download(act)
        self._fail_refused()

    def _fail_refused(self) -> None:
        """Items of a host paused for its failures end at once, with the host's message."""
        refused, self.lanes.refused = self.lanes.refused, []
        for item, message in refused:
            act = self.active.get(item.key) or _Active(item, host_of(item.url), time.monotonic(), attempt=0)
            self.active[item.key] = act
            self._fail(act, message)

    def _start_download(self, act: _Active) -> None:
        act.downloading = True
        act.attempt_started = time.monotonic()
        self.lanes.started(act.host)
        self.submitted += 1
        self.backend.submit(act.item)

    def _obey_host_actions(self) -> None:
        for action, host in self.control.host_actions():
            match action:
                case HostAction.HOLD:
                    self.lanes.hold(host)
                case HostAction.RELEASE:
                    self.lanes.release(host)

    def _leave_held(self) -> None:
        """At the end, items of hosts the user paused stay pending in the journal for the run that resumes."""
        for key, act in list(self.active.items()):
            del self.active[key]
            item = act.item
            self.updates.append(ItemUpdate(key, item.source, Status.PENDING, item.file, item.line, item.url))

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
        if not isinstance(event, Downloaded):
            self.submitted -= 1
        if act.downloading:
            act.downloading = False
            self._host_answered(act, event)
        match event:
            case Downloaded(fetched=fetched):
                act.fetched, act.downloaded = fetched, time.monotonic()
            case Made(
                fetched=fetched, source_width=width, source_height=height, outputs=outputs, warning=warning,
                duplicate_of=twin,
            ):  # fmt: skip
                self.meter.done += 1
                self._settle(
                    act, Status.DONE, fetched, source_width=width, source_height=height, outputs=list(outputs),
                    warning=warning, duplicate_of=twin,
                )  # fmt: skip
            case FetchFailed(error=error):
                self._fetch_failed(act, error)
            case Failed(error=error, fetched=fetched, duplicate_of=twin):
                self._fail(act, error, fetched, duplicate_of=twin)
            case Aborted():
                del self.active[event.key]  # stays pending in the journal
                self._not_reached(act)
            case Stop(error=error):
                self._stop(act, error)
            case PageRead(fetched=fetched):
                self._expand_page(act, fetched)

    def _expand_page(self, act: _Active, fetched: Fetched) -> None:
        """A web page read under --pages: its images join this run's journal as items of their own (after what is
        there, naming the page as their list), counted from here on, and the page's item is done with how many
        it gave. A page with none fails, as an HTML list file with none is invalid."""
        found = fetched.page or ()
        if not found:
            self._fail(act, "the web page has no images or links to images", fetched)
            return
        assert self.journal is not None
        for update in self.journal.add_found(found, self.run_id, self.fingerprint, self.namer):
            self.meter.total += 1
            match update.status:
                case Status.INVALID:
                    self.meter.invalid += 1
                case Status.SKIPPED:
                    self.meter.skipped += 1
                case Status.FAILED:
                    self.meter.failed += 1
            self.updates.append(update)  # the window lists them now, the pending ones as queued
        self.exhausted = False  # the journal has rows to pull again
        self.meter.done += 1
        self._settle(act, Status.DONE, fetched, expanded=len(found))

    def _host_answered(self, act: _Active, event: Event) -> None:
        """Tell the host's lane how its download went: a retryable failure is the host's fault."""
        now = time.monotonic()
        match event:
            case FetchFailed(error=error) if error.retryable:
                paused = self.lanes.failed(act.host, error, act.attempt_started, now, act.attempt == 1)
                if paused is not None:
                    self._fail_retries_of(act.host, paused)
            case FetchFailed() | Downloaded() | Made() | Failed() | PageRead():
                fetched = getattr(event, "fetched", None)
                self.lanes.succeeded(act.host, fetched.bytes if fetched is not None else 0, now)
            case Aborted() | Stop():
                self.lanes.ended(act.host)

    def _fail_retries_of(self, host: str, message: str) -> None:
        """A host was just paused: its items waiting for a retry fail now, not one by one later."""
        mine = [entry for entry in self.retries if self.active[entry[2]].host == host]
        if not mine:
            return
        self.retries = [entry for entry in self.retries if self.active[entry[2]].host != host]
        heapq.heapify(self.retries)
        for _due, _seq, key in mine:
            self.lanes.requeue(self.active[key].item, host)  # refused by the paused lane, failed below
        self._fail_refused()

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
        paused = self.lanes.paused_message(act.host)
        if paused is not None:
            self._fail(act, paused, http_status=err.http_status)
            return
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
            self.lanes.retry_later(act.host)
            return
        msg = err.message
        if err.retryable and (act.attempt > 1 or act.attempt > self.s.retries):
            n = act.attempt  # name the limit that would have allowed more
            msg = f"{msg} (gave up after {n} attempt{'' if n == 1 else 's'}, --retries {self.s.retries})"
        self._fail(act, msg, http_status=err.http_status)

    def _fail(
        self,
        act: _Active,
        error: str,
        fetched: Fetched | None = None,
        http_status: int | None = None,
        duplicate_of: str | None = None,
    ) -> None:
        self.meter.failed += 1
        self._settle(act, Status.FAILED, fetched, error=error, http_status=http_status, duplicate_of=duplicate_of)

    def _settle(self, act: _Active, status: Status, fetched: Fetched | None, **outcome: object) -> None:
        """Record an item's final outcome: it leaves the in-flight set and is journalled at the next tick."""
        del self.active[act.item.key]
        self.lanes.settled(act.host, status == Status.DONE)
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
            focus=act.item.focus,
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
            replaced = self.journal.record(self.finished_updates, self.run_id, self.fingerprint)
            remove_outputs(self.out, replaced)  # the new files are written: the old ones no longer match
            self.updates.extend(self.finished_updates)
            self.finished_updates = []
        self._emit(self.updates, self.lanes.tick(time.monotonic()))
        self.updates = []

    def _emit(self, updates: list[ItemUpdate], hosts: list[HostUpdate] | None = None) -> None:
        progress = self.meter.snapshot(len(self.active), self.control.paused, updates)
        progress.hosts = hosts or []
        self.listener.progress(progress)
