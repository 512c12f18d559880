"""Drops and pastes: every kind of QMimeData a file manager or a browser sends ends up in the queue."""

from __future__ import annotations

import gc
import itertools
import time
from pathlib import Path

import pytest
import shiboken6
from PIL import Image
from PySide6.QtCore import QCoreApplication, QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent, QGuiApplication

from core.models import Entry, Status
from gui.drops import Dropped, SourceLoader, can_accept, read_mime
from gui.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]

WEB = "http://127.0.0.1:9/img"


def make_image(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "orange").save(path)
    return path


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A list of each kind, an image and a folder of images, as a user has them on disk."""
    txt = tmp_path / "urls.txt"
    txt.write_text(f"# my list\n{WEB}/a.jpg\nnot a url at all\n{WEB}/b.jpg\n")
    csv = tmp_path / "urls.csv"
    csv.write_text(f"name,url\nfirst,{WEB}/c.jpg\nsecond,{WEB}/d.jpg\n")
    html = tmp_path / "page.html"
    html.write_text(f'<html><body><img src="{WEB}/e.jpg"><p>text</p><img src="{WEB}/f.png"></body></html>')
    folder = tmp_path / "holiday"
    make_image(folder / "one.jpg")
    make_image(folder / "sub" / "two.png")
    (folder / "notes.txt").write_text("not an image")
    return {"txt": txt, "csv": csv, "html": html, "image": make_image(tmp_path / "single.jpg"), "folder": folder}


def file_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    mime.setText("\n".join(str(p) for p in paths))  # what file managers add; must not double the items
    return mime


def parse(mime: QMimeData) -> list[Entry]:
    return list(read_mime(mime).entries())


ACTIONS = Qt.DropAction.CopyAction | Qt.DropAction.LinkAction
LEFT, NO_MODIFIER = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


def drag_enter(window: MainWindow, mime: QMimeData) -> QDragEnterEvent:
    event = QDragEnterEvent(window.rect().center(), ACTIONS, mime, LEFT, NO_MODIFIER)
    event.ignore()  # as Qt delivers it: the widget must accept
    QCoreApplication.sendEvent(window, event)
    return event


def drop_on(window: MainWindow, mime: QMimeData) -> QDropEvent:
    assert drag_enter(window, mime).isAccepted()
    drop = QDropEvent(QPointF(window.rect().center()), ACTIONS, mime, LEFT, NO_MODIFIER)
    drop.ignore()
    QCoreApplication.sendEvent(window, drop)
    return drop


def sources(window: MainWindow) -> list[str]:
    return [e.source for e in window.model.entries()]


# -- parsing ------------------------------------------------------------------------------------------


def test_text_list_file_keeps_invalid_lines_with_their_number(files):
    entries = parse(file_mime(files["txt"]))
    assert [e.url for e in entries if e.url] == [f"{WEB}/a.jpg", f"{WEB}/b.jpg"]
    (bad,) = [e for e in entries if e.url is None]
    assert (bad.source, bad.line, bad.file) == ("not a url at all", 3, str(files["txt"]))
    assert "no such file" in bad.error


def test_csv_list_file_reads_the_url_column(files):
    assert [e.url for e in parse(file_mime(files["csv"]))] == [f"{WEB}/c.jpg", f"{WEB}/d.jpg"]


def test_html_list_file_reads_its_images(files):
    assert [e.url for e in parse(file_mime(files["html"]))] == [f"{WEB}/e.jpg", f"{WEB}/f.png"]


def test_an_image_file(files):
    (entry,) = parse(file_mime(files["image"]))
    assert entry.url == files["image"].as_uri()


def test_a_folder_gives_its_images_recursively(files):
    urls = [e.url for e in parse(file_mime(files["folder"]))]
    assert urls == [(files["folder"] / "one.jpg").as_uri(), (files["folder"] / "sub" / "two.png").as_uri()]


def test_several_files_at_once(files):
    entries = parse(file_mime(files["txt"], files["image"], files["folder"]))
    assert len([e for e in entries if e.url]) == 2 + 1 + 2
    assert len([e for e in entries if e.url is None]) == 1


def test_uri_list_from_a_browser_keeps_unusable_lines():
    mime = QMimeData()
    mime.setData("text/uri-list", f"{WEB}/a.jpg\r\n# comment\r\nftp://127.0.0.1/b.jpg\r\n".encode())
    entries = parse(mime)
    assert [e.url for e in entries] == [f"{WEB}/a.jpg", None]
    assert "unsupported scheme" in entries[1].error


def test_plain_text_with_urls():
    mime = QMimeData()
    mime.setText(f"{WEB}/a.jpg\n\n{WEB}/b.jpg {WEB}/c.jpg\nhello there\n")
    entries = parse(mime)
    assert [e.url for e in entries] == [f"{WEB}/a.jpg", f"{WEB}/b.jpg", f"{WEB}/c.jpg", None]
    assert entries[-1].source == "hello there"


def test_html_fragment_wins_over_the_link_around_the_image():
    """Dragging a linked image: the URL list names the page, the HTML names the image."""
    mime = QMimeData()
    mime.setUrls([QUrl(f"{WEB}/article")])
    mime.setHtml(f'<a href="{WEB}/article"><img src="{WEB}/photo.jpg" alt="x"></a><img src="{WEB}/two.webp">')
    mime.setText(f"{WEB}/article")
    assert [e.url for e in parse(mime)] == [f"{WEB}/photo.jpg", f"{WEB}/two.webp"]


def test_html_without_images_falls_back_to_the_urls():
    mime = QMimeData()
    mime.setUrls([QUrl(f"{WEB}/a.jpg")])
    mime.setHtml(f'<a href="{WEB}/a">a link</a>')
    assert [e.url for e in parse(mime)] == [f"{WEB}/a.jpg"]


def test_empty_or_foreign_data_is_not_accepted():
    mime = QMimeData()
    mime.setData("application/x-something", b"\x00\x01")
    assert not can_accept(mime)
    assert not read_mime(mime)
    assert not Dropped(text="   \n")


# -- the loader -----------------------------------------------------------------------------------------


def test_loader_reads_off_the_gui_thread_in_order(qtbot, files):
    loader = SourceLoader()
    got: list[Entry] = []
    loader.entries_ready.connect(got.extend)
    with qtbot.waitSignal(loader.busy_changed) as busy:
        loader.load_sources([str(files["folder"]), str(files["txt"])])
    assert busy.args == [True] and loader.is_busy
    assert got == []  # nothing arrives before the event loop delivers it
    with qtbot.waitSignal(loader.finished) as done:
        pass
    assert done.args == [2 + 3]
    qtbot.waitUntil(lambda: not loader.is_busy)
    assert [e.source for e in got][:2] == [
        str(files["folder"] / "one.jpg"),
        str(files["folder"] / "sub" / "two.png"),
    ]


def test_loader_cancel_drops_what_was_not_delivered(qtbot, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("".join(f"{WEB}/{i}.jpg\n" for i in range(200_000)))
    loader = SourceLoader()
    got: list[Entry] = []

    def first_batch_then_cancel(entries: list[Entry]) -> None:
        got.extend(entries)
        loader.cancel()  # as a user would after seeing the first rows arrive

    loader.entries_ready.connect(first_batch_then_cancel)
    with qtbot.waitSignal(loader.busy_changed, check_params_cb=lambda busy: not busy, timeout=10_000):
        loader.load_sources([str(big)])
    assert 0 < len(got) < 200_000
    assert gc.get_freeze_count() == 0


def test_deleting_a_loader_mid_list_stops_its_worker(qtbot, tmp_path):
    """The worker waits for the GUI to take each batch; a loader deleted meanwhile must not hang on it."""
    big = tmp_path / "big.txt"
    big.write_text("".join(f"{WEB}/{i}.jpg\n" for i in range(200_000)))
    loader = SourceLoader()
    got: list[Entry] = []
    loader.entries_ready.connect(got.extend)
    loader.load_sources([str(big)])
    qtbot.waitUntil(lambda: bool(got))
    shiboken6.delete(loader)  # destroys its thread pool, which waits for the worker to end
    assert 0 < len(got) < 200_000
    assert gc.get_freeze_count() == 0


def test_the_window_keeps_ticking_while_a_long_list_loads(window, qtbot, tmp_path):
    """Rows arrive a batch per event-loop turn, so a 10 ms timer (like painting and input) keeps running."""
    lines = [f"{WEB}/{i // 1000}/photo-{i:07d}.jpg" for i in range(200_000)]
    listing = tmp_path / "long.txt"
    listing.write_text("".join(f"{line}\n" for line in lines))
    window.show()
    stamps: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start(10)
    start = time.perf_counter()
    window.add_sources([str(listing)])
    qtbot.waitUntil(lambda: not window.loader.is_busy, timeout=30_000)
    end = time.perf_counter()
    timer.stop()
    assert [e.source for e in window.model.entries()] == lines  # all of them, in the list's order
    assert gc.get_freeze_count() == 0  # while loading, the queue was kept out of full collections; no longer
    longest_ms = max(b - a for a, b in itertools.pairwise([start, *stamps, end])) * 1000
    assert longest_ms < 200, f"the GUI thread stalled for {longest_ms:.0f} ms while the list loaded"


# -- the window -------------------------------------------------------------------------------------------


def test_dragging_over_the_window_highlights_the_queue(window, files):
    window.tabs.setCurrentWidget(window.thumbnail_view)
    assert drag_enter(window, file_mime(files["image"])).isAccepted()
    assert window.tabs.currentWidget() is window.queue_view
    assert not window.queue_view._highlight.isHidden()
    QCoreApplication.sendEvent(window, QDragLeaveEvent())
    assert window.queue_view._highlight.isHidden()
    assert window.model.rowCount() == 0


def test_dropping_files_queues_them_without_blocking(window, qtbot, files):
    drop = drop_on(window, file_mime(files["txt"], files["image"], files["folder"]))
    assert drop.isAccepted()
    assert window.queue_view._highlight.isHidden()
    assert window.model.rowCount() == 0  # read on a worker thread
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    counts = window.model.counts()
    assert counts[Status.PENDING] == 5 and counts[Status.INVALID] == 1
    assert "not a url at all" in sources(window)
    qtbot.waitUntil(lambda: window.start_action.isEnabled())


def test_dropping_browser_links_and_fragments(window, qtbot):
    links = QMimeData()
    links.setData("text/uri-list", f"{WEB}/a.jpg\r\n{WEB}/b.jpg\r\n".encode())
    drop_on(window, links)
    fragment = QMimeData()
    fragment.setHtml(f'<div><img src="{WEB}/c.jpg"><img src="{WEB}/a.jpg"></div>')
    drop_on(window, fragment)
    text = QMimeData()
    text.setText(f"{WEB}/d.jpg\nno url here")
    drop_on(window, text)
    qtbot.waitUntil(lambda: window.model.rowCount() == 5)  # a.jpg twice is one item
    assert sources(window) == [f"{WEB}/a.jpg", f"{WEB}/b.jpg", f"{WEB}/c.jpg", f"{WEB}/d.jpg", "no url here"]
    assert window.model.counts()[Status.INVALID] == 1


def test_a_drop_with_nothing_usable_is_refused(window):
    mime = QMimeData()
    mime.setData("application/octet-stream", b"\x00")
    assert not drag_enter(window, mime).isAccepted()
    assert window.queue_view._highlight.isHidden()


def test_paste_urls_from_the_clipboard(window, qtbot):
    mime = QMimeData()
    mime.setText(f"{WEB}/p1.jpg\n{WEB}/p2.jpg\n")
    QGuiApplication.clipboard().setMimeData(mime)
    window.paste_action.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    assert sources(window) == [f"{WEB}/p1.jpg", f"{WEB}/p2.jpg"]


def test_paste_with_an_empty_clipboard_says_so(window):
    QGuiApplication.clipboard().clear()
    window.paste_action.trigger()
    assert "clipboard holds no URLs" in window.status.currentMessage()
    assert window.model.rowCount() == 0


def test_clear_empties_queue_and_disables_start(window, qtbot, files):
    window.add_sources([str(files["folder"])])
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    assert window.clear_action.isEnabled()
    window.clear_action.trigger()
    assert window.model.rowCount() == 0
    assert not window.start_action.isEnabled()
