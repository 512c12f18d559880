"""The report: every input item of a run exactly once, as JSON or CSV (a public interface; see README).

Streamed from the journal, so a million-item report never sits in memory, and written to a temporary
name then renamed, so a reader never sees half a report. Its text comes from untrusted lists and servers,
so the CSV neutralises cells a spreadsheet would run as formulas (`spreadsheet_safe`).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from core.batch.journal import Journal
from core.imaging.focus import focus_text
from core.models import ItemUpdate

CSV_FIELDS = (
    "source",
    "file",
    "line",
    "url",
    "status",
    "error",
    "warning",
    "http_status",
    "bytes",
    "source_width",
    "source_height",
    "output_paths",
    "output_sizes",
    "output_bytes",
    "seconds",
    "expanded",
    "crop",
    "duplicate_of",
)

# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection): `=`, `+`, `-`, `@`, tab, CR.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """`cell` with a leading single quote if it starts like a formula, as OWASP advises; a spreadsheet
    shows the text, quote hidden, and never evaluates it (e.g. a list line `=HYPERLINK("http://…","x")`)."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def item_record(item: ItemUpdate, out_dir: Path) -> dict[str, Any]:
    """The JSON shape of one item; output paths are the output folder joined with the file's name."""
    return {
        "source": item.source,
        "file": item.file,
        "line": item.line,
        "url": item.url,
        "status": str(item.status),
        "error": item.error,
        "warning": item.warning,
        "http_status": item.http_status,
        "bytes": item.bytes,
        "source_width": item.source_width,
        "source_height": item.source_height,
        "outputs": [
            {"path": str(out_dir / o.path), "width": o.width, "height": o.height, "bytes": o.bytes}
            for o in item.outputs
        ],
        "seconds": item.seconds,
        "expanded": item.expanded,
        "crop": focus_text(item.focus),
        "duplicate_of": item.duplicate_of,
    }


def _csv_row(item: ItemUpdate, out_dir: Path) -> list[Any]:
    rec = item_record(item, out_dir)
    outs = rec.pop("outputs")
    rec["output_paths"] = ";".join(o["path"] for o in outs)
    rec["output_sizes"] = ";".join(f"{o['width']}x{o['height']}" for o in outs)
    rec["output_bytes"] = ";".join(str(o["bytes"]) for o in outs)
    return [_csv_cell(rec[k]) for k in CSV_FIELDS]


def _csv_cell(value: object) -> object:
    """Empty for None, numbers as they are, text made safe for spreadsheets."""
    if value is None:
        return ""
    return spreadsheet_safe(value) if isinstance(value, str) else value


def write_report(out_dir: Path, run_id: int, dest: Path) -> int:
    """Write the report of `run_id` in `out_dir`'s journal to `dest` (.json or .csv); returns items written."""
    dest = Path(dest)
    kind = dest.suffix.lower()
    if kind not in (".json", ".csv"):
        raise ValueError(f"report must end in .json or .csv, not {dest.name!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with Journal(out_dir, lock=False) as journal, os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if kind == ".csv":
                count = _write_csv(journal, run_id, Path(out_dir), fh)
            else:
                count = _write_json(journal, run_id, Path(out_dir), fh)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _write_csv(journal: Journal, run_id: int, out_dir: Path, fh: IO[str]) -> int:
    writer = csv.writer(fh)
    writer.writerow(CSV_FIELDS)
    count = 0
    for item in journal.items(run_id):
        writer.writerow(_csv_row(item, out_dir))
        count += 1
    return count


def _write_json(journal: Journal, run_id: int, out_dir: Path, fh: IO[str]) -> int:
    counts = journal.counts(run_id)
    head = {
        "run": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "output_folder": str(out_dir),
        "summary": {
            "total": counts.total,
            "done": counts.done,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "invalid": counts.invalid,
            "warnings": counts.warned,
            "not_reached": counts.pending,
        },
    }
    fh.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2])  # reopen the object to stream "items"
    fh.write(',\n "items": [')
    count = 0
    for item in journal.items(run_id):
        fh.write(",\n  " if count else "\n  ")
        fh.write(json.dumps(item_record(item, out_dir), ensure_ascii=False))
        count += 1
    fh.write("\n ]\n}\n")
    return count
