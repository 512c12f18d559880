"""What every fault test needs: run a real batch, read its report, look for stray files.

A batch runs through the real `Runner` (download threads, resizer processes, journal) and is judged by what a
user sees: the JSON report of the run (`core.batch.report`, the public interface) and the summary. Waiting happens in
a Qt event loop until the batch says it finished, never by sleeping and hoping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

from core.batch.journal import STATE_DIR
from core.batch.report import write_report
from core.batch.runner import Runner
from core.models import Entry, Summary
from core.settings import Settings
from core.sources import iter_entries


def wait_until(condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    """Run the Qt event loop until `condition()` holds; fail after `timeout` seconds."""
    assert QCoreApplication.instance() is not None, "use the qapp fixture"
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        loop = QEventLoop()
        QTimer.singleShot(10, loop.quit)
        loop.exec()


@dataclass
class Batch:
    """A finished batch as its user sees it."""

    summary: Summary
    out: Path
    seconds: float
    report: dict[str, Any]

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.report["items"]

    def item(self, source: str) -> dict[str, Any]:
        """The report row of the item the user wrote as `source` (a list line)."""
        found = [i for i in self.items if i["source"] == source]
        assert len(found) == 1, f"{len(found)} report rows for {source[:120]!r}"
        return found[0]


def settings(out: Path, **overrides: Any) -> Settings:
    """Small, fast limits for tests; anything can be overridden."""
    values: dict[str, Any] = {"processes": 2, "threads": 8, "per_host": 8, "retries": 1, "timeout": 10.0}
    values.update(overrides)
    return Settings(out=out, **values)


def list_file(folder: Path, lines: Iterable[str], name: str = "list.txt") -> Path:
    """A URL list as a user would write it, one item a line."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def entries_of(listing: Path) -> Iterable[Entry]:
    """The entries the command would read from `listing` (the real sources parser)."""
    return iter_entries([str(listing)])


def run_batch(
    config: Settings,
    entries: Iterable[Entry] | None,
    *,
    mode: str = "normal",
    timeout: float = 60,
    on_start: Callable[[Runner], None] | None = None,
) -> Batch:
    """Run one batch to its end and return its summary and JSON report."""
    runner = Runner(config, entries, mode=mode)
    finished: list[Summary] = []
    runner.finished.connect(finished.append)
    started = time.monotonic()
    runner.start()
    try:
        if on_start is not None:
            on_start(runner)
        wait_until(lambda: bool(finished), timeout, "the end of the batch")
    finally:
        runner.cancel()
        runner.wait()
    seconds = time.monotonic() - started
    summary = finished[0]
    out = Path(config.out)
    report_path = out.parent / f"{out.name}-report-{summary.run_id}.json"
    report: dict[str, Any] = {"items": [], "summary": {}}
    if summary.run_id:
        write_report(out, summary.run_id, report_path)
        report = json.loads(report_path.read_text(encoding="utf-8"))
    return Batch(summary, out, seconds, report)


def stray_files(out: Path) -> list[Path]:
    """Leftovers a finished batch must never leave: spool downloads and temporary thumbnails."""
    spool = out / STATE_DIR / "spool"
    leftovers = list(spool.glob("*.part")) if spool.is_dir() else []
    leftovers += [p for p in out.rglob("*.tmp")] if out.is_dir() else []
    return sorted(leftovers)


def output_files(batch: Batch, item: dict[str, Any]) -> list[Path]:
    """The thumbnails of one report row, checked to exist inside the output folder."""
    paths = [Path(o["path"]) for o in item["outputs"]]
    root = batch.out.resolve()
    for p in paths:
        assert p.resolve().is_relative_to(root), f"{p} is outside {root}"
        assert p.is_file(), f"{p} is missing"
    return paths
