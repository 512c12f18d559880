"""Resizer processes that survive their own crashes.

`concurrent.futures.ProcessPoolExecutor` breaks as a whole when one worker dies and cannot say which job
killed it. Here each worker owns a pipe and runs one job at a time, so a segfault or an out-of-memory kill
fails exactly the job that worker held; the worker is replaced and the batch goes on. Each worker runs under an
address-space limit (one hostile image cannot take the machine down) and each job under a deadline (a decoder
stuck in a loop is stopped, not waited for). This is the pool's manager; what runs inside the processes is
`core.imaging.jobs` (its `ResizeJob` and `JobOutcome` are the pool's currency, importable from here too).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from core.imaging.jobs import JobOutcome, ResizeJob, memory_limit_for, worker_main
from core.priority import BACKGROUND_NICENESS, WINDOW_RESIZER_NICENESS, lower_current_thread, niceness_above_main
from core.settings import Settings, format_bytes

#: Seconds one job (decode and every size) may take before its worker is stopped. A 100 Mpx PNG takes a few
#: seconds on a slow machine; a decoder looping on hostile data would otherwise hold a worker forever.
JOB_TIMEOUT = 120.0
#: Seconds a new worker may take to say it is ready (a frozen app on a slow disk takes a few).
START_TIMEOUT = 60.0
#: Deaths before "ready" in a row after which the pool gives up (a broken install, not a bad image).
MAX_START_FAILURES = 3


class _Worker:
    def __init__(self, ctx: Any, memory_limit: int | None, niceness: int | None) -> None:
        self.conn, child = ctx.Pipe()
        note = f"a resizer may use {format_bytes(memory_limit)}, set from --max-pixels" if memory_limit else ""
        self.process = ctx.Process(target=worker_main, args=(child, memory_limit, niceness, note), daemon=True)
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
                job[1](JobOutcome(error=error))
            elif code in _STOPPED_FROM_OUTSIDE:
                job[1](JobOutcome(cancelled=True))  # the image is not at fault: it stays to do
            else:
                job[1](JobOutcome(error=f"the resizer process crashed on this image ({how})"))
        fresh = _Worker(self._ctx, self._memory_limit, self._niceness)
        with self._lock:
            self._workers.append(fresh)


#: Exit codes of a resizer stopped by a signal meant for everyone (systemd and a logout send SIGTERM to the whole
#: group; resizers ignore SIGINT, but a signal sent to them alone still counts), not by its image.
_STOPPED_FROM_OUTSIDE = frozenset({-signal.SIGTERM, -signal.SIGINT})


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
