"""The interface between the batch scheduler and a place work runs, and the events a backend reports.

A backend takes items (`submit`) while it `has_room`, and reports what becomes of each through `Context.report`,
from any thread, as the typed events below. The scheduler owns everything else: the journal, per-host queues,
retries, counters and progress. A new backend is one module with a class that has this shape and one line in
`core.batch.backends.BACKENDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.batch.control import Control
from core.batch.journal import PendingItem
from core.download.fetch import Fetched, FetchError
from core.models import Output


class BackendUnavailable(RuntimeError):
    """The backend cannot run this batch (a cluster unreachable, ...); the message says why, for the user."""


# -- events: what became of an item ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Downloaded:
    """The download ended and the item is being resized; the host's download slot is free again."""

    key: str
    fetched: Fetched


@dataclass(frozen=True, slots=True)
class Made:
    """The thumbnails are written; `warning` when the user should know something (a file that decoded in part)."""

    key: str
    fetched: Fetched
    source_width: int
    source_height: int
    outputs: tuple[Output, ...]
    warning: str | None = None
    duplicate_of: str | None = None  # made by copying the thumbnails of this URL's identical download


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """One download attempt failed; the scheduler retries it when `error.retryable` and attempts are left."""

    key: str
    error: FetchError


@dataclass(frozen=True, slots=True)
class Failed:
    """The item failed for good, with a message for the user."""

    key: str
    error: str
    fetched: Fetched | None = None
    duplicate_of: str | None = None  # failed as this URL's identical download did


@dataclass(frozen=True, slots=True)
class Aborted:
    """The batch was cancelled before the item finished: it stays to do in the journal."""

    key: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The item is not at fault but the batch cannot go on (the output folder is full or read-only, the
    resizers cannot start, the cluster went away): the batch stops, the item stays to do."""

    key: str
    error: str


@dataclass(frozen=True, slots=True)
class PageRead:
    """The item's URL answered with a web page, read for its images under --pages (`fetched.page`): the
    scheduler adds them to the batch and the page's item is done."""

    key: str
    fetched: Fetched


Event = Downloaded | Made | FetchFailed | Failed | Aborted | Stop | PageRead


@dataclass(frozen=True, slots=True)
class Context:
    """What a backend is given when the batch starts: where downloads go, whether to stop, where to report
    (`report` and `count_bytes` are thread-safe)."""

    spool: Path
    control: Control
    report: Callable[[Event], None]
    count_bytes: Callable[[int], None]


class Backend(Protocol):
    """Where a batch's items are downloaded and resized. `close` may be called more than once (and without
    `start`, for a batch that never began): it releases everything the backend holds, once."""

    @property
    def host_limit(self) -> int | None:
        """Downloads from one host the scheduler may have in flight here; None when the backend enforces
        the per-host limit itself (the Dask backend's cluster-wide semaphore)."""
        ...

    def start(self, ctx: Context) -> bool:
        """Get ready for items; False when the batch was cancelled meanwhile. May raise BackendUnavailable."""
        ...

    def has_room(self) -> bool:
        """Whether one more item may be submitted now."""
        ...

    def submit(self, item: PendingItem) -> None:
        """Start one item (one download attempt and, if it succeeds, its resize); returns at once."""
        ...

    def cancel_queued(self) -> None:
        """The batch is stopping: drop work not yet started (reported as `Aborted`); running work finishes."""
        ...

    def tick(self) -> None:
        """Periodic housekeeping, ~10 times a second on the scheduler's thread."""
        ...

    def close(self) -> None:
        """Wait for work in flight to report, then release threads, processes and connections."""
        ...


def describe_error(exc: BaseException) -> str:
    """Words for an unexpected error: an OSError's reason and file, else the exception's type and text."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"
