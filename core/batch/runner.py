"""The runner: one batch from entries to thumbnails, shared by the command and the window.

A thin `QObject` front: it picks the backend the settings select (`core.batch.backends`), runs the scheduler
(`core.batch.scheduler`) on an engine thread of its own, and turns the scheduler's reports into Qt signals,
which Qt queues to the receiver's thread. Pause, resume and cancel go through a `Control`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal

from core.batch.backends import create_backend
from core.batch.backends.base import BackendUnavailable, describe_error
from core.batch.backends.local import LocalBackend
from core.batch.backends.resize_pool import ResizePool
from core.batch.control import BatchMode, Control
from core.batch.folder_lock import OutputFolderError
from core.batch.scheduler import Listener, Scheduler, spool_dir
from core.models import Entry, Summary
from core.priority import lower_current_thread
from core.settings import Settings

__all__ = ["BatchMode", "Runner", "spool_dir"]


class Runner(QObject):
    """Run one batch. Signals are emitted from the engine thread; connect them normally."""

    prepared = Signal(int)
    planned = Signal(object)  # core.batch.remake.RemakePlan: done items made again, before the first download
    progress = Signal(object)
    finished = Signal(object)

    def __init__(
        self,
        settings: Settings,
        entries: Iterable[Entry] | None,
        *,
        mode: str = BatchMode.NORMAL,
        interactive: bool = False,
        pool: ResizePool | None = None,
        only: Iterable[str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """`mode`: a `BatchMode` (or its value). `interactive`: a window shows the batch, so its resizer processes
        run at the lowest priority. `pool`: resizer processes already starting (`backends.resize_pool.start_pool`);
        the runner owns them from here: they are shut down when the batch ends, or by `close` if it never starts.
        `only` (with `entries` None): redo just these keys of the run they belong to (`Scheduler`), whatever their
        state; the rest of that run stays as it was."""
        super().__init__(parent)
        try:
            self._mode = BatchMode(mode)
        except ValueError:
            raise ValueError(f"unknown mode {mode!r}") from None
        self._settings = settings.validated()
        self._entries = entries
        self._only = None if only is None else frozenset(only)
        if self._only is not None and entries is not None:
            raise ValueError("`only` picks items of the last run: give no entries with it")
        self.interactive = interactive
        self._control = Control()
        self._backend = create_backend(self._settings, interactive=interactive, pool=pool)
        self._thread: threading.Thread | None = None
        self._run_id = 0

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def run_id(self) -> int:
        return self._run_id

    @property
    def pool(self) -> ResizePool | None:
        """The local backend's resizer processes once started (for memory readings and tests); None on Dask."""
        return self._backend.pool if isinstance(self._backend, LocalBackend) else None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and not self._control.done

    @property
    def is_paused(self) -> bool:
        return self._control.paused

    def start(self) -> None:
        """Start the batch in the background; returns at once."""
        if self._thread is not None:
            raise RuntimeError("a Runner runs one batch; make a new one")
        # Not a daemon: the interpreter must not tear Qt down while the engine is still unwinding.
        self._thread = threading.Thread(target=self._engine, name="thumbnailer-engine")
        self._thread.start()

    def close(self) -> None:
        """Release what a runner that will never start holds (the resizer processes handed to it).
        After `start` it does nothing: the batch releases everything when it ends."""
        if self._thread is None:
            self._backend.close()

    def pause(self) -> None:
        """Start no new items; those in flight finish."""
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def pause_host(self, host: str) -> None:
        """Start nothing more from `host` (as `HostUpdate.host` names it); its items wait, and stay to do if the
        batch ends first."""
        self._control.hold_host(host)

    def resume_host(self, host: str) -> None:
        """Let `host` go on, also one paused for failing too often."""
        self._control.release_host(host)

    def cancel(self) -> None:
        """Stop downloads mid-stream, let running resizes finish, save the journal; resumable later."""
        self._control.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the batch has ended (the `finished` signal was emitted). For shutdown and tests."""
        if self._thread is None:
            return True
        self._thread.join(None if timeout_ms < 0 else timeout_ms / 1000)
        return not self._thread.is_alive()

    def _engine(self) -> None:
        lower_current_thread()  # a window's GUI thread wins a contended core (core/priority.py)
        started = time.monotonic()
        listener = Listener(
            run_opened=self._opened, prepared=self.prepared.emit, progress=self.progress.emit, planned=self.planned.emit
        )
        scheduler = Scheduler(
            self._settings, self._entries, self._mode, self._backend, self._control, listener, self._only
        )
        try:
            summary = scheduler.run()
        except Exception as exc:  # the batch cannot go on (folder not writable, journal broken, ...)
            summary = Summary(0, 0, 0, 0, 0, time.monotonic() - started, fatal=_describe(exc))
        self._control.finish()
        self.finished.emit(summary)

    def _opened(self, run_id: int) -> None:
        self._run_id = run_id


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BackendUnavailable | OutputFolderError):  # OutputFolderError: another batch writes there,
        return str(exc)  # or the journal is a newer release's
    if isinstance(exc, sqlite3.Error):  # e.g. a full disk under the journal: what is recorded stays recorded
        return f"the batch stopped: cannot update its journal ({exc}); fix that and run the same command again"
    return describe_error(exc)
