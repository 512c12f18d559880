"""The batch journal: one SQLite file in OUT/.thumbnailer/, one row per item.

It is the resume point after a crash or cancel, the source of "retry failed" and of the report. Items are
keyed by `Entry.key`, so a URL listed twice (or in two runs) is one row. It also keeps each item's thumbnails'
name, given once when the item is first added (`add_entries`), so every later run writes the same files. Each
run tags the rows it covers with its id; `done_run` remembers which run produced an item's outcome, so a report
can tell `done` (made in this run) from `skipped` (made earlier). A connection belongs to one thread: the
runner's engine thread writes, readers (reports, the window's resume check) open their own.

The schema carries a version (`PRAGMA user_version`); opening a journal brings it up to this code's version
with the steps in MIGRATIONS, in one transaction, so an output folder made by an older release resumes
as it was. A journal from a newer release is refused, never rewritten. A batch's journal also holds the
folder's lock (core/batch/folder_lock.py): one batch writes to an output folder at a time.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

from core.batch.folder_lock import FolderLock, OutputFolderError
from core.imaging.focus import Focus, parse_focus
from core.models import Entry, ItemUpdate, Output, Status
from core.naming import NameTemplate, name_key, numbered, output_stem

Namer = Callable[[Entry, int], str]
"""An item's thumbnails' name from its entry and its number in input order (1 for the first)."""
DEFAULT_NAMER: Namer = NameTemplate.parse("").item_name

STATE_DIR = ".thumbnailer"


class RunState(StrEnum):
    """A run's row in `runs.state`: an interrupted run is anything but FINISHED (resumable). RUNNING on a run that
    is not running means its process was killed; STOPPED, that the batch stopped on its own (e.g. disk full)."""

    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    STOPPED = "stopped"


# Why a report lists an item its run never reached (status `skipped`), by the run's state.
NOT_REACHED: dict[str, str] = {
    RunState.CANCELLED: "not reached: the batch was cancelled before this item",
    RunState.STOPPED: "not reached: the batch stopped before this item",
}
NOT_REACHED_INTERRUPTED = "not reached: the batch was interrupted before this item"


JOURNAL_NAME = "journal.sqlite3"
INSERT_BATCH = 5000
KEYS_PER_QUERY = 500  # keys in one `IN (...)`: well below SQLite's 32,766 host parameters

# Version 1, the schema of the first release, which wrote it with user_version left at 0.
_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        ended REAL,
        state TEXT NOT NULL,            -- running | finished | cancelled
        fingerprint TEXT NOT NULL,
        mode TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS items (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        file TEXT,
        line INTEGER,
        url TEXT,
        status TEXT NOT NULL,           -- pending | done | failed | invalid
        error TEXT,
        http_status INTEGER,
        bytes INTEGER,
        source_width INTEGER,
        source_height INTEGER,
        outputs TEXT,                   -- JSON list of [path, width, height, bytes]
        seconds REAL,
        fingerprint TEXT,
        run INTEGER NOT NULL,
        done_run INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS items_run_status ON items (run, status)",
)

Migration = Callable[[sqlite3.Connection], None]
"""One step from schema version N to N + 1, run inside the opening transaction (execute, never executescript,
which would commit half-way)."""


def _to_v1(db: sqlite3.Connection) -> None:
    """Create the tables. A journal of the first release already has them: for it this step only stamps
    the version."""
    for statement in _SCHEMA_V1:
        db.execute(statement)


def _to_v2(db: sqlite3.Connection) -> None:
    """Add `items.warning`: a done item's thumbnails were made from a file that decoded in part. Rows of
    older runs read NULL (no warning), which is what they had."""
    db.execute("ALTER TABLE items ADD COLUMN warning TEXT")


def _to_v3(db: sqlite3.Connection) -> None:
    """Add `items.expanded`: how many images a web page read under --pages gave. Older rows read NULL (not a
    page), which is what they were."""
    db.execute("ALTER TABLE items ADD COLUMN expanded INTEGER")


def _to_v4(db: sqlite3.Connection) -> None:
    """Add `items.focus`: the item's crop chosen by hand (`core.imaging.focus` text: 'point X,Y' or 'box L,T,R,B'),
    kept across re-runs, --force and resumes. Rows of older runs read NULL (automatic), which is what they had."""
    db.execute("ALTER TABLE items ADD COLUMN focus TEXT")


def _to_v5(db: sqlite3.Connection) -> None:
    """Add `items.duplicate_of`: the item's downloaded bytes were those of another item of its run, whose
    decode made its thumbnails (the other item's URL). Rows of older runs read NULL: each was decoded."""
    db.execute("ALTER TABLE items ADD COLUMN duplicate_of TEXT")


#: An output made before `_to_v6`: '{readable part}-{16 hex}', '_{size}' with several sizes, an extension.
_OLD_OUTPUT = re.compile(r"(.*-[0-9a-f]{16})(?:_\d+)?\.[A-Za-z0-9]+")


def _old_release_name(url: str, outputs: str | None) -> str:
    """The name an earlier release gave an item's thumbnails: read from the files it made (a redirect may have
    changed `url` since), else the hashed stem of its URL, as that release would have made it next."""
    made = json.loads(outputs) if outputs else []
    if made and (m := _OLD_OUTPUT.fullmatch(str(made[0][0]))):
        return m.group(1)
    return output_stem(url)


def _to_v6(db: sqlite3.Connection) -> None:
    """Add `items.name` (the item's thumbnails' name, given once, see `Journal.add_entries`) and `name_key` (the
    same, as a case-insensitive file system compares it, indexed for the clash check). Rows of earlier releases
    keep the hashed names their files have, so they resume as skipped and later runs keep those names."""
    db.execute("ALTER TABLE items ADD COLUMN name TEXT")
    db.execute("ALTER TABLE items ADD COLUMN name_key TEXT")
    db.create_function("old_release_name", 2, _old_release_name, deterministic=True)
    db.create_function("fold_name", 1, name_key, deterministic=True)
    db.execute("UPDATE items SET name = old_release_name(url, outputs) WHERE url IS NOT NULL")
    db.execute("UPDATE items SET name_key = fold_name(name) WHERE name IS NOT NULL")
    db.execute("CREATE INDEX items_name_key ON items (name_key)")


# MIGRATIONS[n] brings a journal from version n to n + 1; append a step for each schema change.
MIGRATIONS: tuple[Migration, ...] = (_to_v1, _to_v2, _to_v3, _to_v4, _to_v5, _to_v6)
SCHEMA_VERSION = len(MIGRATIONS)


class JournalTooNew(OutputFolderError):
    """The journal was written by a newer release than this one; it is left as it is."""

    def __init__(self, path: Path, version: int, supported: int) -> None:
        super().__init__(
            f"the journal {path} was written by a newer release of Batch Thumbnailer (journal version {version},"
            f" this release reads up to {supported}); use that release, or choose another output folder"
        )
        self.version = version


def migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Bring the journal open on `db` (autocommit) to version len(migrations) in one transaction: all the
    steps or none. Raises JournalTooNew, having changed nothing, for a newer journal."""
    if _version(db) == len(migrations):
        return
    with _Transaction(db):  # BEGIN IMMEDIATE: of two processes opening at once, one migrates
        found = _version(db)  # again, under the write lock
        if found > len(migrations):
            raise JournalTooNew(path, found, len(migrations))
        for step in migrations[found:]:
            step(db)
        db.execute(f"PRAGMA user_version = {len(migrations):d}")


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def journal_path(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / JOURNAL_NAME


@dataclass(frozen=True, slots=True)
class PendingItem:
    """What the runner needs to process one item."""

    id: int
    key: str
    url: str
    source: str
    file: str | None
    line: int | None
    focus: Focus | None = None  # the crop chosen by hand, if any
    name: str | None = None  # its thumbnails' name (`core.naming.output_filename` makes each file's)

    @property
    def from_page(self) -> bool:
        """Found on a web page read under --pages (whose address is its `file`; a list file is a path): it is
        never read as a page itself, so pages expand one level deep."""
        return self.file is not None and self.file.startswith(("http://", "https://"))


def item_name(item: PendingItem) -> str:
    """The name of `item`'s thumbnails: the journal's, or for an item made outside a journal its URL's hashed stem."""
    return item.name or output_stem(item.url)


@dataclass(frozen=True, slots=True)
class RunCounts:
    total: int
    done: int
    failed: int
    skipped: int
    invalid: int
    pending: int
    warned: int = 0  # of `done`, those made with a warning


def _connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection to the journal at `path`, brought to SCHEMA_VERSION."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        migrate(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


class Journal:
    """Open (creating if needed, upgrading if older) the journal of an output folder.

    `lock`: hold the folder's lock while open, as a batch must (FolderBusy if another batch holds it). A
    reader that may run beside a batch (a report) passes False.
    """

    def __init__(self, out_dir: Path, *, lock: bool = True) -> None:
        path = journal_path(out_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = FolderLock(path.parent, Path(out_dir)) if lock else None
        try:
            self._db = _connect(path)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------------------

    def new_run(self, fingerprint: str, mode: str) -> int:
        cur = self._db.execute(
            "INSERT INTO runs (started, state, fingerprint, mode) VALUES (?, ?, ?, ?)",
            (time.time(), RunState.RUNNING, fingerprint, mode),
        )
        return int(cur.lastrowid or 0)

    def last_run(self) -> tuple[int, str] | None:
        """(id, state) of the newest run, if any."""
        row = self._db.execute("SELECT id, state FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def reopen_run(self, run: int, fingerprint: str) -> None:
        self._db.execute(
            "UPDATE runs SET state = ?, ended = NULL, fingerprint = ? WHERE id = ?",
            (RunState.RUNNING, fingerprint, run),
        )

    def run_state(self, run: int) -> RunState | None:
        row = self._db.execute("SELECT state FROM runs WHERE id = ?", (run,)).fetchone()
        return RunState(row[0]) if row else None

    def run_of(self, keys: Iterable[str]) -> int | None:
        """The newest run any of `keys` belongs to (None if none is in the journal)."""
        row = self._db.execute(
            "SELECT MAX(run) FROM items WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def set_focus(self, key: str, focus: Focus | None) -> bool:
        """Keep `focus` (None: automatic) as the item's crop for every later run; a done item whose crop changes is
        to do again (by a redo of it, or the next run). False if the key is unknown."""
        text = None if focus is None else str(focus)
        cur = self._db.execute(
            "UPDATE items SET focus = :focus,"
            " status = CASE WHEN status = 'done' AND focus IS NOT :focus THEN 'pending' ELSE status END"
            " WHERE key = :key",
            {"focus": text, "key": key},
        )
        return cur.rowcount > 0

    def end_run(self, run: int, state: RunState) -> None:
        self._db.execute("UPDATE runs SET state = ?, ended = ? WHERE id = ?", (state, time.time(), run))

    # -- filling --------------------------------------------------------------------------------------------

    def add_entries(self, entries: Iterable[Entry], run: int, namer: Namer = DEFAULT_NAMER) -> int:
        """Insert or re-tag entries for `run` in batches; returns how many input entries were read.

        A key seen again in the same run keeps its first source, file and line (duplicates collapse). An item
        seen for the first time gets its thumbnails' name from `namer(entry, number in input order)`, kept for
        good; when that name is taken (compared as a case-insensitive file system would) the item gets the
        first free of 'name-2', 'name-3', ... So names follow input order and never change between runs.
        A crop chosen by hand is kept unless the entry brings one (a CSV's focus columns); a different one redoes a
        done item.
        """
        sql = """
            INSERT INTO items (key, source, file, line, url, status, error, run, focus, name, name_key)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET
                source = CASE WHEN items.run = excluded.run THEN items.source ELSE excluded.source END,
                file = CASE WHEN items.run = excluded.run THEN items.file ELSE excluded.file END,
                line = CASE WHEN items.run = excluded.run THEN items.line ELSE excluded.line END,
                status = CASE WHEN items.status = 'done' AND excluded.focus IS NOT NULL
                              AND excluded.focus IS NOT items.focus THEN 'pending' ELSE items.status END,
                focus = COALESCE(excluded.focus, items.focus),
                run = excluded.run
        """
        count = 0
        names = _Names(self._db, namer)
        it = iter(entries)
        while batch := list(islice(it, INSERT_BATCH)):
            keys = [e.key for e in batch]
            with self._transaction():
                given = names.give(batch, keys, count + 1)
                rows = [
                    (
                        key,
                        e.source,
                        e.file,
                        e.line,
                        e.url,
                        Status.PENDING if e.url is not None else Status.INVALID,
                        e.error,
                        run,
                        None if e.focus is None else str(e.focus),
                        *given.get(key, (None, None)),
                    )
                    for key, e in zip(keys, batch, strict=True)
                ]
                self._db.executemany(sql, rows)
            count += len(batch)
        return count

    def add_found(
        self, entries: Sequence[Entry], run: int, fingerprint: str, namer: Namer = DEFAULT_NAMER
    ) -> list[ItemUpdate]:
        """Entries found while `run` goes on (the images of a web page read under --pages), added as
        `add_entries` adds a list's; one done by an earlier run under other settings is to do again, as
        `prepare_run` decides for a list's. Those that are to do are moved after every row, so the scheduler,
        which reads pending rows in id order, reaches them. Returns the items new to this run, as they stand:
        pending, invalid, or settled by an earlier run (skipped, failed)."""
        keys = list(dict.fromkeys(e.key for e in entries))
        known = {key for (key,) in self._select("SELECT key FROM items WHERE run = ? AND key IN ({})", run, keys)}
        new = [key for key in keys if key not in known]
        self.add_entries(entries, run, namer)
        with self._transaction():
            for chunk in _chunks(new):
                marks = ", ".join("?" * len(chunk))
                self._db.execute(
                    f"UPDATE items SET status = 'pending' WHERE key IN ({marks}) AND status = 'done'"
                    " AND fingerprint IS NOT ?",
                    (*chunk, fingerprint),
                )
                for (key,) in self._db.execute(
                    f"SELECT key FROM items WHERE key IN ({marks}) AND status = 'pending' ORDER BY id", chunk
                ).fetchall():
                    self._db.execute("UPDATE items SET id = (SELECT MAX(id) + 1 FROM items) WHERE key = ?", (key,))
        found: list[ItemUpdate] = []
        columns = (
            "SELECT key, source, file, line, url, status, error, done_run FROM items WHERE run = ? AND key IN ({})"
        )
        for key, source, file, line, url, status, error, done in self._select(columns, run, new):
            shown = Status(status)
            if shown == Status.DONE and done != run:
                shown, error = Status.SKIPPED, None
            found.append(ItemUpdate(key, source, shown, file, line, url, error))
        return found

    def include_page_items(self, run: int) -> None:
        """The images an earlier run found on the web pages of `run` belong to `run` too: a page done before is
        not read again, and its images are as much the list's items as the page (its report lists them). Costs
        one indexed look-up when the run has no such page (a million-row journal is not scanned)."""
        pages = [
            key
            for (key,) in self._db.execute(
                "SELECT key FROM items WHERE run = ? AND status = 'done' AND expanded IS NOT NULL", (run,)
            )
        ]
        with self._transaction():
            for chunk in _chunks(pages):
                self._db.execute(
                    f"UPDATE items SET run = ? WHERE run != ? AND file IN ({', '.join('?' * len(chunk))})",
                    (run, run, *chunk),
                )

    def _select(self, sql: str, run: int, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` (with `{}` where the keys' placeholders go) for `keys`, a few hundred at a time."""
        for chunk in _chunks(keys):
            yield from self._db.execute(sql.format(", ".join("?" * len(chunk))), (run, *chunk)).fetchall()

    def prepare_run(self, run: int, fingerprint: str, mode: str, only: Collection[str] | None = None) -> None:
        """Decide what this run does: pending items, plus redone ones by mode and changed settings.
        `only`: the run redoes just these keys (whatever their state) and leaves every other item as it is."""
        if only is not None:
            with self._transaction():
                self._db.execute(
                    "UPDATE items SET status = 'pending' WHERE run = ? AND status IN ('done', 'failed')"
                    " AND key IN (SELECT value FROM json_each(?))",
                    (run, json.dumps(list(only))),
                )
            return
        with self._transaction():
            if mode == "force":
                self._db.execute(
                    "UPDATE items SET status = 'pending' WHERE run = ? AND status IN ('done', 'failed')", (run,)
                )
            elif mode == "retry_failed":
                self._db.execute("UPDATE items SET status = 'pending' WHERE run = ? AND status = 'failed'", (run,))
            # Thumbnails made with other output settings no longer match what the user asked for.
            self._db.execute(
                "UPDATE items SET status = 'pending' WHERE run = ? AND status = 'done' AND fingerprint IS NOT ?",
                (run, fingerprint),
            )

    # -- processing -----------------------------------------------------------------------------------------

    def pending(self, run: int, after_id: int, limit: int, only: Collection[str] | None = None) -> list[PendingItem]:
        """The next pending items after `after_id`; `only`: of these keys alone."""
        among = "" if only is None else " AND key IN (SELECT value FROM json_each(?))"
        rows = self._db.execute(
            "SELECT id, key, url, source, file, line, focus, name FROM items"
            f" WHERE run = ? AND status = 'pending' AND id > ?{among} ORDER BY id LIMIT ?",
            (run, after_id, limit) if only is None else (run, after_id, json.dumps(list(only)), limit),
        ).fetchall()
        return [
            PendingItem(i, key, url, source, file, line, parse_focus(focus), name)
            for i, key, url, source, file, line, focus, name in rows
        ]

    def record(self, updates: list[ItemUpdate], run: int, fingerprint: str) -> list[str]:
        """Store final outcomes (done / failed) in one transaction. Returns the files (relative to the output
        folder) that the done items no longer have: made under earlier settings and not among the new outputs.

        A failed item keeps the outputs it had in the journal: those files are still on disk and still its
        own, to be replaced when it is made again (the report shows no outputs for a failed item)."""
        rows = [
            (
                str(u.status),
                u.url,
                u.error,
                u.http_status,
                u.bytes,
                u.source_width,
                u.source_height,
                json.dumps([[o.path, o.width, o.height, o.bytes] for o in u.outputs])
                if u.status == Status.DONE
                else None,
                u.seconds,
                fingerprint if u.status == Status.DONE else None,
                run,
                u.warning,
                u.expanded,
                u.duplicate_of,
                u.key,
            )
            for u in updates
        ]
        done = [u for u in updates if u.status == Status.DONE]
        stale: list[str] = []
        with self._transaction():
            earlier = self._outputs_of([u.key for u in done])
            for u in done:
                # Compared without case: on Windows and macOS a name differing only in case is the new file itself.
                now = {o.path.casefold() for o in u.outputs}
                stale.extend(path for path in earlier.get(u.key, ()) if path.casefold() not in now)
            self._db.executemany(
                "UPDATE items SET status = ?, url = COALESCE(?, url), error = ?, http_status = ?, bytes = ?,"
                " source_width = ?, source_height = ?, outputs = COALESCE(?, outputs), seconds = ?, fingerprint = ?,"
                " done_run = ?, warning = ?, expanded = ?, duplicate_of = ? WHERE key = ?",
                rows,
            )
        return stale

    def _outputs_of(self, keys: list[str]) -> dict[str, list[str]]:
        """The output paths the journal lists for `keys` (those that have any)."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            for key, outputs in self._db.execute(
                f"SELECT key, outputs FROM items WHERE key IN ({marks}) AND outputs IS NOT NULL", chunk
            ):
                found[key] = [str(o[0]) for o in json.loads(outputs)]
        return found

    # -- reading --------------------------------------------------------------------------------------------

    def counts(self, run: int) -> RunCounts:
        """Counts as a report of `run` shows them (earlier outcomes count as skipped or failed)."""
        row = self._db.execute(
            """SELECT COUNT(*),
                      SUM(status = 'done' AND done_run = :run),
                      SUM(status = 'failed'),
                      SUM(status = 'done' AND done_run IS NOT :run),
                      SUM(status = 'invalid'),
                      SUM(status = 'pending'),
                      SUM(status = 'done' AND done_run = :run AND warning IS NOT NULL)
               FROM items WHERE run = :run""",
            {"run": run},
        ).fetchone()
        return RunCounts(*(int(v or 0) for v in row))

    def items(self, run: int, *, reported: bool = True) -> Iterator[ItemUpdate]:
        """Every item of `run` once, in input order, with its status as a report shows it: an item left to do is
        `skipped` with a "not reached: ..." error. `reported` False keeps it `pending` (a resumed batch's queue)."""
        state = self._db.execute("SELECT state FROM runs WHERE id = ?", (run,)).fetchone()
        not_reached = NOT_REACHED.get(state[0] if state else "", NOT_REACHED_INTERRUPTED)
        cur = self._db.execute(
            "SELECT key, source, file, line, url, status, error, http_status, bytes, source_width,"
            " source_height, outputs, seconds, done_run, warning, expanded, focus, duplicate_of FROM items"
            " WHERE run = ? ORDER BY id",
            (run,),
        )
        for row in cur:
            (
                key,
                source,
                file,
                line,
                url,
                status,
                error,
                http,
                nbytes,
                sw,
                sh,
                outputs,
                seconds,
                done,
                warning,
                expanded,
                focus,
                twin,
            ) = row
            status = Status(status)
            if status == Status.FAILED:
                outputs = None  # the files of an earlier success, kept until it is made again: not this outcome
            if status == Status.DONE and done != run:
                status = Status.SKIPPED
                error = None
            elif status == Status.PENDING and reported:
                status = Status.SKIPPED
                error = not_reached
            yield ItemUpdate(
                key=key,
                source=source,
                status=status,
                file=file,
                line=line,
                url=url,
                error=error,
                http_status=http,
                bytes=nbytes,
                source_width=sw,
                source_height=sh,
                outputs=[Output(*o) for o in json.loads(outputs)] if outputs else [],
                seconds=seconds,
                warning=warning,  # kept for a skipped item too: it describes the thumbnail on disk
                expanded=expanded,
                focus=parse_focus(focus),
                duplicate_of=twin,
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


_TAKEN = "SELECT name_key FROM items WHERE name_key IN ({})"


class _Names:
    """Gives names to items new to the journal, in input order, each unique in the folder (case-insensitively).

    What is taken is asked of the journal's `name_key` index, a batch of keys a query, so a million-item list
    costs no set of a million names; only the names that clashed are remembered (where to count on from)."""

    def __init__(self, db: sqlite3.Connection, namer: Namer) -> None:
        self._db = db
        self._namer = namer
        # Keys per `IN (...)` query: a whole batch, within the SQLite build's limit of bound values.
        self._chunk = min(INSERT_BATCH, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        self._next: dict[str, int] = {}  # a clashing name's key -> the next number to try

    def give(self, batch: list[Entry], keys: list[str], first_number: int) -> dict[str, tuple[str, str]]:
        """(name, name_key) for each key of `batch` (whose keys are `keys`) new to the journal; `first_number`:
        batch[0]'s place in input order. (A key already there keeps its row's name: an update leaves it.)"""
        usable = [
            (first_number + i, key, e) for i, (key, e) in enumerate(zip(keys, batch, strict=True)) if e.url is not None
        ]
        named = self._known("SELECT key FROM items WHERE key IN ({})", list({key for _, key, _ in usable}))
        wanted: dict[str, tuple[str, str]] = {}  # key -> the name the template makes, and its name_key
        for number, key, e in usable:
            if key not in named and key not in wanted:
                name = self._namer(e, number)
                wanted[key] = (name, name_key(name))
        wanted_times = Counter(f for _, f in wanted.values())
        taken = self._known(_TAKEN, list(wanted_times))
        # Names that will need a number (taken, or wanted twice here) have their numbered forms asked at once, as
        # many as may be needed: a list of a million '.../image?id=N' costs a query a batch, not one an item.
        asked: dict[str, int] = {}  # a clashing name's key -> numbers below this one were asked
        candidates: list[str] = []
        for folded, times in wanted_times.items():
            if folded in taken or times > 1:
                start = self._next.get(folded, 2)
                asked[folded] = start + times + 1
                candidates.extend(numbered(folded, n) for n in range(start, asked[folded]))
        taken |= self._known(_TAKEN, candidates)
        given: dict[str, tuple[str, str]] = {}
        for key, (name, folded) in wanted.items():
            if folded in taken:
                name, folded = self._numbered(name, folded, taken, asked.get(folded, 0))
            taken.add(folded)
            given[key] = (name, folded)
        return given

    def _numbered(self, name: str, folded: str, taken: set[str], asked_below: int) -> tuple[str, str]:
        """The first 'name-N' free in the journal and in `taken` (this batch's), N counting on from the last given.
        `taken` already holds what the journal has of the numbers below `asked_below`; others are asked here."""
        n = self._next.get(folded, 2)
        while True:
            key = numbered(folded, n)  # the same as name_key(numbered(name, n)): '-N' is ASCII
            n += 1
            if key not in taken and (n - 1 < asked_below or not self._known(_TAKEN, [key])):
                self._next[folded] = n
                return numbered(name, n - 1), key

    def _known(self, sql: str, values: list[str]) -> set[str]:
        """The values that `sql` (with an `IN ({})` to fill) finds, asked in chunks."""
        found: set[str] = set()
        for at in range(0, len(values), self._chunk):
            chunk = values[at : at + self._chunk]
            rows = self._db.execute(sql.format(",".join("?" * len(chunk))), chunk)
            found.update(row[0] for row in rows)
        return found


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error (autocommit connection, explicit batches)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _chunks(keys: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`keys` in slices that stay below SQLite's limit on a statement's parameters."""
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def unfinished_batch(out_dir: Path) -> int:
    """Items left pending by the newest run in `out_dir` if it was interrupted, else 0. Read-only."""
    path = journal_path(out_dir)
    if not path.is_file():
        return 0
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT id, state FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if not row or row[1] == RunState.FINISHED:
                return 0
            (n,) = db.execute("SELECT COUNT(*) FROM items WHERE run = ? AND status = 'pending'", (row[0],)).fetchone()
            return int(n)
        finally:
            db.close()
    except sqlite3.Error:
        return 0
