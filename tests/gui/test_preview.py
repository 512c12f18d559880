"""The preview dialog: opened from the grid, shows the picture and its sizes, copies and opens files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from core.models import ItemUpdate, Output, Status
from gui.thumbnail_view import ThumbnailView

pytestmark = pytest.mark.gui


def item(out_dir: Path, i: int) -> ItemUpdate:
    """An item with two real outputs (JPEG) and the original's size, as the runner reports it."""
    outputs = []
    for size in ((128, 85), (512, 341)):
        relative = f"photo{i}_{size[0]}.jpg"
        Image.new("RGB", size, (30 * i, 120, 200)).save(out_dir / relative, quality=90)
        outputs.append(Output(relative, *size, (out_dir / relative).stat().st_size))
    url = f"http://127.0.0.1:9/gallery/photo{i}.jpg?size=original"
    return ItemUpdate(
        key=url, source=url, url=url, status=Status.DONE, outputs=outputs, source_width=4000, source_height=2667
    )


@pytest.fixture
def grid(qtbot, tmp_path):
    """A thumbnail grid with three items, embedded in a shown window like the main window's."""
    host = QWidget()
    host.resize(640, 420)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    view = ThumbnailView(host)
    view.resize(host.size())
    view.set_output_dir(tmp_path)
    view.add_items([item(tmp_path, i) for i in range(3)])
    view.show()
    yield view
    if view.preview_dialog is not None:
        view.preview_dialog.reject()
    view.shutdown()


def open_with_space(qtbot, grid: ThumbnailView, row: int):
    grid.grid.setFocus()
    grid.grid.setCurrentIndex(grid.model.index(row))
    qtbot.keyClick(grid.grid, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: grid.preview_dialog is not None and grid.preview_dialog.isActiveWindow())
    return grid.preview_dialog


def test_space_opens_a_preview_with_sizes_and_the_picture(qtbot, grid, tmp_path):
    dialog = open_with_space(qtbot, grid, 1)
    assert dialog.url_edit.text() == "http://127.0.0.1:9/gallery/photo1.jpg?size=original"
    assert dialog.original_label.text() == "4000 × 2667 px"
    small, large = grid.model.item(1).outputs
    lines = dialog.outputs_label.text().splitlines()
    assert lines[0].startswith("128 × 85 px, ") and lines[0].endswith("photo1_128.jpg")
    assert lines[1].startswith("512 × 341 px, ") and lines[1].endswith("photo1_512.jpg")
    assert f"{small.bytes} B" in lines[0]
    assert "photo1_512.jpg" in dialog.windowTitle() and "2 of 3" in dialog.windowTitle()
    qtbot.waitUntil(lambda: dialog.image.pixmap() is not None)
    assert dialog.image.pixmap().size() == QSize(large.width, large.height)  # the largest, at full size


def test_copy_buttons_put_url_and_path_on_the_clipboard(qtbot, grid, tmp_path):
    dialog = open_with_space(qtbot, grid, 0)
    clipboard = QGuiApplication.clipboard()
    qtbot.mouseClick(dialog.copy_url_button, Qt.MouseButton.LeftButton)
    assert clipboard.text() == "http://127.0.0.1:9/gallery/photo0.jpg?size=original"
    qtbot.mouseClick(dialog.copy_path_button, Qt.MouseButton.LeftButton)
    assert clipboard.text() == str(tmp_path / "photo0_512.jpg")


def test_open_file_and_show_in_folder(qtbot, grid, tmp_path, catch_file_urls):
    dialog = open_with_space(qtbot, grid, 2)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    assert [u.toLocalFile() for u in catch_file_urls.urls] == [str(tmp_path / "photo2_512.jpg"), str(tmp_path)]


def test_double_click_opens_and_arrows_step_through_the_grid(qtbot, grid):
    index = grid.model.index(0)
    qtbot.waitUntil(lambda: grid.grid.visualRect(index).isValid())
    centre = grid.grid.visualRect(index).center()
    # A real double-click is press, release, then a double-click event; QTest's mouseDClick sends only the last.
    qtbot.mouseClick(grid.grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(grid.grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: grid.preview_dialog is not None and grid.preview_dialog.isActiveWindow())
    dialog = grid.preview_dialog
    assert dialog.row() == 0
    qtbot.keyClick(dialog, Qt.Key.Key_Left)  # already the first: stays
    assert dialog.row() == 0
    qtbot.keyClick(dialog, Qt.Key.Key_Right)
    assert dialog.row() == 1
    assert "photo1.jpg" in dialog.url_edit.text()
    assert grid.grid.currentIndex().row() == 1  # the grid follows
    qtbot.keyClick(dialog, Qt.Key.Key_Right)
    qtbot.keyClick(dialog, Qt.Key.Key_Right)  # past the last: stays
    assert dialog.row() == 2
    qtbot.waitUntil(lambda: dialog.image.pixmap() is not None)


def test_escape_closes_and_space_reopens_the_same_window(qtbot, grid):
    dialog = open_with_space(qtbot, grid, 0)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert open_with_space(qtbot, grid, 2) is dialog
    assert dialog.row() == 2


def test_clearing_the_grid_closes_the_preview(qtbot, grid):
    dialog = open_with_space(qtbot, grid, 0)
    grid.clear()
    qtbot.waitUntil(lambda: not dialog.isVisible())
