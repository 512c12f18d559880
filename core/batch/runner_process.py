"""The runner in a process of its own, for the window.

In the window's process the engine thread, the download threads and the pool's dispatcher take most of a core
and the GIL; every time the GUI thread wants the GIL back it waits behind them, which is where a window's
stalls during a long batch came from. Here the same `Runner` runs in a child process, and the window's process
only receives its ~10 Hz progress snapshots. The interface is the Runner's own (signals, pause, resume, cancel,
wait), so the window does not know the difference. A child that dies ends the batch with a fatal summary; the
journal keeps everything not yet finished, so the batch can be resumed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from core import logs
from core.batch.backends.resize_pool import how_it_ended
from core.batch.control import BatchMode, HostAction
from core.batch.runner import Runner
from core.models import Entry, Progress, Summary
from core.priority import lower_current_thread
from core.settings import Settings

#: Entries cross to the child in chunks of this many, so a million-URL queue is never pickled at once.
CHUNK = 2000
#: Seconds the child's main thread waits for a control message before checking whether the batch ended.
POLL = 0.2


class Command(StrEnum):
    """What the window asks of its engine process."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class HostRequest:
    """The window asks its engine to hold or release one host."""

    action: HostAction
    host: str


#: A control message: a command for the whole batch, or one for a host.
Message = Command | HostRequest


@dataclass(frozen=True, slots=True)
class Prepared:
    """The engine process's `prepared` signal: the batch's item count."""

    total: int


#: What the engine process sends back: its three signals, each as its own type.
EngineEvent = Prepared | Progress | Summary


