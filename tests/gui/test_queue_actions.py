"""What a user does to rows of the queue: the row menu (retry this, open, show, copy, remove), search, Remove
finished."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu

from core.batch.journal import unfinished_batch
from core.models import Entry, ItemUpdate, Output, Status
from gui.queue_model import KEY_ROLE, STATUS_ROLE, Column, QueueModel
from gui.queue_view import QueueView
from tests.gui.conftest import UrlCatcher
from tests.support.window import BATCH_TIMEOUT, make_window, queue, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def action(menu: QMenu, text: str):
    return next(a for a in menu.actions() if a.text() == text)


def url_entry(i: int, name: str = "img") -> Entry:
    url = f"http://127.0.0.1:9/{name}{i}.jpg"
    return Entry(source=url, url=url, file="list.txt", line=i + 1)


def update(entry: Entry, status: Status, **fields) -> ItemUpdate:
    return ItemUpdate(key=entry.key, source=entry.source, status=status, url=entry.url, **fields)


@pytest.fixture
def catch_web_urls() -> Iterator[UrlCatcher]:
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("http", catcher, "open")
    yield catcher
    QDesktopServices.unsetUrlHandler("http")


@pytest.fixture
def view(qtbot) -> QueueView:
    queue_view = QueueView(QueueModel())
    qtbot.addWidget(queue_view)
    return queue_view


def shown_sources(view: QueueView) -> list[str]:
    return [view.proxy.index(row, Column.SOURCE).data() for row in range(view.proxy.rowCount())]


def test_retry_this_runs_just_that_row_and_the_others_keep_their_state(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    good = [http_server.url(f"/img/ok{i}.jpg") for i in range(3)]
    flaky = http_server.url("/retry/1/flaky.jpg")  # 503 once, then the image
    queue(qtbot, window, [*good, flaky])
    window.start()
    first = wait_summary(qtbot, window)
    assert (first.summary.done, first.summary.failed) == (3, 1)

    proxy = window.queue_view.proxy
    action(window.queue_view.context_menu(proxy.index(3, Column.STATUS)), "Retry this").trigger()
    assert window.batch.is_running
    assert not action(window.queue_view.context_menu(proxy.index(0, 0)), "Retry this").isEnabled()  # one at a time
    second = wait_summary(qtbot, window, previous=first)
    assert (second.summary.total, second.summary.done, second.summary.failed) == (4, 4, 0)  # the batch's state
    assert [http_server.hits(f"/img/ok{i}.jpg") for i in range(3)] == [1, 1, 1]
    statuses = [proxy.index(row, 0).data(STATUS_ROLE) for row in range(4)]
    assert statuses == [Status.DONE] * 4
    assert window.thumbnail_view.count() == 4  # the grid keeps the other rows' thumbnails

    action(window.queue_view.context_menu(proxy.index(1, Column.STATUS)), "Retry this").trigger()  # a done row
    third = wait_summary(qtbot, window, previous=second)
    assert (third.summary.total, third.summary.done) == (4, 4)
    assert [http_server.hits(f"/img/ok{i}.jpg") for i in range(3)] == [1, 2, 1]  # made again, only it


def test_retry_this_after_a_cancel_leaves_the_rest_of_the_batch_resumable(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=1)
    urls = [http_server.url(f"/img/n{i}.jpg?delay=0.3") for i in range(6)]
    queue(qtbot, window, urls)
    window.start()
    qtbot.waitUntil(lambda: window.model.counts()[Status.DONE] >= 1, timeout=BATCH_TIMEOUT)
    window.batch.cancel()
    first = wait_summary(qtbot, window)
    left = first.summary.not_reached
    assert left >= 2 and unfinished_batch(tmp_path / "out") == left

    hits = [http_server.hits(f"/img/n{i}.jpg") for i in range(6)]
    proxy = window.queue_view.proxy
    action(window.queue_view.context_menu(proxy.index(5, 0)), "Retry this").trigger()  # the last, not reached
    second = wait_summary(qtbot, window, previous=first)
    assert second.summary.not_reached == left - 1 and not second.summary.cancelled
    assert proxy.index(5, 0).data(STATUS_ROLE) == Status.DONE
    assert proxy.index(4, 0).data(STATUS_ROLE) == Status.NOT_REACHED  # the others keep what they showed
    assert [http_server.hits(f"/img/n{i}.jpg") for i in range(6)] == [*hits[:5], hits[5] + 1]  # just that one
    assert unfinished_batch(tmp_path / "out") == left - 1  # the next launch still offers to finish the rest


def test_row_menu_opens_the_url_the_thumbnail_and_its_folder_and_copies(
    view, tmp_path, catch_web_urls, catch_file_urls
):
    entries = [url_entry(0), url_entry(1), Entry("ftp://x/y.jpg", None, "list.txt", 9, "unsupported scheme")]
    view.model.add_entries(entries)
    view.model.apply_updates(
        [
            update(entries[0], Status.DONE, outputs=[Output("sub/a_128.jpg", 128, 85, 10)]),
            update(entries[1], Status.FAILED, error="HTTP 404 Not Found"),
        ]
    )
    view.set_output_dir(tmp_path)
    done, failed, invalid = (view.proxy.index(row, Column.SOURCE) for row in range(3))

    menu = view.context_menu(done)
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
        "Retry this", "Open URL in browser", "Open thumbnail", "Show in folder", "Copy URL", "Copy error",
        "Remove from the queue",
    ]  # fmt: skip
    action(menu, "Open URL in browser").trigger()
    assert [u.toString() for u in catch_web_urls.urls] == [entries[0].url]
    action(menu, "Open thumbnail").trigger()
    action(menu, "Show in folder").trigger()
    assert [u.toLocalFile() for u in catch_file_urls.urls] == [str(tmp_path / "sub/a_128.jpg"), str(tmp_path / "sub")]

    assert not action(view.context_menu(failed), "Show in folder").isEnabled()
    action(view.context_menu(failed), "Copy URL").trigger()
    assert QGuiApplication.clipboard().text() == entries[1].url
    assert not action(view.context_menu(invalid), "Open URL in browser").isEnabled()
    assert not action(view.context_menu(invalid), "Retry this").isEnabled()  # nothing to fetch
    view.model.add_entries([url_entry(7)])
    assert not action(view.context_menu(view.proxy.index(3, 0)), "Retry this").isEnabled()  # never run: Start it

    view.set_busy(True)  # a batch runs: its rows stay
    assert not action(view.context_menu(failed), "Retry this").isEnabled()
    assert not action(view.context_menu(failed), "Remove from the queue").isEnabled()
    view.set_busy(False)


def test_remove_from_the_queue_takes_the_selected_rows_out(qtbot, qtmodeltester, view):
    entries = [url_entry(i) for i in range(5)] + [Entry("ftp://x/y.jpg", None, "list.txt", 9, "unsupported scheme")]
    view.model.add_entries(entries)
    qtmodeltester.check(view.model)  # and keeps checking it through the removals
    view.model.apply_updates([update(entries[4], Status.FAILED, error="HTTP 500")])
    view.table.sortByColumn(Column.SOURCE, Qt.SortOrder.DescendingOrder)  # a sorted view stays sorted
    for row in (0, 2):  # img4 and img2
        view.table.selectionModel().select(
            view.proxy.index(row, 0),
            view.table.selectionModel().SelectionFlag.Select | view.table.selectionModel().SelectionFlag.Rows,
        )
    action(view.context_menu(view.proxy.index(0, 0)), "Remove 2 from the queue").trigger()
    assert [e.source for e in view.model.entries()] == [entries[i].source for i in (0, 1, 3, 5)]
    assert shown_sources(view) == [entries[3].url, entries[1].url, entries[0].url, "ftp://x/y.jpg"]
    assert view.model.counts()[Status.FAILED] == 0 and view.filter_buttons["all"].text() == "All (4)"
    action(view.context_menu(view.proxy.index(3, 0)), "Remove from the queue").trigger()  # an invalid line too
    assert view.model.rowCount() == 3 and view.model.counts()[Status.INVALID] == 0
    view.model.add_entries([entries[4]])  # a removed item can be queued again
    assert view.model.rowCount() == 4


def test_search_filters_rows_by_source_or_error_within_the_status_filter(qtbot, view):
    entries = [url_entry(i, "cat") for i in range(3)] + [url_entry(i, "dog") for i in range(3)]
    view.model.add_entries(entries)
    view.model.apply_updates(
        [update(entries[0], Status.FAILED, error="HTTP 404 Not Found"), update(entries[3], Status.DONE)]
    )
    qtbot.keyClicks(view.search_edit, "DOG")
    assert shown_sources(view) == [e.url for e in entries[3:]]  # any case
    view.search_edit.setText("404")
    assert shown_sources(view) == [entries[0].url]  # errors are searched too
    view.search_edit.setText("done")
    assert shown_sources(view) == []  # the status is the filter buttons', not text to find
    view.search_edit.setText("cat")
    view.proxy.set_filter("failed")
    assert shown_sources(view) == [entries[0].url]
    view.proxy.set_filter("all")
    view.search_edit.clear()
    assert view.proxy.rowCount() == 6


def test_remove_finished_takes_done_rows_out(qtbot, view):
    entries = [url_entry(i) for i in range(5)]
    view.model.add_entries(entries)
    assert not view.remove_finished_button.isEnabled()
    view.model.apply_updates(
        [
            update(entries[0], Status.DONE),
            update(entries[1], Status.SKIPPED),  # made by an earlier run: finished too
            update(entries[2], Status.FAILED, error="timeout"),
            update(entries[3], Status.RUNNING),
        ]
    )
    view.set_busy(True)
    assert not view.remove_finished_button.isEnabled()
    view.set_busy(False)
    assert view.remove_finished_button.isEnabled()
    qtbot.mouseClick(view.remove_finished_button, Qt.MouseButton.LeftButton)
    assert shown_sources(view) == [e.url for e in entries[2:]]
    assert [view.proxy.index(r, 0).data(KEY_ROLE) for r in range(3)] == [e.key for e in entries[2:]]
    assert view.filter_buttons["done"].text() == "Done (0)" and not view.remove_finished_button.isEnabled()
