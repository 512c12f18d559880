"""The batch journal: one SQLite file in OUT/.thumbnailer/, one row per item.

It is the resume point after a crash or cancel, the source of "retry failed" and of the report. Items are
keyed by `Entry.key`, so a URL listed twice (or in two runs) is one row. Each run tags the rows it covers
with its id; `done_run` remembers which run produced an item's outcome, so a report can tell `done` (made in
this run) from `skipped` (made earlier). A connection belongs to one thread: the runner's engine thread
writes, readers (reports, the window's resume check) open their own.

The schema carries a version (`PRAGMA user_version`); opening a journal brings it up to this code's version
with the steps in MIGRATIONS, in one transaction, so an output folder made by an older release resumes
as it was. A journal from a newer release is refused, never rewritten. A batch's journal also holds the
folder's lock (core/batch/folder_lock.py): one batch writes to an output folder at a time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from pathlib import Path

from core.batch.folder_lock import FolderLock, OutputFolderError
from core.models import Entry, ItemUpdate, Output, Status

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


# MIGRATIONS[n] brings a journal from version n to n + 1; append a step for each schema change.
MIGRATIONS: tuple[Migration, ...] = (_to_v1, _to_v2)
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

    def end_run(self, run: int, state: RunState) -> None:
        self._db.execute("UPDATE runs SET state = ?, ended = ? WHERE id = ?", (state, time.time(), run))

    # -- filling --------------------------------------------------------------------------------------------

    def add_entries(self, entries: Iterable[Entry], run: int) -> int:
        """Insert or re-tag entries for `run` in batches; returns how many input entries were read.

        A key seen again in the same run keeps its first source, file and line (duplicates collapse).
        """
        sql = """
            INSERT INTO items (key, source, file, line, url, status, error, run)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET
                source = CASE WHEN items.run = excluded.run THEN items.source ELSE excluded.source END,
                file = CASE WHEN items.run = excluded.run THEN items.file ELSE excluded.file END,
                line = CASE WHEN items.run = excluded.run THEN items.line ELSE excluded.line END,
                run = excluded.run
        """
        count = 0
        it = iter(entries)
        while batch := list(islice(it, INSERT_BATCH)):
            rows = [
                (
                    e.key,
                    e.source,
                    e.file,
                    e.line,
                    e.url,
                    Status.PENDING if e.url is not None else Status.INVALID,
                    e.error,
                    run,
                )
                for e in batch
            ]
            with self._transaction():
                self._db.executemany(sql, rows)
            count += len(batch)
        return count

    def prepare_run(self, run: int, fingerprint: str, mode: str) -> None:
        """Decide what this run does: pending items, plus redone ones by mode and changed settings."""
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

    def redo(self, run: int, keys: Iterable[str]) -> None:
        """Make these items of `run` again, whatever their outcome (a front end's "Retry this")."""
        with self._transaction():
            self._db.executemany(
                "UPDATE items SET status = 'pending' WHERE run = ? AND key = ? AND status IN ('done', 'failed')",
                [(run, key) for key in keys],
            )

    # -- processing -----------------------------------------------------------------------------------------

    def pending(self, run: int, after_id: int, limit: int) -> list[PendingItem]:
        rows = self._db.execute(
            "SELECT id, key, url, source, file, line FROM items"
            " WHERE run = ? AND status = 'pending' AND id > ? ORDER BY id LIMIT ?",
            (run, after_id, limit),
        ).fetchall()
        return [PendingItem(*row) for row in rows]

    def record(self, updates: list[ItemUpdate], run: int, fingerprint: str) -> None:
        """Store final outcomes (done / failed) in one transaction."""
        rows = [
            (
                str(u.status),
                u.url,
                u.error,
                u.http_status,
                u.bytes,
                u.source_width,
                u.source_height,
                json.dumps([[o.path, o.width, o.height, o.bytes] for o in u.outputs]),
                u.seconds,
                fingerprint if u.status == Status.DONE else None,
                run,
                u.warning,
                u.key,
            )
            for u in updates
        ]
        with self._transaction():
            self._db.executemany(
                "UPDATE items SET status = ?, url = COALESCE(?, url), error = ?, http_status = ?, bytes = ?,"
                " source_width = ?, source_height = ?, outputs = ?, seconds = ?, fingerprint = ?, done_run = ?,"
                " warning = ? WHERE key = ?",
                rows,
            )

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
            " source_height, outputs, seconds, done_run, warning FROM items WHERE run = ? ORDER BY id",
            (run,),
        )
        for row in cur:
            (key, source, file, line, url, status, error, http, nbytes, sw, sh, outputs, seconds, done, warning) = row
            status = Status(status)
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
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error (autocommit connection, explicit batches)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


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
