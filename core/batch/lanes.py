"""Per-host lanes: items pulled from the journal wait here for a free download slot of their host."""

from __future__ import annotations

from collections import Counter, deque
from urllib.parse import urlsplit

from core.batch.journal import PendingItem


def host_of(url: str) -> str:
    """The per-host limit's key; local files have none."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return ""
    return parts.netloc.lower()


class Lanes:
    """Items pulled from the journal, waiting for a free slot of their host (the per-host limit)."""

    def __init__(self, host_limit: int | None) -> None:
        """`host_limit`: downloads per host at once; None when the backend enforces the limit itself."""
        self.host_limit = host_limit
        self.buffer: deque[PendingItem] = deque()
        self.deferred: dict[str, deque[PendingItem]] = {}
        self.deferred_count = 0
        self.host_active: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.buffer) + self.deferred_count

    def host_free(self, host: str) -> bool:
        return not host or self.host_limit is None or self.host_active[host] < self.host_limit

    def take(self, host: str) -> None:
        if host:
            self.host_active[host] += 1

    def give_back(self, host: str) -> None:
        if host:
            self.host_active[host] -= 1

    def next_item(self) -> PendingItem | None:
        """The next item whose host has a free slot; items of busy hosts wait in `deferred`."""
        for host, waiting in self.deferred.items():
            if waiting and self.host_free(host):
                self.deferred_count -= 1
                item = waiting.popleft()
                if not waiting:
                    del self.deferred[host]
                return item
        while self.buffer:
            item = self.buffer.popleft()
            host = host_of(item.url)
            if self.host_free(host):
                return item
            self.deferred.setdefault(host, deque()).append(item)
            self.deferred_count += 1
        return None
