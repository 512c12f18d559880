"""What a batch will make again, said before it starts: thumbnails made under other output settings, or --force.

The journal keeps each done item's output fingerprint (`Settings.output_fingerprint`); comparing it with the
fingerprint of the coming batch gives how many items are made again and which settings changed
(`core.settings.read_fingerprint` reads the values back). Read-only and without the folder's lock: the window
asks before it starts a batch (Cancel keeps everything as it is), the scheduler once the batch's items are in the
journal and before its first download (the command prints that one line).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from core.batch.control import BatchMode
from core.batch.journal import KEYS_PER_QUERY, journal_path
from core.settings import Settings, read_fingerprint

UNKNOWN = "?"  # a value the old fingerprint does not hold


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One output setting that differs from how earlier thumbnails were made."""

    name: str  # the Settings field, e.g. 'size'
    before: tuple[str, ...]  # as the thumbnails were made: several when items were made under different settings
    after: str  # as this batch makes them

    def words(self, arrow: str = "->") -> str:
        """'size 256 -> 128'."""
        return f"{self.name.replace('_', ' ')} {', '.join(self.before)} {arrow} {self.after}"


@dataclass(frozen=True, slots=True)
class RemakePlan:
    """Items whose thumbnails a batch makes again, and why. Their old files are removed once the new ones are
    written (core/batch/scheduler.py)."""

    changed: int = 0  # made under other output settings
    forced: int = 0  # made under these settings, made again because of --force
    changes: tuple[SettingChange, ...] = ()  # what differs, for the `changed` ones

    @property
    def total(self) -> int:
        return self.changed + self.forced

    def reasons(self, arrow: str = "->") -> str:
        """'size 256 -> 128, format webp -> jpeg'; with --force too, how many for each reason."""
        changed = ", ".join(c.words(arrow) for c in self.changes) or "other output settings"
        if not self.forced:
            return changed
        if not self.changed:
            return "--force"
        return f"{self.changed:,} for {changed}; {self.forced:,} for --force"

    def line(self) -> str:
        """The command's line before the batch; '' when nothing is made again."""
        if not self.total:
            return ""
        return f"Remaking {self.total:,} image{'' if self.total == 1 else 's'}: {self.reasons()} (old files replaced)"


def remake_plan(
    out_dir: Path, settings: Settings, mode: BatchMode = BatchMode.NORMAL, keys: Iterable[str] | None = None
) -> RemakePlan:
    """What a batch of `settings` and `mode` into `out_dir` would make again, without starting it.

    `keys`: the batch's items (`Entry.key`), as the window knows them; None: the items of the folder's newest
    run, which is what a resume covers (and what the scheduler passes once it has put its items in the journal).
    An output folder without a journal, or one that cannot be read, makes nothing again as far as this can tell.
    """
    path = journal_path(out_dir)
    if not path.is_file():
        return RemakePlan()
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            made = _made_under(db, keys)
        finally:
            db.close()
    except sqlite3.Error:
        return RemakePlan()
    return plan_for(made, settings, mode)


def _made_under(db: sqlite3.Connection, keys: Iterable[str] | None) -> Counter[str | None]:
    """Done items by the fingerprint they were made under."""
    found: Counter[str | None] = Counter()
    query = "SELECT fingerprint, COUNT(*) FROM items WHERE status = 'done' AND {} GROUP BY fingerprint"
    if keys is None:
        row = db.execute("SELECT MAX(id) FROM runs").fetchone()
        if row[0] is not None:
            found.update(dict(db.execute(query.format("run = ?"), (row[0],)).fetchall()))
        return found
    it = iter(keys)
    while chunk := list(islice(it, KEYS_PER_QUERY)):
        marks = ",".join("?" * len(chunk))
        for fingerprint, count in db.execute(query.format(f"key IN ({marks})"), chunk):
            found[fingerprint] += count
    return found


def plan_for(made: Counter[str | None], settings: Settings, mode: BatchMode) -> RemakePlan:
    """The plan for done items counted by the fingerprint they were made under."""
    now = settings.output_fingerprint()
    others = Counter({fp: n for fp, n in made.items() if fp != now})
    forced = made.get(now, 0) if mode == BatchMode.FORCE else 0
    return RemakePlan(changed=others.total(), forced=forced, changes=_changes(others, now))


def _changes(others: Counter[str | None], now: str) -> tuple[SettingChange, ...]:
    """Each setting that differs in any of `others` (most common first), with every value it had there."""
    current = read_fingerprint(now) or {}
    before: dict[str, list[str]] = {}
    for fingerprint, _count in others.most_common():
        old = read_fingerprint(fingerprint) if fingerprint is not None else None
        if old is None:
            continue  # not a fingerprint this release can read: the reasons say "other output settings"
        for name, value in current.items():
            was = old.get(name, UNKNOWN)
            if was != value and was not in before.setdefault(name, []):
                before[name].append(was)
    return tuple(SettingChange(name, tuple(before[name]), value) for name, value in current.items() if before.get(name))
