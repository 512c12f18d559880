"""What the front end asks of a running batch (stop, pause), shared by the runner, the scheduler and backends."""

from __future__ import annotations

import threading
from enum import StrEnum


class Control:
    """Thread-safe flags: any thread may ask; the engine thread and the download threads look."""

    def __init__(self) -> None:
        self._abort = threading.Event()
        self._paused = threading.Event()
        self._done = threading.Event()

    def cancel(self) -> None:
        """Stop: downloads end mid-stream, nothing new starts. A paused batch is unpaused so it can wind down."""
        self._abort.set()
        self._paused.clear()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def finish(self) -> None:
        """The batch has ended (its summary is on its way)."""
        self._done.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def should_abort(self) -> bool:
        """`aborted` as a callable, for downloads that poll it."""
        return self._abort.is_set()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()


class BatchMode(StrEnum):
    """Which items a new batch redoes; the journal stores the value as written here."""

    NORMAL = "normal"  # skip what an earlier run made with the same output settings
    FORCE = "force"  # redo everything
    RETRY_FAILED = "retry_failed"  # also redo what failed in an earlier run
