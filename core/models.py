"""Plain data that crosses threads and processes: input entries, outcomes, progress snapshots.

Nothing here holds a Qt object, so everything can be pickled to a worker process or queued to the GUI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.imaging.focus import Focus


class Status(StrEnum):
    """An item's state. `pending`, `running` and `not reached` are the window's; reports show done, failed, skipped
    and invalid (an item a stopped batch did not reach is reported `skipped`, its error saying "not reached: ...")."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INVALID = "invalid"
    NOT_REACHED = "not reached"  # a cancelled or stopped batch ended before this item; it stays to do


@dataclass(frozen=True, slots=True)
class Entry:
    """One input item as the user gave it.

    `source` is the text exactly as written (a list's line, a path, a URL). `url` is the normalised
    URL to fetch (http, https or file) or None when the line is unusable, in which case `error` says
    why. `file`/`line` locate it in a list file. `focus`: where `--fit cover` crops it, chosen by hand (a CSV's
    `focus_x`, `focus_y` columns), or None for `--crop`'s choice. `rel_dir` is set for a file found in a folder:
    its folder relative to that folder ('2023/summer', '' at the top), which its thumbnails' names keep; None
    otherwise.
    """

    source: str
    url: str | None
    file: str | None = None
    line: int | None = None
    error: str | None = None
    focus: Focus | None = None
    rel_dir: str | None = None

    @property
    def key(self) -> str:
        """Identity in the journal: duplicates of a URL collapse, each invalid line stays its own."""
        if self.url is not None:
            return self.url
        return f"invalid:{self.file or '-'}:{self.line or 0}:{self.source}"


@dataclass(frozen=True, slots=True)
class Output:
    """One thumbnail written to disk; `path` is relative to the output folder."""

    path: str
    width: int
    height: int
    bytes: int


@dataclass(slots=True)
class ItemUpdate:
    """A change of one item's state, as shown in the queue and written to the report."""

    key: str
    source: str
    status: Status
    file: str | None = None
    line: int | None = None
    url: str | None = None
    error: str | None = None
    http_status: int | None = None
    bytes: int | None = None
    source_width: int | None = None
    source_height: int | None = None
    outputs: list[Output] = field(default_factory=list)
    seconds: float | None = None
    warning: str | None = None  # a `done` item's thumbnails were made, but from a file that decoded in part
    expanded: int | None = None  # a web page read under --pages: how many images it gave (queued as items)
    focus: Focus | None = None  # the crop chosen by hand for this item (the report's `crop`), None for automatic
    duplicate_of: str | None = None  # the URL of the item whose identical bytes were decoded for this one


@dataclass(slots=True)
class Progress:
    """A throttled snapshot of a batch (at most ~10 per second) plus the item changes since the last one."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    invalid: int = 0
    running: int = 0
    bytes_downloaded: int = 0
    elapsed: float = 0.0
    images_per_second: float = 0.0
    bytes_per_second: float = 0.0
    eta_seconds: float | None = None
    paused: bool = False
    updates: list[ItemUpdate] = field(default_factory=list)
    hosts: list[HostUpdate] = field(default_factory=list)  # hosts changed since the last snapshot
    not_reached: int = 0  # set in the last snapshot of a cancelled or stopped batch: items left to do

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped + self.invalid

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 0.0


@dataclass(slots=True)
class Summary:
    """How a batch ended. `fatal` is set when the batch stopped on its own (e.g. disk full); `warned` counts the
    `done` items made with a warning (a file that decoded in part). `skipped` counts only items made by an earlier
    run; `not_reached` the items a cancelled or stopped batch did not get to (left to do, resumable)."""

    total: int
    done: int
    failed: int
    skipped: int
    invalid: int
    seconds: float
    cancelled: bool = False
    fatal: str | None = None
    run_id: int = 0
    warned: int = 0
    not_reached: int = 0

    @property
    def done_words(self) -> str:
        """'12 done', or '12 done (2 with warnings)' when some were made with a warning."""
        if not self.warned:
            return f"{self.done} done"
        return f"{self.done} done ({self.warned} with warning{'' if self.warned == 1 else 's'})"

    @property
    def ok(self) -> bool:
        return not (self.failed or self.invalid or self.cancelled or self.fatal)


class HostState(StrEnum):
    """How a host's lane behaves now, as the Hosts view shows it."""

    OK = "ok"
    COOLING_DOWN = "cooling down"  # it answered 429/5xx or timed out: fewer connections, a pause before the next
    PAUSED = "paused"  # it failed too many times in a row: its remaining items fail
    HELD = "paused by you"  # its items wait until the user resumes it


@dataclass(frozen=True, slots=True)
class HostUpdate:
    """A host whose figures changed since the last snapshot. The engine forgets idle hosts, so counts come as
    what was added since the last update of that host; `in_flight`, `speed` and `state` are as they are now."""

    host: str
    state: HostState
    in_flight: int
    done_added: int = 0
    failed_added: int = 0
    bytes_added: int = 0
    bytes_per_second: float = 0.0
    error: str | None = None  # the last failure that was the host's fault, for the view's tooltip
