"""Resizer processes that survive their own crashes.

`concurrent.futures.ProcessPoolExecutor` breaks as a whole when one worker dies and cannot say which job
killed it. Here each worker owns a pipe and runs one job at a time, so a segfault or an out-of-memory kill
fails exactly the job that worker held; the worker is replaced and the batch goes on. Each worker runs under an
address-space limit (one hostile image cannot take the machine down) and each job under a deadline (a decoder
stuck in a loop is stopped, not waited for). No Qt in this module: worker processes import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from core.download import shared_spool
from core.download.shared_spool import Slot
from core.imaging.spec import ResizeError, ResizeResult, ResizeSpec
from core.priority import BACKGROUND_NICENESS, WINDOW_RESIZER_NICENESS, lower_current_thread, niceness_above_main
from core.settings import Settings, format_bytes

#: errno values that mean "the output folder cannot take files": the batch stops instead of failing every item.
#: EFBIG is a file-size limit (RLIMIT_FSIZE, a quota): no thumbnail is large for its own sake.
FATAL_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EPERM, errno.EDQUOT, errno.EFBIG}

#: Seconds one job (decode and every size) may take before its worker is stopped. A 100 Mpx PNG takes a few
#: seconds on a slow machine; a decoder looping on hostile data would otherwise hold a worker forever.
JOB_TIMEOUT = 120.0
#: Seconds a new worker may take to say it is ready (a frozen app on a slow disk takes a few).
START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ResizeJob:
    src: str | Slot  # a file, or a download held in the batch's shared spool
    out_dir: str
    stem: str
    spec: ResizeSpec


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """`result` on success; else `error` (a user-facing message) and `fatal` when the disk refused;
    `cancelled` when the job was dropped from the queue before it started."""

    result: ResizeResult | None = None
    error: str | None = None
    fatal: bool = False
    cancelled: bool = False


def memory_limit_for(max_pixels: int) -> int:
    """Address-space cap per worker: room to decode the largest allowed image plus the interpreter and the
    largest output canvas, so one hostile image cannot take the machine down.

    16 bytes a pixel: the worst paths measured keep three full-size copies alive at once (an LA or palette
    image expanded to RGBA, its alpha band, the upright copy after an EXIF rotation: 13.5 bytes a pixel)."""
    return 768 * 1024**2 + max_pixels * 16


def _limit_memory(limit: int | None) -> None:
    if not limit:
        return
    try:
        import resource
    except ImportError:  # not on Windows
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_job(job: ResizeJob, memory_limit: int | None = None) -> JobOutcome:
    """One job's outcome, never an exception: run by the local workers and by cluster tasks (backends.cluster)."""
    from core.imaging.resize import make_thumbnails  # the decoders: only where jobs run, not where they are handed out

    limit = f"a resizer may use {format_bytes(memory_limit)}, set from --max-pixels" if memory_limit else ""
    try:
        src = shared_spool.read(job.src) if isinstance(job.src, Slot) else job.src
        return JobOutcome(result=make_thumbnails(src, Path(job.out_dir), job.stem, job.spec))
    except ResizeError as exc:
        cause = exc.__cause__
        fatal = isinstance(cause, OSError) and cause.errno in FATAL_ERRNOS
        if isinstance(cause, MemoryError) and limit:
            return JobOutcome(error=f"{exc} ({limit})")
        return JobOutcome(error=str(exc), fatal=fatal)
    except MemoryError:
        return JobOutcome(error="out of memory while making thumbnails" + (f" ({limit})" if limit else ""))
    except OSError as exc:
        if exc.errno in FATAL_ERRNOS:
            return JobOutcome(error=disk_error(exc, job.out_dir), fatal=True)
        return JobOutcome(error=f"cannot read or write image: {exc}")
    except Exception as exc:  # a decoder bug must fail one item, not the worker
        return JobOutcome(error=f"cannot make thumbnail: {type(exc).__name__}: {exc}")


def disk_error(exc: OSError, folder: str, doing: str = "write thumbnails") -> str:
    """The words for a FATAL_ERRNOS error: what failed, why, and in which folder (not a temporary name)."""
    where = str(Path(exc.filename).parent) if exc.filename else folder
    hint = " (a file-size limit: ulimit -f, or a quota)" if exc.errno == errno.EFBIG else ""
    return f"cannot {doing}: {exc.strerror}{hint}: {where}"


#: glibc mallopt() parameters: keep up to this much freed memory at the top of the heap (M_TRIM_THRESHOLD), and
#: serve requests up to the second from the heap, not from fresh mmap()s (M_MMAP_THRESHOLD; glibc's maximum,
#: above Pillow's 16 MiB image blocks).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED = 64 * 1024**2
_HEAP_UP_TO = 32 * 1024**2


