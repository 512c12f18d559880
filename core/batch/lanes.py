"""Per-host lanes: items pulled from the journal wait here for a free download slot of their host.

A lane is polite to its host. A failure that is the host's fault (429, 5xx, a timeout, a refused or reset
connection: every retryable download error) cools the host down: its connection limit is halved (down to one)
and nothing new starts there before the server's Retry-After has passed (for the whole host, not only the item
that got it) or, from the second cool-down in a row, an exponential backoff; other hosts go on at full speed.
Each answer after that gives one connection back. A host that fails `FAILURES_TO_PAUSE`
times in a row is paused: its remaining items fail at once with one clear message instead of each being retried
to exhaustion. The user may hold a host: its items wait (pending, never failed) until it is released.

Only hosts with something waiting, in flight, retrying, cooling or paused have a lane, so the table stays as
small as the work in hand however many hosts a list names. The engine thread alone uses this module.
"""

from __future__ import annotations

import random
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.batch.journal import PendingItem
from core.download.fetch import FetchError
from core.models import HostState, HostUpdate
from core.sources import InvalidSource, normalise_url

#: Host-fault failures in a row that pause a host.
FAILURES_TO_PAUSE = 8
#: Longest cool-down (seconds); a longer Retry-After fails the item instead (the scheduler's MAX_RETRY_AFTER).
MAX_COOL_DOWN = 120.0
#: Paused hosts remembered at most; the oldest is forgotten first (and would be paused again if still failing).
MAX_PAUSED = 10_000
#: Hosts without a --per-host limit in this process (the Dask backend keeps its own) get it back at this many.
UNLIMITED_AGAIN = 16
RATE_WINDOW = 5.0


def host_of(url: str) -> str:
    """The per-host limit's key; local files and data: URLs have none. An international host is keyed by its
    UTS #46 form, as the connection reaches it (normalised URLs have it already; this guards older journals)."""
    parts = urlsplit(url)
    if parts.scheme in ("file", "data"):
        return ""
    netloc = parts.netloc.lower()
    if not netloc.isascii():
        with suppress(InvalidSource):
            return urlsplit(normalise_url(url)).netloc
    return netloc


def cool_down_delay(rounds: int, retry_after: float | None) -> float | None:
    """Seconds nothing new starts on a host in its `rounds`-th cool-down in a row: its Retry-After; without one,
    none the first time (one failing URL on a busy host costs only connections), then 0.5 s doubling, jittered."""
    if retry_after is not None:
        return min(MAX_COOL_DOWN, max(0.0, retry_after))
    if rounds < 2:
        return None
    return min(30.0, 0.5 * 2.0 ** (rounds - 2)) * random.uniform(0.5, 1.5)


def pause_message(failures: int, error: str) -> str:
    return f"host paused after {failures} failures in a row: {error}"


@dataclass(slots=True)
class _Lane:
    """One host: its waiting items, its connections, its health and what changed since the last report."""

    limit: int | None
    active: int = 0
    retrying: int = 0  # items of this host waiting in the scheduler's retry queue
    waiting: deque[PendingItem] = field(default_factory=deque)
    cool_until: float = 0.0
    cut_at: float = 0.0  # when the limit was last halved: failures of attempts started before do not halve it again
    failures: int = 0  # items whose first attempt failed since the host last answered
    rounds: int = 0  # cool-downs in a row: the backoff doubles with each
    error: str | None = None
    paused: str | None = None  # the message its items fail with
    held: bool = False
    recent: deque[tuple[float, int]] = field(default_factory=deque)  # (when, bytes) of downloads in the window
    created: float = field(default_factory=time.monotonic)
    reported: HostUpdate | None = None


