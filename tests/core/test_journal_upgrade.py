"""Journals written by older releases: upgraded in place and resumed with nothing redone; newer ones refused.

The fixture tests/fixtures/journal-v1/ is an output folder interrupted mid-batch by the first release (see
tests/fixtures/make_journal_v1.py). Its URLs are on `journal-v1.test`, served here by the loopback server as
an HTTP proxy, so the batch resumes exactly as it would have.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from core.batch.journal import MIGRATIONS, SCHEMA_VERSION, Journal, JournalTooNew, journal_path, migrate
from core.batch.runner import Runner
from core.cli import build_parser, settings_from_args
from core.models import ItemUpdate, Status, Summary
from core.sources import iter_entries
from tests.fixtures.make_journal_v1 import DONE, FAILED, FIXTURE, PENDING, proxy_environment
from tests.support.loopback import LoopbackServer

ITEMS = 8


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _copy_fixture(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(FIXTURE / "out", out)  # copy2: the made thumbnails keep their times
    return out


def _path(url: str) -> str:
    return url.split("journal-v1.test", 1)[1].split("?", 1)[0]


def test_the_fixture_is_a_journal_of_the_first_release() -> None:
    assert _user_version(journal_path(FIXTURE / "out")) == 0


def test_a_first_release_journal_is_upgraded_to_the_current_version_with_its_rows(tmp_path: Path) -> None:
    out = _copy_fixture(tmp_path)
    with Journal(out) as j:
        items = {i.key: i for i in j.items(1)}
        counts = j.counts(1)
    assert _user_version(journal_path(out)) == SCHEMA_VERSION
    assert len(items) == ITEMS
    assert (counts.done, counts.failed, counts.invalid, counts.pending) == (3, 1, 1, 3)
    made = items[DONE[0]]
    assert made.status == Status.DONE and made.error is None
    (output,) = made.outputs
    assert (output.width, output.height, output.bytes) == (256, 192, (out / output.path).stat().st_size)
    assert items[FAILED].error == "HTTP 404 Not Found"
    assert items[PENDING[0]].status == Status.SKIPPED
    assert items[PENDING[0]].error == "not reached: the batch was cancelled before this item"
    assert "warning" in _columns(journal_path(out))  # version 2's column, NULL in every old row
    assert all(item.warning is None for item in items.values()) and counts.warned == 0


def _columns(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[1] for row in db.execute("PRAGMA table_info(items)")]
    finally:
        db.close()


def test_a_version_1_journal_gains_the_warning_column_and_records_warnings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = journal_path(out)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(db, path, MIGRATIONS[:1])
        db.execute(
            "INSERT INTO items (key, source, url, status, run, done_run, outputs)"
            " VALUES ('http://a/x.jpg', 'http://a/x.jpg', 'http://a/x.jpg', 'done', 1, 1, '[]')"
        )
    finally:
        db.close()
    assert _user_version(path) == 1 and "warning" not in _columns(path)

    with Journal(out) as j:
        (old,) = j.items(1)
        assert old.status == Status.DONE and old.warning is None
        warned = ItemUpdate("http://a/x.jpg", "http://a/x.jpg", Status.DONE, warning="truncated: about 40% ...")
        j.record([warned], 1, "fp")
        (again,) = j.items(1)
        assert again.warning == "truncated: about 40% ..."
        assert j.counts(1).warned == 1
    assert _user_version(path) == SCHEMA_VERSION


def test_a_version_2_journal_gains_the_expanded_column_and_records_pages(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = journal_path(out)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(db, path, MIGRATIONS[:2])
        db.execute(
            "INSERT INTO items (key, source, url, status, run, done_run, outputs)"
            " VALUES ('http://a/page', 'http://a/page', 'http://a/page', 'failed', 1, 1, '[]')"
        )
    finally:
        db.close()
    assert _user_version(path) == 2 and "expanded" not in _columns(path)

    with Journal(out) as j:
        (old,) = j.items(1)
        assert old.status == Status.FAILED and old.expanded is None
        j.record([ItemUpdate("http://a/page", "http://a/page", Status.DONE, expanded=12)], 1, "fp")
        (again,) = j.items(1)
        assert (again.status, again.expanded) == (Status.DONE, 12)
    assert _user_version(path) == SCHEMA_VERSION


def test_a_version_2_journal_gains_duplicate_of_with_its_rows_read_as_decoded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = journal_path(out)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(db, path, MIGRATIONS[:2])
        db.execute(
            "INSERT INTO items (key, source, url, status, run, done_run, outputs)"
            " VALUES ('http://a/x.jpg', 'http://a/x.jpg', 'http://a/x.jpg', 'done', 1, 1, '[]')"
        )
    finally:
        db.close()
    assert _user_version(path) == 2 and "duplicate_of" not in _columns(path)

    with Journal(out) as j:
        (old,) = j.items(1)
        assert old.status == Status.DONE and old.duplicate_of is None
        twin = ItemUpdate("http://a/x.jpg", "http://a/x.jpg", Status.DONE, duplicate_of="http://b/x.jpg")
        j.record([twin], 1, "fp")
        (again,) = j.items(1)
        assert again.duplicate_of == "http://b/x.jpg"
    assert _user_version(path) == SCHEMA_VERSION


def test_a_failing_migration_step_leaves_the_journal_as_it_was(tmp_path: Path) -> None:
    out = _copy_fixture(tmp_path)
    path = journal_path(out)
    before = path.read_bytes()

    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE items ADD COLUMN half_done TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    db = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(db, path, (*MIGRATIONS, broken))
        assert int(db.execute("PRAGMA user_version").fetchone()[0]) == 0
        columns = [row[1] for row in db.execute("PRAGMA table_info(items)")]
        assert "half_done" not in columns
    finally:
        db.close()
    assert path.read_bytes() == before


def test_a_journal_from_a_newer_release_is_refused_and_left_untouched(tmp_path: Path) -> None:
    out = _copy_fixture(tmp_path)
    path = journal_path(out)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()

    with pytest.raises(JournalTooNew) as refused:
        Journal(out)
    assert f"journal version {SCHEMA_VERSION + 1}" in str(refused.value)
    assert "newer release" in str(refused.value)
    assert path.read_bytes() == before
    with Journal(tmp_path / "elsewhere"):  # the refusal released the folder lock and the file
        pass


def test_a_newer_journal_stops_the_batch_with_the_message(qtbot, tmp_path: Path) -> None:
    out = _copy_fixture(tmp_path)
    db = sqlite3.connect(journal_path(out))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    runner = Runner(settings_from_args(build_parser().parse_args(["--resume", "--out", str(out)])), None)
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    summary: Summary = blocker.args[0]
    assert summary.fatal is not None and summary.fatal.startswith("the journal ")
    assert "newer release of Batch Thumbnailer" in summary.fatal


def test_a_folder_interrupted_by_the_first_release_resumes_with_nothing_redone(
    qtbot, http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy_fixture(tmp_path)
    made = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.jpg")}
    assert len(made) == len(DONE)
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy_environment(http_server)["http_proxy"])

    # What `thumbnailer --resume --out OUT` runs, with the command's default output settings.
    settings = settings_from_args(build_parser().parse_args(["--resume", "--out", str(out)]))
    runner = Runner(settings, None)
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    summary: Summary = blocker.args[0]

    assert summary.fatal is None
    # A resume continues run 1, so its report counts the items made before the interruption as done.
    assert (summary.total, summary.done, summary.skipped, summary.failed, summary.invalid) == (8, 6, 0, 1, 1)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in made} == made
    for url in [*DONE, FAILED]:
        assert http_server.hits(_path(url)) == 0, url
    for url in PENDING:
        assert http_server.hits(_path(url)) == 1, url
    with Journal(out) as j:
        items = {i.key: i for i in j.items(summary.run_id)}
    assert summary.run_id == 1
    for url in PENDING:
        (output,) = items[url].outputs
        assert items[url].status == Status.DONE and (output.width, output.height) == (128, 256)
        assert (out / output.path).stat().st_size == output.bytes
    assert _user_version(journal_path(out)) == SCHEMA_VERSION


def _run(qtbot, args: list[str]) -> Summary:
    settings = settings_from_args(build_parser().parse_args(args))
    entries = None if "--resume" in args else iter_entries([a for a in args if a.endswith(".txt")])
    runner = Runner(settings, entries, mode="force" if "--force" in args else "normal")
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    summary: Summary = blocker.args[0]
    assert summary.fatal is None
    return summary


def test_a_first_release_folder_keeps_its_names_in_later_runs_and_forced_ones(
    qtbot, http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy_fixture(tmp_path)
    old_names = sorted(p.name for p in out.glob("*.jpg"))
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy_environment(http_server)["http_proxy"])
    listing = str(FIXTURE / "urls.txt")

    _run(qtbot, ["--resume", "--out", str(out)])
    made = sorted(p.name for p in out.iterdir() if p.is_file())
    # The first release's files keep their names, and the items it had not reached get its kind of name too:
    # the folder reads as one batch.
    assert set(old_names) < set(made) and len(made) == len(DONE) + len(PENDING)
    assert all(re.fullmatch(r"[dp]\d-[0-9a-f]{16}\.(jpg|png)", name) for name in made), made

    again = _run(qtbot, [listing, "--out", str(out)])
    assert (again.done, again.skipped) == (0, len(DONE) + len(PENDING))
    hits = http_server.total_hits()
    forced = _run(qtbot, [listing, "--out", str(out), "--force"])
    assert forced.done == len(DONE) + len(PENDING) and http_server.total_hits() > hits
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == made