def _keep_freed_memory() -> bool:
    """Let the worker reuse the memory of the last image for the next one.

    By default glibc hands each image's buffers (Pillow allocates them in blocks of up to 16 MiB) back to the
    kernel when they are freed, so every decode page-faults them in again: about 4,000 faults and 8 ms of
    kernel time for a 1600x1200 RGBA PNG, 15% of the job. Kept, they cost up to about _KEEP_FREED of resident
    memory between jobs; the address-space limit still counts them. Other C libraries are left alone."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and other libcs without mallopt()
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)) and bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO))


READY = "ready"
MAX_START_FAILURES = 3


def _settle_in(memory_limit: int | None, niceness: int | None) -> None:
    """A new resizer process's limits, memory habits and priority, before its first job."""
    from core.imaging import png_inflate, resize  # noqa: F401 -- the decoders, loaded before the worker says it is ready

    _limit_memory(memory_limit)
    if _keep_freed_memory():
        png_inflate.enable()  # it pays only where the previous image's buffers are reused
    if niceness is not None:  # when cores are short, the window and the downloads go first
        with contextlib.suppress(OSError):  # a niceness below the inherited one needs privileges: keep that
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    warnings.simplefilter("ignore")  # Pillow's notes about odd files would fill the user's terminal


def _worker_main(conn: Connection, memory_limit: int | None, niceness: int | None) -> None:
    """Loop of one resizer process: receive a job, send its outcome, until the pipe closes. When the program
    that started it is gone (killed), it ends quietly; when the pool is done, at once."""
    _settle_in(memory_limit, niceness)
    message: object = READY  # imports done: from now on a death is the job's fault, not start-up's
    while True:
        try:
            conn.send(message)
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:  # nothing to flush or close: an interpreter's teardown would only delay the batch's end
            os._exit(0)
        message = run_job(job, memory_limit)


class _Worker:
    def __init__(self, ctx: Any, memory_limit: int | None, niceness: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, memory_limit, niceness), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.job: tuple[ResizeJob, Callable[[JobOutcome], None]] | None = None
        self.deadline = time.monotonic() + START_TIMEOUT  # to be ready; then, for each job, to finish it
        self.overdue = False

    def ask_to_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)

    def wait_or_kill(self, timeout: float) -> None:
        """After `ask_to_stop`: give the worker `timeout` seconds to end, then kill it; close its pipe."""
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        self.process.close()


def _stop_all(workers: list[_Worker], timeout: float) -> None:
    """Ask every worker first, then wait: the interpreters wind down side by side, not one after another."""
    for w in workers:
        w.ask_to_stop()
    for w in workers:
        w.wait_or_kill(timeout)


