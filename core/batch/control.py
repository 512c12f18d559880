"""What the front end asks of a running batch (stop, pause), shared by the runner, the scheduler and backends."""

from __future__ import annotations

import queue
import threading
from enum import StrEnum


class HostAction(StrEnum):
    """What the user asks of one host."""

    HOLD = "hold"  # its items wait (pending) until released
    RELEASE = "release"


class Control:
    """Thread-safe flags: any thread may ask; the engine thread and the download threads look."""

    def __init__(self) -> None:
        self._abort = threading.Event()
        self._paused = threading.Event()
        self._done = threading.Event()
        self._host_actions: queue.SimpleQueue[tuple[HostAction, str]] = queue.SimpleQueue()

    def cancel(self) -> None:
        """Stop: downloads end mid-stream, nothing new starts. A paused batch is unpaused so it can wind down."""
        self._abort.set()
        self._paused.clear()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def hold_host(self, host: str) -> None:
        """Start nothing more from `host` (a key of `core.batch.lanes.host_of`); its items wait, not failed."""
        self._host_actions.put((HostAction.HOLD, host))

    def release_host(self, host: str) -> None:
        """Let `host` go on, also after it was paused for failing too often."""
        self._host_actions.put((HostAction.RELEASE, host))

    def host_actions(self) -> list[tuple[HostAction, str]]:
        """The host requests since the last call, in order (the engine thread takes them)."""
        taken: list[tuple[HostAction, str]] = []
        while True:
            try:
                taken.append(self._host_actions.get_nowait())
            except queue.Empty:
                return taken

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
