"""The thumbnail grid: real image files made in tmp_path, loaded off the GUI thread into the cells."""

from __future__ import annotations

import faulthandler
import gc
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from core.models import ItemUpdate, Output, Status
from gui.icons import broken_pixmap
from gui.thumbnail_model import ThumbnailModel
from gui.thumbnail_view import ThumbnailView

pytestmark = pytest.mark.gui

DECORATION = Qt.ItemDataRole.DecorationRole


def make_image(out_dir: Path, relative: str, size: tuple[int, int], color: tuple[int, int, int]) -> Output:
    """Write a real image file (format from the suffix) and describe it as the runner would."""
    path = out_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return Output(relative, *size, path.stat().st_size)


def done(i: int, outputs: list[Output], status: Status = Status.DONE) -> ItemUpdate:
    url = f"http://127.0.0.1:9/photo{i}.jpg"
    return ItemUpdate(
        key=url, source=url, url=url, status=status, outputs=outputs, source_width=3000, source_height=2000
    )


def decoration(model: ThumbnailModel, row: int) -> QPixmap:
    return model.data(model.index(row), DECORATION)


def centre_colour(pixmap: QPixmap) -> QColor:
    image = pixmap.toImage()
    return image.pixelColor(image.width() // 2, image.height() // 2)


def close_to(color: QColor, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(color.getRgb()[:3], rgb, strict=True))


@pytest.fixture
def view(host, tmp_path):
    grid = ThumbnailView(host)
    grid.resize(host.size())
    grid.set_output_dir(tmp_path / "out")
    grid.show()
    yield grid
    grid.shutdown()


@pytest.fixture
def outputs(tmp_path) -> list[list[Output]]:
    """Three PNG and three JPEG items, each with a small and a large output of different colours."""
    out = tmp_path / "out"
    items = []
    for i in range(6):
        ext = "png" if i < 3 else "jpg"
        small = make_image(out, f"small/photo{i}_64.{ext}", (64, 43), (250, 250, 250))
        large = make_image(out, f"photo{i}_256.{ext}", (256, 171), (40 * i, 200, 255 - 40 * i))
        items.append([small, large])
    return items


def test_grid_fills_with_the_largest_output_of_real_files(qtbot, view, outputs):
    view.add_items([done(i, outs) for i, outs in enumerate(outputs)])
    assert view.count() == 6
    model = view.model
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole) == "photo0_256.png"
    placeholder_key = model.placeholder().cacheKey()
    for row in range(6):
        qtbot.waitUntil(lambda r=row: decoration(model, r).cacheKey() != placeholder_key)
        pixmap = decoration(model, row)
        assert pixmap.size() == QSize(model.cell_size(), model.cell_size())
        assert close_to(centre_colour(pixmap), (40 * row, 200, 255 - 40 * row)), row


def test_captions_keep_a_mirrored_tree_apart(view, tmp_path):
    out = tmp_path / "out"
    same_name = [make_image(out, f"{folder}/IMG_0001.jpg", (64, 43), (90, 90, 90)) for folder in ("2023", "2024")]
    view.add_items([done(i, [output]) for i, output in enumerate(same_name)])
    model = view.model
    captions = [model.data(model.index(row), Qt.ItemDataRole.DisplayRole) for row in range(2)]
    assert captions == ["2023/IMG_0001.jpg", "2024/IMG_0001.jpg"]


def test_only_finished_items_with_outputs_are_added_once(view, outputs):
    view.add_items(
        [
            done(0, outputs[0]),
            done(1, outputs[1], Status.FAILED),
            done(2, outputs[2], Status.RUNNING),
            done(3, []),
            done(0, outputs[0]),
        ]
    )
    assert view.count() == 1
    view.add_items([done(0, outputs[0]), done(4, outputs[4], Status.SKIPPED)])  # skipped: made by a past run
    assert view.count() == 2
    assert view.count_label.text() == "2 thumbnails"


def test_unreadable_or_missing_files_show_the_broken_icon(qtbot, view, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "html.jpg").write_bytes(b"<html>not an image</html>")
    view.add_items([done(0, [Output("html.jpg", 256, 171, 25)]), done(1, [Output("deleted.jpg", 256, 171, 9)])])
    broken = broken_pixmap(view.model.cell_size(), view.devicePixelRatioF()).cacheKey()
    qtbot.waitUntil(lambda: decoration(view.model, 0).cacheKey() == broken)
    qtbot.waitUntil(lambda: decoration(view.model, 1).cacheKey() == broken)


