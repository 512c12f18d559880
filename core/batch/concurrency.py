"""How many downloads the local backend keeps in flight: more while that raises throughput and the machine keeps up,
fewer when it does not.

On the real web a download waits on round trips most of its time, so a latency-bound list needs far more than 16 at
once; a list from a fast server is bound by the resizers, where more downloads only pile up undecoded files.
`ConcurrencyController` is fed one `Sample` a period (what the backend measured) and answers the limit for the next:
it doubles the limit while the downloads were held back by it and the bytes a second rose with the last increase
(slow start, then steps of a quarter once a probe found no gain), holds when the engine process is busy (its threads
share one GIL), nothing waited or the resizers are catching up on a backlog, and shrinks by a quarter when the
resizers fall further behind or memory runs low. It never goes below `floor` (today's 16, so a CPU-bound list runs
as it did) nor above `ceiling` (`--threads`). Pure logic, no threads, no clock: tested by feeding it samples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

#: The limit's floor and where it starts: what --threads was before it adapted.
START = 16
PERIOD = 0.3  # seconds a sample covers
GAIN = 1.05  # a probe counts as an improvement when the byte rate rose by at least this factor
BUSY_CPU = 0.9  # the engine process's CPU seconds a second at which its threads are GIL-bound
SHRINK = 0.75
RETRY_PROBE_PERIODS = 5  # after a probe that gained nothing, wait this many periods before the next
LOW_MEMORY_FRACTION = 0.1


class Move(StrEnum):
    """What the controller did with a sample, for logs and tests."""

    GROW = "grow"
    HOLD = "hold"
    REVERT = "revert"
    SHRINK = "shrink"


@dataclass(frozen=True, slots=True)
class Sample:
    """What the backend saw over one period."""

    seconds: float
    bytes: int  # downloaded in the period
    held_back: bool  # an item could have started but the limit said no
    backlog: float  # downloaded items waiting for a resizer (beyond one per resizer), on average
    cpu: float  # the engine process's CPU seconds per second in the period
    memory_low: bool = False


class ConcurrencyController:
    """The adaptive limit on downloads in flight; see the module's docstring."""

    def __init__(self, floor: int, ceiling: int, backlog_limit: float) -> None:
        """The limit starts at `floor` and stays within `floor`..`ceiling` (a floor above the ceiling is lowered);
        `backlog_limit`: the resizer backlog the machine keeps up with."""
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.backlog_limit = backlog_limit
        self.limit = self.floor
        self._before: tuple[int, float] | None = None  # (limit, byte rate) before the probe being judged
        self._slow_start = True
        self._wait = 0  # periods before probing again
        self._backlog = 0.0  # the last sample's

    def update(self, sample: Sample) -> Move:
        """Take one period's sample; `limit` is then the limit for the next period."""
        move = self._decide(sample)
        if move is not Move.HOLD:
            log.debug(
                "downloads in flight: %s to %d (%.0f KB/s, backlog %.1f, CPU %.2f%s)",
                move.value, self.limit, sample.bytes / max(sample.seconds, 1e-6) / 1000, sample.backlog, sample.cpu,
                ", memory low" if sample.memory_low else "",
            )  # fmt: skip
        return move

    def _decide(self, sample: Sample) -> Move:
        rate = sample.bytes / sample.seconds if sample.seconds > 0 else 0.0
        backlog_before, self._backlog = self._backlog, sample.backlog
        if sample.backlog > self.backlog_limit and sample.backlog <= backlog_before:
            self._before = None  # the resizers are catching up: no probe, no cut
            return Move.HOLD
        if sample.memory_low or sample.backlog > self.backlog_limit:
            self._before = None
            if self.limit == self.floor:
                return Move.HOLD
            self.limit = max(self.floor, int(self.limit * SHRINK))
            return Move.SHRINK
        if self._before is not None:
            limit_before, rate_before = self._before
            self._before = None
            if rate < rate_before * GAIN:  # more downloads did not bring more bytes: back to where it was
                self.limit = limit_before
                self._slow_start = False
                self._wait = RETRY_PROBE_PERIODS
                return Move.REVERT
        if self._wait > 0:
            self._wait -= 1
            return Move.HOLD
        if not sample.held_back or sample.cpu >= BUSY_CPU or self.limit >= self.ceiling:
            return Move.HOLD
        self._before = (self.limit, rate)
        step = self.limit if self._slow_start else max(1, self.limit // 4)
        self.limit = min(self.ceiling, self.limit + step)
        return Move.GROW


def memory_low() -> bool:
    """Whether the machine has less than a tenth of its memory available (Linux; elsewhere never)."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return False
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("MemTotal", "MemAvailable"):
            values[name] = int(rest.split()[0])
    if len(values) < 2:
        return False
    return values["MemAvailable"] < LOW_MEMORY_FRACTION * values["MemTotal"]
