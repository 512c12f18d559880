"""Downloads with identical bytes are decoded once (mirrors, CDNs, feeds that repeat an image).

The local backend tells `Twins` each finished download's digest (`Fetched.digest`, hashed as the bytes passed).
The first item with those bytes is resized as usual; a later one (a twin) waits for that outcome and gets copies
of the first item's thumbnails under its own names, or the first item's failure, with `duplicate_of` saying
whose decode it was. No Qt, no journal: only the download threads and the resize dispatcher call in here.

Within one batch, for the last REMEMBERED distinct downloads, so memory stays flat on a million-URL list; a twin
further apart is simply decoded again. Earlier runs are not looked at (their digests are not kept).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.download.fetch import Fetched
from core.imaging.jobs import JobOutcome
from core.models import Output
from core.naming import output_filename, safe_join

#: Distinct downloads remembered with their outcome (a few hundred bytes each).
REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Twin:
    """An item whose download has the bytes of an earlier one."""

    key: str
    name: str  # the item's name in the journal, which its thumbnails' names come from
    fetched: Fetched


Finish = Callable[[Twin, str, JobOutcome], None]
"""What makes a twin's outcome from its first's: (twin, the first item's URL, the first item's outcome)."""


@dataclass(slots=True)
class _First:
    url: str  # the decoded item's URL, as its report row shows it
    outcome: JobOutcome | None = None  # None while its resize runs
    waiting: list[Twin] = field(default_factory=list)


class Twins:
    """The batch's downloads by content. Thread-safe; `finish` is called outside the lock, on the thread that
    claimed the twin (the first's outcome was known) or settled its first (the twin waited)."""

    def __init__(self, finish: Finish, remembered: int = REMEMBERED) -> None:
        self._finish = finish
        self._remembered = remembered
        self._lock = threading.Lock()
        self._firsts: OrderedDict[str, _First] = OrderedDict()

    def claim(self, digest: str, twin: Twin) -> bool:
        """True: no earlier download had these bytes, so decode this one and `settle` its digest with the outcome.
        False: it is a twin; it is finished now or when its first is settled."""
        with self._lock:
            first = self._firsts.get(digest)
            if first is None:
                self._firsts[digest] = _First(twin.fetched.final_url)
                self._forget_old()
                return True
            self._firsts.move_to_end(digest)
            outcome = first.outcome
            if outcome is None:
                first.waiting.append(twin)
                return False
        self._finish(twin, first.url, outcome)
        return False

    def settle(self, digest: str, outcome: JobOutcome) -> None:
        """The outcome of the first download with `digest`: finish the twins that waited for it."""
        with self._lock:
            first = self._firsts.get(digest)
            if first is None:
                return
            first.outcome = outcome
            waiting, first.waiting = first.waiting, []
            if outcome.cancelled:  # not an outcome of the bytes: a later twin (a next batch) decodes them itself
                del self._firsts[digest]
        for twin in waiting:
            self._finish(twin, first.url, outcome)

    def _forget_old(self) -> None:
        """Drop the oldest settled downloads beyond `remembered` (those still resizing are kept: their twins wait)."""
        while len(self._firsts) > self._remembered:
            settled = next((d for d, first in self._firsts.items() if first.outcome is not None), None)
            if settled is None:
                return
            del self._firsts[settled]


def copy_thumbnails(made: Sequence[Output], out_dir: Path, name: str, sizes: Sequence[int]) -> list[Output]:
    """Copies of the thumbnails `made` for another item, named from its `name` as the resizers name them (one per
    size in `sizes`, in order), each written to a temporary name and renamed, so a crash never leaves half a file.
    OSError from the file system propagates (disk full: the caller stops the batch)."""
    several = len(sizes) > 1
    copies = []
    for size, output in zip(sizes, made, strict=True):
        file_name = output_filename(name, size, PurePosixPath(output.path).suffix, several, output.width, output.height)
        source, final = safe_join(out_dir, output.path), safe_join(out_dir, file_name)
        if final != source:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        copies.append(Output(PurePosixPath(file_name).as_posix(), output.width, output.height, output.bytes))
    return copies
