"""The Dask backend: a batch's items run on a Dask cluster (`--cluster ADDRESS`).

Dask itself is imported only when a batch connects to a cluster: without an
address nothing here loads `dask` or `distributed`. Each item is one task that downloads and resizes on a worker
with the same code and limits as the local pool (`core.download`, `core.imaging`) and returns the thumbnails' bytes;
the machine that started the batch writes the files and the journal, so the workers need no shared file system
and resume, reports and the window work as they do locally. Downloads from one host hold a lease of a
cluster-wide `distributed.Semaphore`, so --per-host holds across every worker and every batch that uses the same
limit, not just within this process.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import core
from core.batch.backends.base import (
    Aborted,
    BackendUnavailable,
    Context,
    Event,
    Failed,
    FetchFailed,
    Made,
    Stop,
    describe_error,
)
from core.batch.journal import PendingItem, item_name
from core.download.fetch import Aborted as DownloadAborted
from core.download.fetch import Downloader, Fetched, FetchError
from core.download.limits import FetchLimits
from core.imaging.focus import Focus
from core.imaging.jobs import FATAL_ERRNOS, ResizeJob, disk_error, run_job
from core.imaging.spec import ResizeSpec
from core.models import Output
from core.naming import safe_join
from core.settings import Settings

#: `distributed` ships no type hints: its client and futures are `Any` here.
Client = Any
Future = Any

#: Seconds to reach the scheduler, and then to see at least one worker, before the batch gives up.
CONNECT_TIMEOUT = 20.0
WORKER_WAIT = 30.0
#: Tasks in flight per worker thread: one running, one queued on the worker so it never waits for us.
TASKS_PER_THREAD = 2
SLOTS_INTERVAL = 2.0


class ClusterUnavailable(BackendUnavailable):
    """The cluster cannot run this batch (unreachable, no workers, workers without this app); says why."""


# -- what travels: the task's argument and its result ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """One item for a worker. `data` carries a local file's bytes, since workers cannot see this machine's files."""

    url: str
    stem: str
    spec: ResizeSpec
    limits: FetchLimits
    per_host: int
    data: bytes | None = None
    focus: Focus | None = None  # the item's crop chosen by hand


@dataclass(frozen=True, slots=True)
class RemoteThumb:
    name: str  # relative to the output folder, as `core.naming.output_filename` made it
    width: int
    height: int
    data: bytes


@dataclass(slots=True)
class RemoteResult:
    """What a task sends back: thumbnails, or `fetch_error` (the runner may retry it), or `error`."""

    final_url: str
    http_status: int | None = None
    bytes: int = 0
    source_width: int = 0
    source_height: int = 0
    thumbs: list[RemoteThumb] = field(default_factory=list)
    fetch_error: FetchError | None = None
    error: str | None = None
    warning: str | None = None  # the thumbnails were made from a file that decoded in part

    def fetched(self) -> Fetched:
        """Where the bytes came from, in the shape the runner records for local downloads."""
        return Fetched(Path(), self.final_url, self.http_status, self.bytes, spooled=False)


# -- the worker's side -----------------------------------------------------------------------------------------


def app_version() -> str:
    return core.__version__


def worker_version() -> str:
    """Run on each worker at connect time: a worker without this package fails to unpickle it, which is the point."""
    return app_version()


def run_remote(job: RemoteJob) -> RemoteResult:
    """The task: fetch (under the host's cluster-wide lease) and resize in a scratch folder, return the bytes."""
    with tempfile.TemporaryDirectory(prefix="thumbnailer-", dir=_scratch_root()) as scratch:
        work = Path(scratch)
        result = RemoteResult(final_url=job.url)
        if job.data is not None:
            src = work / "source"
            src.write_bytes(job.data)
            result.bytes = len(job.data)
        else:
            try:
                with _host_lease(job.url, job.per_host):
                    got = _worker_downloader().fetch(job.url, work / "spool", job.limits, _never)
            except FetchError as exc:
                result.fetch_error = exc
                return result
            src = got.local_path()
            result.final_url, result.http_status, result.bytes = got.final_url, got.http_status, got.bytes
        outcome = run_job(ResizeJob(str(src), str(work / "out"), job.stem, job.spec, job.focus))
        if outcome.result is None:
            result.error = outcome.error or "resizing failed"
            return result
        result.source_width, result.source_height = outcome.result.source_width, outcome.result.source_height
        result.warning = outcome.result.warning
        for out in outcome.result.outputs:
            data = safe_join(work / "out", out.path).read_bytes()
            result.thumbs.append(RemoteThumb(out.path, out.width, out.height, data))
        return result


def _never() -> bool:
    """Cancelling a batch cancels its tasks on the scheduler; a download already running ends by its limits."""
    return False


def _scratch_root() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):  # not inside a worker (tests call the task directly)
        return None


_downloaders: dict[int, Downloader] = {}
_downloaders_lock = threading.Lock()


