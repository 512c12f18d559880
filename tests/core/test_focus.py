"""A crop chosen by hand: a point or a box kept under `--fit cover` in every size, read from a CSV's `focus_x` and
`focus_y` columns (and refused there in words when it is not one), kept by the journal across re-runs, `--force`
and a redo of one item, and shown as the report's `crop`."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from core.batch.journal import MIGRATIONS, SCHEMA_VERSION, Journal, journal_path, migrate
from core.batch.runner import Runner
from core.imaging.focus import FocusBox, FocusPoint, focus_text, geometry, parse_focus
from core.imaging.resize import make_thumbnails
from core.imaging.spec import Fit, ResizeSpec
from core.models import Status
from core.settings import Settings
from core.sources import iter_entries
from tests.support.command import thumbnailer
from tests.support.images import is_red, keeps_subject, salient_disc


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """A 3:1 PNG whose only salient thing, a red disc, sits at the left edge."""
    path = tmp_path / "wide.png"
    salient_disc((1200, 400), (150, 200), 130).save(path)
    return path


# -- the geometry ----------------------------------------------------------------------------------------------


def test_a_point_centres_the_window_and_is_clamped_to_the_image() -> None:
    _, _, region, _ = geometry(1200, 400, 100, "cover", False, hand=FocusPoint(0.5, 0.5))
    assert region == (400.0, 0.0, 800.0, 400.0)
    _, _, region, _ = geometry(1200, 400, 100, "cover", False, hand=FocusPoint(0.25, 0.5))
    assert region == (100.0, 0.0, 500.0, 400.0)  # centred on x = 300
    _, _, region, _ = geometry(1200, 400, 100, "cover", False, hand=FocusPoint(0.0, 0.0))
    assert region == (0.0, 0.0, 400.0, 400.0)  # the window stays inside the image


def test_a_box_is_the_region_each_size_covers_with_its_own_aspect() -> None:
    rw, rh, region, _ = geometry(1200, 400, 100, "cover", False, hand=FocusBox(0.5, 0.0, 1.0, 0.5))
    # a 600 x 200 box: the square window of 200 px in its middle
    assert (rw, rh) == (100, 100) and region == (800.0, 0.0, 1000.0, 200.0)


def test_a_hand_chosen_crop_changes_nothing_but_cover() -> None:
    for fit in ("contain", "pad"):
        assert geometry(1200, 400, 100, fit, False, hand=FocusPoint(0.1, 0.1)) == geometry(1200, 400, 100, fit, False)


def test_the_text_of_a_crop_reads_back() -> None:
    for focus in (FocusPoint(0.25, 0.4), FocusBox(0.1, 0.2, 0.6, 0.9)):
        assert parse_focus(str(focus)) == focus
    assert str(FocusPoint(0.25, 0.4)) == "point 0.25,0.4"
    assert str(FocusBox(0.1, 0.2, 0.6, 0.9)) == "box 0.1,0.2,0.6,0.9"
    assert parse_focus("auto") is None and parse_focus(None) is None and focus_text(None) == "auto"
    for bad in ("point 1.5,0", "box 0.5,0,0.2,1", "left", "point a,b"):
        with pytest.raises(ValueError):
            parse_focus(bad)


# -- the resize ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("focus", [FocusPoint(0.1, 0.5), FocusBox(0.0, 0.1, 0.3, 0.9)], ids=["point", "box"])
def test_the_subject_chosen_by_hand_is_kept_in_every_size(wide: Path, tmp_path: Path, focus) -> None:
    spec = ResizeSpec(sizes=(64, 160), fit=Fit.COVER)
    made = make_thumbnails(wide, tmp_path / "hand", "t", spec, focus)
    assert all(keeps_subject(tmp_path / "hand" / o.path) for o in made.outputs)
    centred = make_thumbnails(wide, tmp_path / "centre", "t", spec)
    assert not any(keeps_subject(tmp_path / "centre" / o.path) for o in centred.outputs)


def test_a_jpeg_box_is_decoded_at_the_box_s_scale(tmp_path: Path) -> None:
    """Shrink-on-load must not starve a small box: its thumbnail is as sharp as a crop of the full image."""
    path = tmp_path / "big.jpg"
    salient_disc((3200, 1600), (400, 800), 300).save(path, quality=92)
    spec = ResizeSpec(sizes=(256,), fit=Fit.COVER)
    (out,) = make_thumbnails(path, tmp_path / "o", "t", spec, FocusBox(0.0, 0.3125, 0.25, 0.8125)).outputs
    assert (out.width, out.height) == (256, 256)
    thumb = Image.open(tmp_path / "o" / out.path).convert("RGB")
    assert is_red(thumb.getpixel((128, 128)))


# -- CSV lists -------------------------------------------------------------------------------------------------


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_csv_focus_columns_become_each_item_s_point(wide: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 40)).save(other)
    listing = _csv(
        tmp_path / "list.csv",
        [["url", "focus_x", "focus_y"], [str(wide), "0.1", "0.5"], [str(other), "", ""]],
    )
    first, second = iter_entries([str(listing)])
    assert first.error is None and first.focus == FocusPoint(0.1, 0.5)
    assert second.error is None and second.focus is None


@pytest.mark.parametrize(
    ("x", "y", "words"),
    [
        ("1.5", "0.5", "focus_x must be a fraction between 0 and 1, got 1.5"),
        ("0.5", "-0.1", "focus_y must be a fraction between 0 and 1, got -0.1"),
        ("left", "0.5", "focus_x is not a number: 'left'"),
        ("nan", "0.5", "focus_x must be a fraction between 0 and 1, got nan"),
        ("0.5", "", "focus_y is empty: focus_x and focus_y go together"),
    ],
)
def test_csv_focus_values_that_are_not_fractions_are_invalid_lines(
    wide: Path, tmp_path: Path, x: str, y: str, words: str
) -> None:
    listing = _csv(tmp_path / "list.csv", [["url", "focus_x", "focus_y"], [str(wide), "0.2", "0.2"], [str(wide), x, y]])
    good, bad = iter_entries([str(listing)])
    assert good.focus == FocusPoint(0.2, 0.2)
    assert (bad.url, bad.line, bad.file, bad.error) == (None, 3, str(listing), words)


def test_the_command_keeps_a_csv_point_through_force_and_reports_it(wide: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    listing = _csv(tmp_path / "list.csv", [["url", "focus_x", "focus_y"], [str(wide), "0.1", "0.5"]])
    report = tmp_path / "report.json"
    args = ["-o", str(out), "--fit", "cover", "-s", "64", "-s", "128", "--quiet", "--report", str(report)]
    proc = thumbnailer(str(listing), *args)
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(report.read_text())["items"]
    assert item["crop"] == "point 0.1,0.5" and item["status"] == "done"
    assert all(keeps_subject(Path(o["path"])) for o in item["outputs"])

    # The same image named without the focus columns, every item redone: the journal keeps the point.
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{wide}\n")
    csv_report = tmp_path / "report.csv"
    proc = thumbnailer(str(plain), *args[:-1], str(csv_report), "--force")
    assert proc.returncode == 0, proc.stderr
    (row,) = csv.DictReader(csv_report.read_text().splitlines())
    assert row["status"] == "done" and row["crop"] == "point 0.1,0.5"
    assert all(keeps_subject(Path(p)) for p in row["output_paths"].split(";"))


# -- the journal and redoing one item ----------------------------------------------------------------------------


def test_a_version_2_journal_gains_the_focus_column(tmp_path: Path) -> None:
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
    with Journal(out) as j:
        (old,) = j.items(1)
        assert old.status == Status.DONE and old.focus is None
        assert j.set_focus("http://a/x.jpg", FocusBox(0.1, 0.2, 0.6, 0.9))
        (again,) = j.items(1)
        assert again.focus == FocusBox(0.1, 0.2, 0.6, 0.9)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def _run(qtbot, runner: Runner):
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    return blocker.args[0]


def test_redoing_one_item_with_its_new_crop_leaves_the_rest_and_the_run_as_they_were(
    qtbot, wide: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.png"
    salient_disc((1200, 400), (600, 200), 130).save(other)
    out = tmp_path / "out"
    settings = Settings(out=out, fit=Fit.COVER, size=(64, 128), processes=1, threads=2)
    summary = _run(qtbot, Runner(settings, iter_entries([str(wide), str(other)])))
    assert summary.done == 2 and summary.run_id == 1
    with Journal(out) as j:
        items = {i.key: i for i in j.items(1)}
    key = wide.resolve().as_uri()
    before_other = {o.path: (out / o.path).stat().st_mtime_ns for o in items[other.resolve().as_uri()].outputs}
    assert not any(keeps_subject(out / o.path) for o in items[key].outputs)

    with Journal(out) as j:
        assert j.set_focus(key, FocusPoint(0.1, 0.5))
    summary = _run(qtbot, Runner(settings, None, only=[key]))
    assert summary.fatal is None and summary.run_id == 1
    with Journal(out) as j:
        items = {i.key: i for i in j.items(1)}
        assert j.run_state(1) == "finished"
    assert items[key].status == Status.DONE and items[key].focus == FocusPoint(0.1, 0.5)
    assert all(keeps_subject(out / o.path) for o in items[key].outputs)
    after_other = {o.path: (out / o.path).stat().st_mtime_ns for o in items[other.resolve().as_uri()].outputs}
    assert after_other == before_other  # not redone


def test_a_list_that_moves_the_point_redoes_the_item_and_one_without_a_point_keeps_it(
    qtbot, wide: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    settings = Settings(out=out, fit=Fit.COVER, size=(64,), processes=1, threads=2)

    def run(x: str) -> tuple[Status, object]:
        listing = _csv(tmp_path / f"list{x}.csv", [["url", "focus_x", "focus_y"], [str(wide), x, "0.5" if x else ""]])
        summary = _run(qtbot, Runner(settings, iter_entries([str(listing)])))
        with Journal(out) as j:
            (item,) = j.items(summary.run_id)
        return item.status, item.focus

    assert run("0.1") == (Status.DONE, FocusPoint(0.1, 0.5))
    assert run("0.1") == (Status.SKIPPED, FocusPoint(0.1, 0.5))
    assert run("0.9") == (Status.DONE, FocusPoint(0.9, 0.5))  # another point: made again
    assert run("") == (Status.SKIPPED, FocusPoint(0.9, 0.5))  # no point given: the journal's is kept