class ResizePool:
    """N resizer processes fed from a queue; `submit` is thread-safe, callbacks run on the pool's thread."""

    def __init__(
        self,
        processes: int,
        memory_limit: int | None = None,
        job_timeout: float | None = None,
        niceness: int = BACKGROUND_NICENESS,
    ) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._memory_limit = memory_limit
        # Absolute, from the main thread's: a worker inherits the niceness of the (lowered) thread that starts it.
        self._niceness = niceness_above_main(niceness) if hasattr(os, "setpriority") else None
        self._job_timeout = JOB_TIMEOUT if job_timeout is None else job_timeout
        self._size = processes
        self._queue: deque[tuple[ResizeJob, Callable[[JobOutcome], None]]] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._closing = False
        self._start_failures = 0
        self._broken: str | None = None
        self._workers: list[_Worker] = []
        self._thread = threading.Thread(target=self._dispatch, name="resize-dispatch", daemon=True)
        self._thread.start()

    def submit(self, job: ResizeJob, callback: Callable[[JobOutcome], None]) -> None:
        with self._lock:
            broken = self._broken
            if not broken:
                self._queue.append((job, callback))
        if broken:
            callback(JobOutcome(error=broken, fatal=True))
        self._wake()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def busy(self) -> int:
        with self._lock:
            return sum(1 for w in self._workers if w.job is not None) + len(self._queue)

    def cancel_queued(self) -> None:
        """Drop jobs not yet started; their callbacks get a `cancelled` outcome. Running jobs finish."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
        for _job, callback in dropped:
            callback(JobOutcome(cancelled=True))

    def shutdown(self) -> None:
        """Let running jobs finish (no half-written files), cancel queued ones, stop the processes.
        Calling it again does nothing."""
        self.cancel_queued()
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake()
        self._thread.join()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send_bytes(b"!")

    def _dispatch(self) -> None:
        lower_current_thread()  # a window's GUI thread wins a contended core
        try:
            self._workers = [_Worker(self._ctx, self._memory_limit, self._niceness) for _ in range(self._size)]
            self._loop()
        except Exception as exc:  # never leave the runner waiting for outcomes that cannot come
            self._fail_everything(f"the resizer pool failed: {type(exc).__name__}: {' '.join(str(exc).split())}")
        _stop_all(self._workers, timeout=5)

    def _loop(self) -> None:
        while True:
            with self._lock:
                closing = self._closing
                if not closing:
                    for w in self._workers:
                        if w.ready and w.job is None and self._queue:
                            w.job = self._queue.popleft()
                            w.deadline = time.monotonic() + self._job_timeout
                            with contextlib.suppress(OSError):  # a dead worker shows through its sentinel
                                w.conn.send(w.job[0])
                busy = [w for w in self._workers if w.job is not None]
                if self._broken:
                    return
            if closing and not busy:
                return
            waitables: list[Any] = [self._wake_r]
            for w in self._workers:
                waitables.append(w.process.sentinel)
                if w.job is not None or not w.ready:
                    waitables.append(w.conn)
            waiting = [w for w in self._workers if w.job is not None or not w.ready]
            due = min((w.deadline for w in waiting), default=time.monotonic() + 1.0)
            ready = wait(waitables, timeout=min(1.0, max(0.0, due - time.monotonic())))
            if self._wake_r in ready:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            for w in list(self._workers):
                if w.conn in ready:
                    self._collect(w)
                elif w.process.sentinel in ready and not w.process.is_alive():
                    self._replace(w)
            self._stop_overdue()

    def _stop_overdue(self) -> None:
        """Kill a worker whose job ran past its deadline, or that never got ready; `_replace` fails that job
        (or counts a failed start) and starts a new worker."""
        now = time.monotonic()
        for w in list(self._workers):
            if (w.ready and w.job is None) or now < w.deadline:
                continue
            if w.conn.poll():  # it finished just in time
                self._collect(w)
                continue
            w.overdue = True
            w.process.kill()
            self._replace(w)

    def _collect(self, w: _Worker) -> None:
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            self._replace(w)
            return
        if not w.ready:
            w.ready = True
            self._start_failures = 0
            return
        assert w.job is not None
        _job, callback = w.job
        w.job = None
        callback(message)

    def _fail_everything(self, error: str) -> None:
        with self._lock:
            self._broken = error
            jobs = list(self._queue) + [w.job for w in self._workers if w.job is not None]
            self._queue.clear()
            for w in self._workers:
                w.job = None
        for _job, callback in jobs:
            callback(JobOutcome(error=error, fatal=True))

    def _replace(self, w: _Worker) -> None:
        """A worker died: fail its job (only that one) and start a fresh process in its place.

        A worker that dies before it said it was ready never ran a job: its job goes back to the queue,
        and after a few such deaths in a row the pool gives up (a broken install, not a bad image)."""
        w.process.join()
        code = w.process.exitcode
        job = w.job
        w.job = None
        how = how_it_ended(code)
        w.conn.close()
        w.process.close()
        with self._lock:
            self._workers.remove(w)
        if not w.ready:
            if w.overdue:
                how = f"did not start within {START_TIMEOUT:g} s"
            self._start_failures += 1
            if job is not None:
                with self._lock:
                    self._queue.appendleft(job)
            if self._start_failures >= MAX_START_FAILURES:
                self._fail_everything(f"the resizer processes cannot start ({how})")
                return
        elif job is not None:
            _remove_temp_files(Path(job[0].out_dir), job[0].stem)
            if w.overdue:
                error = (
                    f"making thumbnails took longer than {self._job_timeout:g} s, so the resizer was stopped "
                    "(a decoder stuck on hostile or damaged data)"
                )
            else:
                error = f"the resizer process crashed on this image ({how})"
            job[1](JobOutcome(error=error))
        fresh = _Worker(self._ctx, self._memory_limit, self._niceness)
        with self._lock:
            self._workers.append(fresh)


def start_pool(settings: Settings, interactive: bool = False) -> ResizePool:
    """A batch's resizer processes. `interactive`: a window shows the batch, so they run at the lowest priority.

    Started before the journal is read and written (by the command, before most of the program is imported),
    so the interpreters start while the rest gets ready: a fresh one takes a few tenths of a second to be ready
    on a busy machine, which is most of a small batch's wait for its first thumbnail."""
    niceness = WINDOW_RESIZER_NICENESS if interactive else BACKGROUND_NICENESS
    return ResizePool(settings.processes, memory_limit_for(settings.max_pixels), niceness=niceness)


def how_it_ended(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"killed by signal {-code}"
    return f"killed by signal {-code}, {name}"


def _remove_temp_files(out_dir: Path, stem: str) -> None:
    """A worker killed mid-write leaves its temporary file; the final name was never touched."""
    folder = (out_dir / stem).parent
    name = Path(stem).name
    try:
        for p in folder.glob(f".{name}*.tmp"):
            p.unlink(missing_ok=True)
    except OSError:
        pass