class RunnerProcess(QObject):
    """`Runner` in a child process. Signals are emitted from a reader thread; connect them normally."""

    prepared = Signal(int)
    progress = Signal(object)
    finished = Signal(object)

    def __init__(
        self,
        settings: Settings,
        entries: Iterable[Entry] | None,
        *,
        mode: str = BatchMode.NORMAL,
        only: Iterable[str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """As `Runner`'s arguments."""
        super().__init__(parent)
        try:  # here, not only in the child, where it would surface as a dead engine
            self._mode = BatchMode(mode)
        except ValueError:
            raise ValueError(f"unknown mode {mode!r}") from None
        self._settings = settings.validated()
        self._entries = entries
        self._only = None if only is None else frozenset(only)
        if self._only is not None and entries is not None:
            raise ValueError("`only` picks items of the last run: give no entries with it")
        self._paused = False
        self._ended = threading.Event()
        self._reader: threading.Thread | None = None
        self._process: Any = None
        self._control: Connection | None = None
        self._control_lock = threading.Lock()
        self._before_start: list[Message] = []  # what was asked for before `start`

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def is_running(self) -> bool:
        return self._reader is not None and not self._ended.is_set()

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def pid(self) -> int | None:
        """The engine process's id once started (for memory readings and tests)."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the child and return at once; the entries are streamed to it from a background thread."""
        if self._reader is not None:
            raise RuntimeError("a RunnerProcess runs one batch; make a new one")
        ctx = multiprocessing.get_context("spawn")
        control, child_control = ctx.Pipe()
        events_r, events_w = ctx.Pipe(duplex=False)
        feed_r, feed_w = ctx.Pipe(duplex=False) if self._entries is not None else (None, None)
        # Not a daemon: daemonic processes may not start the resizer processes.
        self._process = ctx.Process(
            target=_child_main,
            args=(child_control, events_w, feed_r, self._settings, self._mode, self._only, self._before_start),
            name="thumbnailer-engine",
        )
        self._process.start()
        for end in (child_control, events_w, feed_r):
            if end is not None:
                end.close()
        self._control = control
        self._reader = threading.Thread(target=self._read, args=(events_r,), name="engine-events", daemon=True)
        self._reader.start()
        if feed_w is not None:
            entries, self._entries = self._entries, None
            threading.Thread(target=_feed, args=(feed_w, entries), name="engine-feed", daemon=True).start()

    def pause(self) -> None:
        self._paused = True
        self._send(Command.PAUSE)

    def resume(self) -> None:
        self._paused = False
        self._send(Command.RESUME)

    def cancel(self) -> None:
        self._paused = False
        self._send(Command.CANCEL)

    def pause_host(self, host: str) -> None:
        self._send(HostRequest(HostAction.HOLD, host))

    def resume_host(self, host: str) -> None:
        self._send(HostRequest(HostAction.RELEASE, host))

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the batch has ended (the `finished` signal was emitted). For shutdown and tests."""
        if self._reader is None:
            return True
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        self._reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self._reader.is_alive():
            return False
        self._process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self._process.is_alive()

    def _send(self, message: Message) -> None:
        with self._control_lock:
            if self._reader is None:
                self._before_start.append(message)
            elif self._control is not None:
                with contextlib.suppress(OSError):  # the child has ended: its finished message is on its way
                    self._control.send(message)

    def _read(self, events: Connection) -> None:
        """Runs on the reader thread: re-emit the child's signals here, until it says it finished or dies."""
        lower_current_thread()
        summary: Summary | None = None
        started = time.monotonic()
        try:
            while summary is None:
                event: EngineEvent = events.recv()
                match event:
                    case Prepared(total):
                        self.prepared.emit(total)
                    case Progress():
                        self.progress.emit(event)
                    case Summary():
                        summary = event
        except (EOFError, OSError):  # the child died before it could say how the batch ended
            self._process.join()
            how = how_it_ended(self._process.exitcode)
            summary = Summary(
                0, 0, 0, 0, 0, time.monotonic() - started, fatal=f"the batch's engine process stopped ({how})"
            )
        finally:
            events.close()
        with self._control_lock:
            if self._control is not None:
                self._control.close()
                self._control = None
        self._ended.set()
        self.finished.emit(summary)


def _feed(feed: Connection, entries: Iterable[Entry]) -> None:
    """Runs on a feeder thread: stream the entries, then None. Stops early when the child stops reading."""
    lower_current_thread()
    it = iter(entries)
    try:
        while chunk := list(islice(it, CHUNK)):
            feed.send(chunk)
        feed.send(None)
    except OSError:  # the child ended (cancelled while the list was still being journalled)
        pass
    finally:
        feed.close()


def _received(feed: Connection) -> Iterator[Entry]:
    """The child's side of `_feed`, consumed by the runner as it journals the entries."""
    try:
        while (chunk := feed.recv()) is not None:
            yield from chunk
    except EOFError:  # the window went away mid-list: what arrived is journalled, the batch can be resumed
        return
    finally:
        feed.close()


def _child_main(
    control: Connection,
    events: Connection,
    feed: Connection | None,
    settings: Settings,
    mode: BatchMode,
    only: frozenset[str] | None,
    before_start: list[Message],
) -> None:
    """The child: run the batch, forward the runner's signals, obey pause, resume and cancel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the window's terminal is the window's to handle
    logs.configure_child("engine")  # the window's log file and -v (a spawned process inherits no handlers)
    send_lock = threading.Lock()

    def send(event: EngineEvent) -> None:
        with send_lock, contextlib.suppress(OSError):  # the window is gone: the batch still ends cleanly
            events.send(event)

    runner = Runner(settings, None if feed is None else _received(feed), mode=mode, interactive=True, only=only)
    direct = Qt.ConnectionType.DirectConnection  # this process has no event loop: forward from the engine thread
    runner.prepared.connect(lambda total: send(Prepared(total)), direct)
    runner.progress.connect(send, direct)
    runner.finished.connect(send, direct)
    for message in before_start:
        _obey(runner, message)
    runner.start()
    try:
        while runner.is_running:
            if control.poll(POLL):
                _obey(runner, control.recv())
    except (EOFError, OSError):  # the window closed or died: stop, keep the journal
        runner.cancel()
    runner.wait()
    events.close()


def _obey(runner: Runner, message: Message) -> None:
    match message:
        case HostRequest(HostAction.HOLD, host):
            runner.pause_host(host)
        case HostRequest(HostAction.RELEASE, host):
            runner.resume_host(host)
        case Command.PAUSE:
            runner.pause()
        case Command.RESUME:
            runner.resume()
        case Command.CANCEL:
            runner.cancel()
