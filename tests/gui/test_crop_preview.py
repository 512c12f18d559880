"""The preview's crop boxes and the crop chosen by hand: a real batch from the window (real engine and resizer
processes), the source drawn with one labelled box per size, a click that remakes the item at once in every size,
and the journal keeping that crop through a re-run and `--force`."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from core.batch.journal import Journal
from core.imaging.focus import FocusBox, FocusPoint
from core.imaging.spec import Fit
from core.models import Status
from gui.crop_view import crop_boxes
from gui.preview_dialog import PreviewDialog
from tests.support.images import keeps_subject, salient_disc
from tests.support.window import make_window, queue, wait_summary

pytestmark = pytest.mark.gui

SIZES = (64, 160)


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """A 3:1 PNG whose only salient thing, a red disc, sits at the left edge (x = 1/8 of the width)."""
    path = tmp_path / "wide.png"
    salient_disc((1200, 400), (150, 200), 130).save(path)
    return path


def _open_preview(qtbot, window) -> PreviewDialog:
    grid = window.thumbnail_view
    qtbot.waitUntil(lambda: grid.count() == 1)
    grid.grid.setFocus()
    grid.grid.setCurrentIndex(grid.model.index(0))
    qtbot.keyClick(grid.grid, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: grid.preview_dialog is not None and grid.preview_dialog.isVisible())
    dialog = grid.preview_dialog
    qtbot.waitUntil(lambda: len(dialog.crop_view.boxes()) == len(SIZES), timeout=30_000)
    return dialog


def _at(dialog: PreviewDialog, x: float, y: float) -> QPoint:
    r = dialog.crop_view.image_rect()
    return QPoint(round(r.left() + x * r.width()), round(r.top() + y * r.height()))


def _journalled(out: Path):
    with Journal(out, lock=False) as j:
        last = j.last_run()
        assert last is not None
        (item,) = j.items(last[0])
    return item


@pytest.fixture
def finished(qtbot, tmp_path: Path, wide: Path):
    window = make_window(qtbot, tmp_path, fit=Fit.COVER, size=SIZES)
    queue(qtbot, window, [str(wide)])
    window.start()
    wait_summary(qtbot, window).close()
    yield window
    window.thumbnail_view.shutdown()


def test_the_preview_draws_the_source_with_one_labelled_box_per_size(qtbot, finished, tmp_path: Path) -> None:
    dialog = _open_preview(qtbot, finished)
    boxes = dialog.crop_view.boxes()
    assert [b.size for b in boxes] == list(SIZES) and [b.label for b in boxes] == ["64 px", "160 px"]
    for b in boxes:  # cover of a 3:1 source in a square: the full height, a third of the width, in the middle
        assert (b.top, b.bottom) == (0.0, 1.0)
        assert b.right - b.left == pytest.approx(1 / 3) and b.left == pytest.approx(1 / 3)
    source = dialog.crop_view.pixmap()
    assert source is not None and source.width() > source.height()  # the source, not the square thumbnail
    # What is painted: the source, and each box's colour along its edge.
    shot = dialog.crop_view.grab().toImage()
    edge = dialog.crop_view.box_rect(boxes[-1])
    x, y = round(edge.left()), round(edge.center().y())
    assert any(shot.pixelColor(x + dx, y).saturation() > 150 for dx in (-1, 0, 1))
    assert "automatic" in dialog.crop_label.text()


def test_a_point_chosen_in_the_window_remakes_the_item_and_survives_a_rerun_and_force(
    qtbot, finished, tmp_path: Path
) -> None:
    window = finished
    out = tmp_path / "out"
    before = _journalled(out)
    assert not any(keeps_subject(out / o.path) for o in before.outputs)  # centre cut the subject away

    dialog = _open_preview(qtbot, window)
    qtbot.mouseClick(dialog.crop_view, Qt.MouseButton.LeftButton, pos=_at(dialog, 0.125, 0.5))
    qtbot.waitUntil(lambda: "Remade in every size" in dialog.crop_label.text(), timeout=60_000)
    item = _journalled(out)
    assert isinstance(item.focus, FocusPoint) and item.focus.x == pytest.approx(0.125, abs=0.01)
    assert item.status == Status.DONE and len(item.outputs) == len(SIZES)
    assert all(keeps_subject(out / o.path) for o in item.outputs)
    assert dialog.crop_view.boxes()[-1].left == 0.0  # the boxes follow: clamped at the left edge
    assert "point 0.12" in dialog.crop_label.text()
    assert window.thumbnail_view.model.item(0).focus == item.focus

    previous = window.summary_dialog
    window.start()  # the same list again: nothing to redo, the crop kept
    summary = wait_summary(qtbot, window, previous)
    summary.close()
    again = _journalled(out)
    assert again.status == Status.SKIPPED and again.focus == item.focus

    assert not window.start(mode="force")  # everything redone, with the crop chosen by hand, once confirmed
    box = window.remake_prompt
    assert box is not None and "1 image" in box.text()
    next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole).click()
    wait_summary(qtbot, window, summary).close()
    forced = _journalled(out)
    assert forced.status == Status.DONE and forced.focus == item.focus
    assert all(keeps_subject(out / o.path) for o in forced.outputs)


def test_dragging_a_region_keeps_that_box(qtbot, finished, tmp_path: Path) -> None:
    dialog = _open_preview(qtbot, finished)
    view = dialog.crop_view
    start, end = _at(dialog, 0.02, 0.1), _at(dialog, 0.3, 0.9)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)
    qtbot.waitUntil(lambda: "Remade in every size" in dialog.crop_label.text(), timeout=60_000)
    item = _journalled(tmp_path / "out")
    assert isinstance(item.focus, FocusBox)
    assert item.focus.left == pytest.approx(0.02, abs=0.01) and item.focus.right == pytest.approx(0.3, abs=0.01)
    assert all(keeps_subject(tmp_path / "out" / o.path) for o in item.outputs)
    # "Automatic crop" forgets it and remakes the item as --crop cuts it.
    qtbot.mouseClick(dialog.auto_crop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: "Remade in every size" in dialog.crop_label.text() and "automatic" in dialog.crop_label.text(),
        timeout=60_000,
    )
    assert _journalled(tmp_path / "out").focus is None


def test_boxes_under_contain_are_the_whole_image() -> None:
    for box in crop_boxes(1200, 400, SIZES, Fit.CONTAIN, False, (0.5, 0.5), FocusPoint(0.1, 0.1)):
        assert (box.left, box.top, box.right, box.bottom) == (0.0, 0.0, 1.0, 1.0)


def test_crop_by_stays_enabled_whatever_the_fit(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, fit=Fit.CONTAIN)
    combo = window.settings_panel.crop_combo
    assert combo.isEnabled() and "Cover" in combo.toolTip()


def test_no_crop_changes_while_a_batch_writes_to_the_folder(qtbot, finished, tmp_path: Path) -> None:
    dialog = _open_preview(qtbot, finished)
    with Journal(tmp_path / "out"):  # holds the folder's lock, as a running batch does
        qtbot.mouseClick(dialog.crop_view, Qt.MouseButton.LeftButton, pos=_at(dialog, 0.125, 0.5))
        assert "cannot change the crop now" in dialog.crop_label.text()
        assert "writing" in dialog.crop_label.text() or "batch" in dialog.crop_label.text()
    assert not dialog.is_remaking() and _journalled(tmp_path / "out").focus is None
    assert "automatic" in dialog.crop_label.text()