def _worker_downloader() -> Downloader:
    """This worker process's Downloader, shared by its tasks and never closed (its watchdog is a daemon thread).

    One per process rather than one per task: a task is one image, and a Downloader per task would open a new
    connection (and TLS handshake) for every image and start a watchdog thread for each, where today's worker
    keeps connections alive across the tasks each of its threads runs. Keyed by process id so a process forked
    from a worker never shares its parent's sockets."""
    pid = os.getpid()
    with _downloaders_lock:
        downloader = _downloaders.get(pid)
        if downloader is None:
            downloader = _downloaders[pid] = Downloader()
        return downloader


_semaphores: dict[tuple[str, int], Any] = {}
_semaphores_lock = threading.Lock()


def _host_lease(url: str, per_host: int) -> Any:
    """The host's `distributed.Semaphore`, one object per worker process (each starts a lease-refresh timer)."""
    host = urlsplit(url).netloc.lower()
    key = (host, per_host)
    with _semaphores_lock:
        sem = _semaphores.get(key)
        if sem is None:
            import distributed

            semaphore: Any = distributed.Semaphore  # untyped
            # The limit is part of the name: batches with another --per-host cannot share a semaphore's size.
            sem = _semaphores[key] = semaphore(max_leases=per_host, name=f"batch-thumbnailer/{host}/{per_host}")
        return sem


# -- the client's side -------------------------------------------------------------------------------------------