class Lanes:
    """Items pulled from the journal, waiting for a free slot of their host, and each host's lane."""

    def __init__(self, host_limit: int | None) -> None:
        """`host_limit`: downloads per host at once; None when the backend enforces the limit itself."""
        self.host_limit = host_limit
        self.buffer: deque[PendingItem] = deque()
        self._lanes: dict[str, _Lane] = {}
        self._ready: dict[str, _Lane] = {}  # lanes with waiting items, in the order they began waiting
        self._waiting = 0
        self._held_waiting = 0
        self._dirty: set[str] = set()  # hosts to report at the next tick (also forgotten ones: as idle)
        self._added: dict[str, list[int]] = {}  # host -> [done, failed, bytes] since the last tick
        self.refused: list[tuple[PendingItem, str]] = []  # items of paused hosts, for the scheduler to fail

    def __len__(self) -> int:
        """Items held in memory (the journal read-ahead counts them)."""
        return len(self.buffer) + self._waiting

    @property
    def movable(self) -> int:
        """Items that may still start in this run (not waiting for a host the user holds)."""
        return len(self.buffer) + self._waiting - self._held_waiting

    @property
    def held_waiting(self) -> int:
        return self._held_waiting

    @property
    def hosts_known(self) -> int:
        """Lanes in the table: hosts with work in hand, a cool-down, or a pause."""
        return len(self._lanes)

    def state(self, host: str, now: float | None = None) -> HostState:
        lane = self._lanes.get(host)
        return HostState.OK if lane is None else self._state(lane, time.monotonic() if now is None else now)

    def _state(self, lane: _Lane, now: float) -> HostState:
        if lane.held:
            return HostState.HELD
        if lane.paused is not None:
            return HostState.PAUSED
        if now < lane.cool_until or lane.limit != self.host_limit:
            return HostState.COOLING_DOWN
        return HostState.OK

    def paused_message(self, host: str) -> str | None:
        lane = self._lanes.get(host)
        return None if lane is None else lane.paused

    # -- the scheduler's calls --------------------------------------------------------------------------------

    def next_item(self, now: float) -> PendingItem | None:
        """The next item whose host has a free slot; items of busy hosts wait in their lane. Items of a paused
        host go to `refused`."""
        for host, lane in self._ready.items():
            if self._free(lane, now):
                return self._pop_waiting(host, lane)
        while self.buffer:
            item = self.buffer.popleft()
            host = host_of(item.url)
            if not host:
                return item
            lane = self._lanes.get(host) or self._lane(host)
            if lane.paused is not None and not lane.held:
                self.refused.append((item, lane.paused))
                continue
            if not lane.waiting and self._free(lane, now):
                return item
            self._wait(host, lane, item)
        return None

    def requeue(self, item: PendingItem, host: str) -> None:
        """A retry is due: it waits behind its host's other items, so a failing host is tried on other addresses
        (and paused soon if they fail too) rather than on the same one again and again."""
        if not host:
            self.buffer.append(item)
            return
        lane = self._lane(host)
        lane.retrying -= 1
        if lane.paused is not None and not lane.held:
            self.refused.append((item, lane.paused))
            self._forget_if_idle(host, lane, time.monotonic())
            return
        self._wait(host, lane, item)

    def started(self, host: str) -> None:
        if host:
            self._lane(host).active += 1
            self._dirty.add(host)

    def retry_later(self, host: str) -> None:
        """An item of `host` went to the retry queue; its lane stays until it is back."""
        if host:
            self._lane(host).retrying += 1

    def succeeded(self, host: str, nbytes: int, now: float) -> None:
        """`host` answered: the download ended well, or the item failed for a reason of its own (404, not an
        image, too large). It is healthy: its failures in a row end and it gets a connection back."""
        lane = self._ended(host)
        if lane is None:
            return
        self._add(host, 2, nbytes)
        lane.recent.append((now, nbytes))
        lane.failures = lane.rounds = 0
        if lane.limit is not None and lane.limit != self.host_limit:
            lane.limit += 1  # additive increase: one connection back per answer
            if self.host_limit is not None and lane.limit >= self.host_limit:
                lane.limit = self.host_limit
            elif self.host_limit is None and lane.limit >= UNLIMITED_AGAIN:
                lane.limit = None
        self._forget_if_idle(host, lane, now)

    def ended(self, host: str) -> None:
        """A download of `host` was cancelled, or the batch stops: no word on the host's health."""
        lane = self._ended(host)
        if lane is not None:
            self._forget_if_idle(host, lane, time.monotonic())

    def failed(
        self, host: str, error: FetchError, attempt_started: float, now: float, first_attempt: bool = True
    ) -> str | None:
        """A download failed through the host's fault: cool the host down. Returns the pause message when this
        pauses the host; the scheduler then fails the host's items waiting for a retry.

        Only first attempts count (toward the pause, and to cut connections): a host fails "8 times in a row"
        when 8 items failed on their first try with no answer between. Retries of a few bad addresses on a
        healthy host (which gather at the end of a batch) never pause it or slow it down; a dead host is paused
        after its first 8 items."""
        lane = self._ended(host)
        if lane is None:
            return None
        lane.error = error.message
        if first_attempt:
            lane.failures += 1
            if attempt_started >= lane.cut_at:  # one cut per round of attempts, as TCP halves once per round trip
                full = lane.limit if lane.limit is not None else max(1, lane.active + 1)
                lane.limit = max(1, full // 2)
                lane.cut_at = now
                lane.rounds += 1
        # A Retry-After is honoured for the whole host whatever the attempt; a retry of an address that failed
        # before says little about the host, so it neither cuts nor lengthens the host's rest.
        rest = cool_down_delay(lane.rounds, error.retry_after) if first_attempt or error.retry_after else None
        if rest is not None:
            lane.cool_until = max(lane.cool_until, now + rest)
        if lane.failures >= FAILURES_TO_PAUSE and lane.paused is None:
            lane.paused = pause_message(lane.failures, error.message)
            self._refuse_waiting(lane)
            self._bound_paused()
            return lane.paused
        return None

    def settled(self, host: str, done: bool) -> None:
        """An item of `host` ended for good, done or failed: the Hosts view counts it."""
        if host:
            self._add(host, 0 if done else 1, 0)

    def hold(self, host: str) -> None:
        """The user paused `host`: nothing new starts there, its items wait."""
        lane = self._lane(host)
        if not lane.held:
            lane.held = True
            self._held_waiting += len(lane.waiting)

    def release(self, host: str) -> None:
        """The user resumed `host`: it starts afresh, also when it had been paused for its failures."""
        lane = self._lanes.get(host)
        if lane is None:
            return
        if lane.held:
            lane.held = False
            self._held_waiting -= len(lane.waiting)
        lane.paused, lane.failures, lane.rounds, lane.cool_until, lane.limit = None, 0, 0, 0.0, self.host_limit
        self._dirty.add(host)
        self._forget_if_idle(host, lane, time.monotonic())

    def tick(self, now: float) -> list[HostUpdate]:
        """What changed since the last call (sent with each progress snapshot); forgets lanes whose cool-down
        has passed with nothing left to do."""
        for host, lane in list(self._lanes.items()):
            if lane.recent or lane.cool_until:
                self._dirty.add(host)
                if lane.cool_until and now >= lane.cool_until:
                    lane.cool_until = 0.0
                self._forget_if_idle(host, lane, now)
        changes: list[HostUpdate] = []
        for host in self._dirty | self._added.keys():
            done, failed, nbytes = self._added.get(host, (0, 0, 0))
            known = self._lanes.get(host)
            if known is None:  # forgotten: idle, and ok
                changes.append(HostUpdate(host, HostState.OK, 0, done, failed, nbytes))
                continue
            lane = known
            while lane.recent and now - lane.recent[0][0] > RATE_WINDOW:
                lane.recent.popleft()
            speed = sum(n for _, n in lane.recent) / max(1.0, min(RATE_WINDOW, now - lane.created))
            update = HostUpdate(host, self._state(lane, now), lane.active, done, failed, nbytes, speed, lane.error)
            if update != lane.reported:
                changes.append(update)
                lane.reported = update
        self._dirty.clear()
        self._added.clear()
        return changes

    # -- inside -----------------------------------------------------------------------------------------------

    def _lane(self, host: str) -> _Lane:
        """The host's lane, made when it has none."""
        lane = self._lanes.get(host)
        if lane is None:
            lane = self._lanes[host] = _Lane(self.host_limit)
        self._dirty.add(host)
        return lane

    def _free(self, lane: _Lane, now: float) -> bool:
        if lane.held or now < lane.cool_until:
            return False
        return lane.limit is None or lane.active < lane.limit

    def _wait(self, host: str, lane: _Lane, item: PendingItem) -> None:
        lane.waiting.append(item)
        self._ready.setdefault(host, lane)
        self._waiting += 1
        if lane.held:
            self._held_waiting += 1

    def _pop_waiting(self, host: str, lane: _Lane) -> PendingItem:
        item = lane.waiting.popleft()
        self._waiting -= 1
        del self._ready[host]
        if lane.waiting:  # to the back: hosts take turns, so the first ones seen do not take every free slot
            self._ready[host] = lane
        return item

    def _ended(self, host: str) -> _Lane | None:
        lane = self._lanes.get(host) if host else None
        if lane is not None:
            lane.active -= 1
            self._dirty.add(host)
        return lane

    def _add(self, host: str, what: int, nbytes: int) -> None:
        """Count for the next report: `what` 0 an item done, 1 an item failed, 2 only bytes."""
        added = self._added.setdefault(host, [0, 0, 0])
        if what < 2:
            added[what] += 1
        added[2] += nbytes

    def _refuse_waiting(self, lane: _Lane) -> None:
        if lane.held:
            return
        while lane.waiting:
            self.refused.append((lane.waiting.popleft(), lane.paused or ""))
            self._waiting -= 1
        for host, ready in list(self._ready.items()):
            if ready is lane:
                del self._ready[host]

    def _bound_paused(self) -> None:
        paused = [host for host, lane in self._lanes.items() if lane.paused is not None]
        for host in paused[: max(0, len(paused) - MAX_PAUSED)]:
            lane = self._lanes[host]
            if not (lane.active or lane.retrying or lane.waiting or lane.held):
                del self._lanes[host]
                self._dirty.add(host)

    def _forget_if_idle(self, host: str, lane: _Lane, now: float) -> None:
        """A lane with nothing to do, no cool-down and no pause goes: the table stays as small as the work."""
        if lane.active or lane.retrying or lane.waiting or lane.held or lane.paused is not None:
            return
        if now < lane.cool_until:
            return
        del self._lanes[host]
        self._dirty.add(host)