def test_drag_out_gives_file_urls(view, outputs, tmp_path):
    view.add_items([done(i, outs) for i, outs in enumerate(outputs)])
    model = view.model
    assert view.grid.dragEnabled()
    assert model.flags(model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled
    assert model.supportedDragActions() == Qt.DropAction.CopyAction
    mime = model.mimeData([model.index(1), model.index(4)])
    assert "text/uri-list" in mime.formats()
    files = [url.toLocalFile() for url in mime.urls()]
    assert files == [str(tmp_path / "out" / "photo1_256.png"), str(tmp_path / "out" / "photo4_256.jpg")]
    assert all(url.isLocalFile() for url in mime.urls())
    assert mime.text().splitlines() == files


def test_ten_thousand_items_insert_fast_and_only_visible_ones_load(qtbot, view, outputs):
    updates = [done(i, outputs[i % 6]) for i in range(10_000)]
    started = time.perf_counter()
    for start in range(0, 10_000, 500):
        view.add_items(updates[start : start + 500])
    assert time.perf_counter() - started < 2
    assert view.count() == 10_000
    model = view.model
    qtbot.waitUntil(lambda: model.is_loaded(0))
    qtbot.waitUntil(model.loader.is_idle)
    loaded = sum(model.is_loaded(row) for row in range(10_000))
    assert 0 < loaded < 100  # the cells on screen, not ten thousand
    last = model.index(9_999)
    qtbot.waitUntil(lambda: view.grid.visualRect(last).isValid())  # batched layout reached the end
    view.grid.scrollTo(last)
    qtbot.waitUntil(lambda: model.is_loaded(9_999))


def test_zoom_slider_sets_the_cell_size_and_reloads(qtbot, view, outputs):
    view.add_items([done(0, outputs[0])])
    qtbot.waitUntil(lambda: view.model.is_loaded(0))
    view.zoom.setValue(96)
    assert view.grid.iconSize() == QSize(96, 96)
    assert view.model.cell_size() == 96
    qtbot.waitUntil(lambda: view.model.is_loaded(0))
    assert decoration(view.model, 0).size() == QSize(96, 96)


def test_clear_empties_the_grid(qtbot, view, outputs):
    view.add_items([done(i, outs) for i, outs in enumerate(outputs)])
    with qtbot.waitSignal(view.model.modelReset):
        view.clear()
    assert view.count() == 0
    assert view.count_label.text() == "0 thumbnails"
    view.add_items([done(0, outputs[0])])  # keys are forgotten too
    assert view.count() == 1


def test_model_contract(qtmodeltester, qtbot, tmp_path, outputs):
    model = ThumbnailModel()
    model.set_output_dir(tmp_path / "out")
    qtmodeltester.check(model)
    model.add([done(i, outs) for i, outs in enumerate(outputs)])
    qtmodeltester.check(model)
    placeholder = model.placeholder().cacheKey()
    qtbot.waitUntil(lambda: all(decoration(model, r).cacheKey() != placeholder for r in range(6)))
    qtmodeltester.check(model)
    assert model.rowCount(model.index(0)) == 0
    assert model.data(QModelIndex()) is None
    model.loader.shutdown()


def test_adding_before_the_output_folder_is_known_is_a_clear_error(qapp, outputs):
    model = ThumbnailModel()
    with pytest.raises(RuntimeError, match="set_output_dir"):
        model.add([done(0, outputs[0])])


def test_deleting_the_grid_while_images_load_does_not_hang(qtbot, tmp_path):
    """Owners may drop the grid without calling shutdown(), by deleteLater or by Python's GC, while
    workers are decoding (PNG has no scaled decoding, so each load takes a while).

    A regression here is a deadlock with the GIL held, which no Python-level timeout can break, so a
    C-level watchdog ends the test process instead of letting the suite hang.
    """
    out = tmp_path / "out"
    big = make_image(out, "big.png", (1600, 1200), (10, 20, 30))
    updates = [done(i, [big]) for i in range(200)]
    faulthandler.dump_traceback_later(60, exit=True, file=sys.__stderr__)
    try:
        for round_ in range(6):
            window = QWidget()
            window.resize(900, 700)
            grid = ThumbnailView(window)
            grid.resize(window.size())
            grid.set_output_dir(out)
            grid.add_items(updates)
            window.show()
            qtbot.waitUntil(lambda g=grid: not g.model.loader.is_idle())  # loads are running
            if round_ % 2:
                del grid
                window.close()
                del window
                gc.collect()
            else:
                with qtbot.waitSignal(grid.model.loader.destroyed):
                    window.deleteLater()
                    QTest.qWait(1)  # runs the deferred delete from Python, with the GIL held
    finally:
        faulthandler.cancel_dump_traceback_later()