class ClusterSession:
    """This batch's connection to a scheduler: submits items, hands finished futures to `on_done`, cancels."""

    def __init__(self, client: Client, address: str) -> None:
        self.client = client
        self.address = address
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()  # submit and cancel on the scheduler's thread, outcomes on Dask's callback thread
        self._slots = 0
        self._slots_asked = -SLOTS_INTERVAL

    @classmethod
    def connect(cls, address: str, should_abort: Callable[[], bool]) -> ClusterSession | None:
        """Reach the scheduler, wait for a worker, and check the workers run this version of the app.
        None when `should_abort` turned true while waiting for workers (the user cancelled)."""
        try:
            import distributed
        except ImportError:
            raise ClusterUnavailable(
                "running on a Dask cluster needs the 'distributed' package, in a source install: "
                "pip install 'batch-thumbnailer[cluster]'"
            ) from None
        client_class: Any = distributed.Client  # untyped
        try:
            client = client_class(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(
                f"cannot reach the Dask scheduler at {address}: {exc} (is `dask scheduler` running there?)"
            ) from None
        session = cls(client, address)
        try:
            if not session._wait_for_workers(should_abort):
                client.close()
                return None
            session._check_workers()
        except BaseException:
            client.close()
            raise
        return session

    def _wait_for_workers(self, should_abort: Callable[[], bool]) -> bool:
        """Wait for a first worker in short steps, so Cancel works at once; False when cancelled."""
        deadline = time.monotonic() + WORKER_WAIT
        while not should_abort():
            try:
                self.client.wait_for_workers(1, timeout=0.25)
                return True
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise ClusterUnavailable(
                        f"no Dask worker joined the scheduler at {self.address} within {WORKER_WAIT:g} s "
                        f"(start some with `dask worker {self.address}`)"
                    ) from None
        return False

    def _check_workers(self) -> None:
        try:
            versions = self.client.run(worker_version)
        except Exception as exc:
            raise ClusterUnavailable(
                f"the Dask workers at {self.address} cannot run Batch Thumbnailer ({type(exc).__name__}: {exc}); "
                f"install batch-thumbnailer {app_version()} in the workers' Python environment"
            ) from None
        other = sorted({v for v in versions.values() if v != app_version()})
        if other:
            raise ClusterUnavailable(
                f"the Dask workers at {self.address} run Batch Thumbnailer {', '.join(other)}, this is "
                f"{app_version()}: thumbnails would differ, so install the same version on every worker"
            )
        self.refresh_slots()

    def refresh_slots(self) -> int:
        """Worker threads on the cluster now (workers come and go), asked at most every few seconds."""
        now = time.monotonic()
        if now - self._slots_asked >= SLOTS_INTERVAL and self.running:
            self._slots_asked = now
            with contextlib.suppress(OSError, TimeoutError):  # keep the last figure; a lost scheduler cancels futures
                self._slots = sum(self.client.nthreads(callback_timeout=SLOTS_INTERVAL).values())
        return self._slots

    @property
    def capacity(self) -> int:
        return max(1, self._slots * TASKS_PER_THREAD)

    @property
    def running(self) -> bool:
        return bool(self.client.status == "running")

    def submit(self, key: str, job: RemoteJob, on_done: Callable[[str, Future], None]) -> None:
        """Start one task. `on_done(key, future)` runs on Dask's callback thread."""
        future = self.client.submit(run_remote, job, pure=False)
        with self._lock:
            self._futures[key] = future
        future.add_done_callback(lambda f: on_done(key, f))

    def outcome(self, key: str, future: Future) -> RemoteResult | BaseException | None:
        """The task's result, the exception it ended with, or None when it was cancelled. Forgets the future."""
        with self._lock:
            if self._futures.get(key) is future:
                del self._futures[key]
        if future.cancelled():
            return None
        try:
            result: RemoteResult = future.result(timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            return exc
        return result

    def cancel_all(self) -> None:
        """Cancel every task of this batch on the cluster; their callbacks still arrive, as cancelled."""
        with self._lock:
            futures = list(self._futures.values())
        if futures and self.running:
            self.client.cancel(futures)

    def close(self) -> None:
        with self._lock:
            self._futures.clear()
        self.client.close(timeout=CONNECT_TIMEOUT)


def describe_task_error(exc: BaseException) -> str:
    """Words for a task that ended with an exception rather than a result."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (
            "cluster workers died while making this thumbnail, each time it was tried (an image that crashes "
            "the decoder, or workers without enough memory)"
        )
    return f"the cluster task failed: {type(exc).__name__}: {exc}"


def write_thumb(out_dir: Path, thumb: RemoteThumb) -> Path:
    """Write one returned thumbnail atomically (temporary name, then rename), never outside `out_dir`."""
    final = safe_join(out_dir, thumb.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(thumb.data)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


# -- the backend -------------------------------------------------------------------------------------------------


class DaskBackend:
    """Each item is one task; the thumbnails come back as bytes and are written here. Room: two tasks per worker
    thread on the cluster. The per-host limit is the cluster's semaphore (`_host_lease`), shared by every worker."""

    def __init__(self, settings: Settings, *, interactive: bool = False, pool: object = None) -> None:
        if pool is not None:
            raise ValueError("a batch on a Dask cluster runs no resizer processes here")
        self._settings = settings
        self._limits = settings.fetch_limits()
        self._spec = settings.resize_spec()
        self._files = Downloader()  # reads the batch's local files here: they travel to the workers as bytes
        self._session: ClusterSession | None = None
        self._ctx: Context | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False

    @property
    def host_limit(self) -> None:
        return None

    def start(self, ctx: Context) -> bool:
        self._ctx = ctx
        self._session = ClusterSession.connect(self._settings.cluster, ctx.control.should_abort)
        return self._session is not None

    def has_room(self) -> bool:
        assert self._session is not None
        with self._lock:
            return self._in_flight < self._session.capacity

    def submit(self, item: PendingItem) -> None:
        """One task; a local file travels as bytes, checked here by the same limits."""
        assert self._session is not None and self._ctx is not None
        data = None
        if urlsplit(item.url).scheme == "file":
            try:
                got = self._files.fetch(item.url, self._ctx.spool, self._limits, self._ctx.control.should_abort)
                data = got.local_path().read_bytes()
            except FetchError as exc:
                self._ctx.report(FetchFailed(item.key, exc))
                return
            except DownloadAborted:
                self._ctx.report(Aborted(item.key))
                return
            except OSError as exc:
                self._ctx.report(Failed(item.key, f"cannot read the file: {describe_error(exc)}"))
                return
        job = RemoteJob(item.url, item_name(item), self._spec, self._limits, self._settings.per_host, data, item.focus)
        with self._lock:
            self._in_flight += 1
        self._session.submit(item.key, job, self._done)

    def cancel_queued(self) -> None:
        """Cancel every task on the cluster; running ones are cancelled too (their downloads end by their limits)."""
        if self._session is not None:
            self._session.cancel_all()

    def tick(self) -> None:
        assert self._ctx is not None
        if self._session is not None and not self._ctx.control.aborted:
            self._session.refresh_slots()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._files.close()
        if self._session is not None:
            self._session.close()

    def _done(self, key: str, future: Future) -> None:
        """Runs on Dask's callback thread."""
        with self._lock:
            self._in_flight -= 1
        assert self._ctx is not None
        self._ctx.report(self._event_for(key, future))

    def _event_for(self, key: str, future: Future) -> Event:
        assert self._session is not None and self._ctx is not None
        outcome = self._session.outcome(key, future)
        if outcome is None:  # cancelled: by us, or the scheduler went away
            if not self._ctx.control.aborted and not self._session.running:
                return Stop(key, f"lost the Dask scheduler at {self._session.address}")
            return Aborted(key)
        if not isinstance(outcome, RemoteResult):
            return Failed(key, describe_task_error(outcome))
        self._ctx.count_bytes(outcome.bytes)
        if outcome.fetch_error is not None:
            return FetchFailed(key, outcome.fetch_error)
        fetched = outcome.fetched()
        if outcome.error is not None:
            return Failed(key, outcome.error, fetched)
        out = Path(self._settings.out)
        outputs = []
        try:
            for thumb in outcome.thumbs:
                write_thumb(out, thumb)
                outputs.append(Output(thumb.name, thumb.width, thumb.height, len(thumb.data)))
        except OSError as exc:
            if exc.errno in FATAL_ERRNOS:
                return Stop(key, disk_error(exc, str(out)))
            return Failed(key, f"cannot write the thumbnail: {describe_error(exc)}", fetched)
        return Made(key, fetched, outcome.source_width, outcome.source_height, tuple(outputs), outcome.warning)
