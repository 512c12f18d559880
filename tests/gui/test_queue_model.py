"""The queue table: model contract, batching at scale, filters, sorting, and the panel around it."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QModelRoleData, QModelRoleDataSpan, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QLabel, QMenu

from core.models import Entry, ItemUpdate, Output, Status
from gui.queue_model import STATUS_ROLE, URL_ROLE, WARNING_ROLE, Column, QueueFilterProxy, QueueModel
from gui.queue_view import EMPTY_HINT, QueueView

pytestmark = pytest.mark.gui


def url_entry(i: int) -> Entry:
    url = f"http://127.0.0.1:9/img{i}.jpg"
    return Entry(source=url, url=url, file="list.txt", line=i + 1)


def update(entry: Entry, status: Status, **fields) -> ItemUpdate:
    return ItemUpdate(
        key=entry.key, source=entry.source, status=status, url=entry.url, file=entry.file, line=entry.line, **fields
    )


def cell(model, row: int, column: Column, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


def action(menu: QMenu, prefix: str):
    return next(a for a in menu.actions() if a.text().startswith(prefix))


@pytest.fixture
def model(qapp):
    return QueueModel()


def test_model_contract_empty_filled_and_updated(qtmodeltester, model):
    qtmodeltester.check(model)
    entries = [url_entry(i) for i in range(20)] + [Entry("ftp thing", None, "list.txt", 30, "not a URL")]
    model.add_entries(entries)
    qtmodeltester.check(model)
    model.apply_updates(
        [
            update(entries[0], Status.DONE, bytes=2048, seconds=0.5, outputs=[Output("a.jpg", 256, 171, 900)]),
            update(entries[1], Status.FAILED, error="HTTP 404: not found"),
            update(entries[2], Status.RUNNING),
            update(entries[3], Status.DONE, warning="truncated: about 40% of the image is missing"),
        ]
    )
    qtmodeltester.check(model)


def test_proxy_contract(qtmodeltester, model):
    model.add_entries(url_entry(i) for i in range(10))
    proxy = QueueFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.SIZE, Qt.SortOrder.DescendingOrder)
    proxy.set_filter("done")
    qtmodeltester.check(proxy)
    model.apply_updates([update(url_entry(i), Status.DONE, bytes=i * 10) for i in range(0, 10, 2)])
    assert proxy.rowCount() == 5
    qtmodeltester.check(proxy)


WARNING = "truncated: about 40% of the image is missing"


def test_a_done_item_with_a_warning_shows_it_in_the_error_column_with_a_sign(model):
    entries = [url_entry(0), url_entry(1)]
    model.add_entries(entries)
    model.apply_updates([update(entries[0], Status.DONE, warning=WARNING), update(entries[1], Status.DONE)])
    assert cell(model, 0, Column.STATUS) == "done"
    assert cell(model, 0, Column.ERROR) == WARNING
    assert cell(model, 0, Column.ERROR, Qt.ItemDataRole.ToolTipRole) == WARNING
    assert cell(model, 0, Column.ERROR, WARNING_ROLE) == WARNING
    sign = cell(model, 0, Column.ERROR, Qt.ItemDataRole.DecorationRole)
    assert isinstance(sign, QIcon) and not sign.isNull()
    assert cell(model, 1, Column.ERROR) == "" and cell(model, 1, Column.ERROR, Qt.ItemDataRole.DecorationRole) is None
    model.sort(Column.ERROR, Qt.SortOrder.DescendingOrder)  # sorts with the errors
    assert cell(model, 0, Column.ERROR) == WARNING

    model.reset_statuses()  # a new run: the old outcome and its warning go
    assert [cell(model, r, Column.ERROR) for r in range(2)] == ["", ""]
    assert cell(model, 0, Column.ERROR, Qt.ItemDataRole.DecorationRole) is None


def test_entries_come_back_as_given_whatever_their_url_file_and_line(model):
    given = [
        url_entry(0),
        Entry("HTTP://127.0.0.1:9/Big.JPG", "http://127.0.0.1:9/Big.JPG", "shop.csv", 7),
        Entry("ftp thing", None, "list.txt", 3, "not a URL"),
        Entry("/photos/cat.png", "file:///photos/cat.png"),
    ]
    model.add_entries(given)
    assert model.entries() == given
    assert [cell(model, r, Column.SOURCE, URL_ROLE) for r in range(4)] == [
        url_entry(0).url,
        "http://127.0.0.1:9/Big.JPG",
        "ftp thing",  # nothing better to copy than what the line said
        "file:///photos/cat.png",
    ]
    assert cell(model, 1, Column.SOURCE, Qt.ItemDataRole.ToolTipRole) == "HTTP://127.0.0.1:9/Big.JPG\nshop.csv:7"


def _comparable(value):
    return value.cacheKey() if isinstance(value, QIcon) else value


def test_a_cell_gives_every_role_at_once_as_it_does_role_by_role(model):
    """What a delegate asks in one call (multiData, through the filter proxy) equals data() for each role."""
    entries = [url_entry(0), url_entry(1), Entry("ftp thing", None, "list.txt", 3, "not a URL"), url_entry(3)]
    model.add_entries(entries)
    model.apply_updates(
        [
            update(entries[0], Status.DONE, bytes=2048, seconds=0.5, outputs=[Output("a.jpg", 256, 171, 900)]),
            update(entries[1], Status.FAILED, error="HTTP 404: not found"),
            update(entries[3], Status.DONE, warning=WARNING),
        ]
    )
    proxy = QueueFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.STATUS, Qt.SortOrder.DescendingOrder)
    roles = [
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.DecorationRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.FontRole,
        URL_ROLE,
        STATUS_ROLE,
        WARNING_ROLE,
    ]
    asked = {role: QModelRoleData(int(role)) for role in roles}  # reused from cell to cell, as a delegate does
    for row in range(4):
        for column in Column:
            index = proxy.index(row, column)
            for role, answer in asked.items():
                proxy.multiData(index, QModelRoleDataSpan(answer))
                assert _comparable(answer.data()) == _comparable(proxy.data(index, role)), (row, column, role)


def test_duplicates_are_added_once(model):
    assert model.add_entries([url_entry(1), url_entry(2), url_entry(1)]) == 2
    # The same URL written differently in another list is the same item.
    again = Entry(source="img1 from list b", url=url_entry(1).url, file="b.txt", line=7)
    assert model.add_entries([again, url_entry(3)]) == 1
    assert [e.url for e in model.entries()] == [url_entry(i).url for i in (1, 2, 3)]


def test_invalid_lines_are_rows_with_their_error(model):
    bad = Entry(source="htp:/broken", url=None, file="urls.txt", line=4, error="not a URL or a path")
    same_text_other_line = Entry(source="htp:/broken", url=None, file="urls.txt", line=9, error="not a URL")
    assert model.add_entries([url_entry(0), bad, same_text_other_line]) == 3
    assert cell(model, 1, Column.STATUS) == "invalid"
    assert cell(model, 1, Column.ERROR) == "not a URL or a path"
    assert cell(model, 1, Column.SOURCE, Qt.ItemDataRole.ToolTipRole) == "htp:/broken\nurls.txt:4"
    assert model.counts()[Status.INVALID] == 2
    assert model.failed_sources() == ["htp:/broken", "htp:/broken"]
    assert bad in model.entries()  # the runner gets it so the report lists it


def test_updates_fill_columns_and_counts(model):
    entries = [url_entry(i) for i in range(4)]
    model.add_entries(entries)
    model.apply_updates(
        [
            update(entries[0], Status.DONE, bytes=1536, seconds=1.25),
            update(entries[1], Status.FAILED, error="connection refused"),
            update(entries[2], Status.RUNNING),
        ]
    )
    assert [cell(model, 0, c) for c in Column] == ["http://127.0.0.1:9/img0.jpg", "done", "1.5 KiB", "1.25", ""]
    assert cell(model, 1, Column.ERROR) == "connection refused"
    assert not cell(model, 0, Column.STATUS, Qt.ItemDataRole.DecorationRole).isNull()
    counts = model.counts()
    assert (counts[Status.DONE], counts[Status.FAILED], counts[Status.RUNNING], counts[Status.PENDING]) == (1, 1, 1, 1)
    assert model.keys_with_status(Status.RUNNING, Status.PENDING) == [entries[2].key, entries[3].key]
    assert model.failed_sources() == [entries[1].source]


def test_unknown_keys_from_a_resumed_batch_are_appended(qtbot, model):
    model.add_entries([url_entry(0)])
    old = [update(url_entry(i), Status.DONE, bytes=10) for i in (5, 6)]
    with qtbot.waitSignal(model.rowsInserted) as inserted:
        model.apply_updates(old)
    assert inserted.args[1:] == [1, 2]
    assert model.rowCount() == 3
    assert cell(model, 2, Column.STATUS) == "done"
    assert model.counts()[Status.DONE] == 2
    assert model.entries()[2].key == old[1].key


def test_a_batch_of_updates_emits_one_changed_range(model):
    model.add_entries(url_entry(i) for i in range(1000))
    ranges: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda top, bottom, roles: ranges.append((top.row(), bottom.row())))
    model.apply_updates([update(url_entry(i), Status.RUNNING) for i in range(100, 150)])
    assert ranges == [(100, 149)]
    ranges.clear()
    # Two clusters far apart (a resumed batch) stay two ranges instead of one covering everything between.
    model.apply_updates([update(url_entry(i), Status.DONE) for i in (*range(0, 20), *range(900, 920))])
    assert ranges == [(0, 19), (900, 919)]


def test_reset_statuses_before_a_new_run(model):
    entries = [url_entry(0), url_entry(1), Entry("??", None, "l.txt", 3, "not a URL")]
    model.add_entries(entries)
    model.apply_updates([update(entries[0], Status.DONE, bytes=5), update(entries[1], Status.FAILED, error="x")])
    model.reset_statuses()
    assert [cell(model, r, Column.STATUS) for r in range(3)] == ["pending", "pending", "invalid"]
    assert cell(model, 0, Column.SIZE) == ""
    assert cell(model, 1, Column.ERROR) == ""
    assert cell(model, 2, Column.ERROR) == "not a URL"
    assert model.counts()[Status.PENDING] == 2


def test_clear(model):
    model.add_entries(url_entry(i) for i in range(3))
    model.clear()
    assert model.rowCount() == 0
    assert model.entries() == []
    assert sum(model.counts().values()) == 0
    assert model.add_entries([url_entry(0)]) == 1  # keys are forgotten too


def test_sort_by_size_is_numeric(model):
    sizes = [9, 1_000_000, 100, 20_000, None]
    entries = [url_entry(i) for i in range(len(sizes))]
    model.add_entries(entries)
    model.apply_updates([update(e, Status.DONE, bytes=s) for e, s in zip(entries, sizes, strict=True)])
    proxy = QueueFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.SIZE, Qt.SortOrder.AscendingOrder)
    shown = [proxy.index(r, Column.SIZE).data() for r in range(proxy.rowCount())]
    assert shown == ["", "9 B", "100 B", "19.5 KiB", "976.6 KiB"]


def test_filters(model):
    entries = [url_entry(i) for i in range(6)] + [Entry("nope", None, "l.txt", 9, "not a URL")]
    model.add_entries(entries)
    model.apply_updates(
        [
            update(entries[0], Status.DONE),
            update(entries[1], Status.SKIPPED),
            update(entries[2], Status.FAILED, error="timeout"),
            update(entries[3], Status.RUNNING),
        ]
    )
    proxy = QueueFilterProxy()
    proxy.setSourceModel(model)
    expected = {"all": 7, "running": 1, "done": 2, "failed": 2}
    for name, rows in expected.items():
        proxy.set_filter(name)
        assert proxy.rowCount() == rows, name
    proxy.set_filter("running")
    model.apply_updates([update(entries[3], Status.DONE)])  # rows leave a filter as their status changes
    assert proxy.rowCount() == 0
    with pytest.raises(ValueError, match="unknown queue filter 'errors'"):
        proxy.set_filter("errors")


def test_a_hundred_thousand_rows_stay_fast(qtbot, model):
    view = QueueView(model)
    qtbot.addWidget(view)
    qtbot.mouseClick(view.filter_buttons["done"], Qt.MouseButton.LeftButton)  # rows move into a filter
    entries = [url_entry(i) for i in range(100_000)]
    batches = [
        [update(e, Status.DONE, bytes=i, seconds=0.1) for i, e in enumerate(entries[start : start + 10_000])]
        for start in range(0, 100_000, 10_000)
    ]
    started = time.perf_counter()
    assert model.add_entries(entries) == 100_000
    for batch in batches:
        model.apply_updates(batch)
    view.table.sortByColumn(Column.SIZE, Qt.SortOrder.DescendingOrder)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"100,000 rows took {elapsed:.1f} s"
    assert model.counts()[Status.DONE] == 100_000
    assert view.filter_buttons["done"].text() == "Done (100,000)"
    assert view.proxy.rowCount() == 100_000
    assert view.proxy.index(0, Column.SIZE).data() == "9.8 KiB"  # 9999 bytes, the largest, first


def test_filter_buttons_show_counts_and_filter(qtbot, model):
    view = QueueView(model)
    qtbot.addWidget(view)
    entries = [url_entry(i) for i in range(5)] + [Entry("x", None, "l.txt", 1, "not a URL")]
    model.add_entries(entries)
    model.apply_updates([update(entries[0], Status.DONE), update(entries[1], Status.FAILED, error="boom")])
    texts = [b.text() for b in view.filter_buttons.values()]
    assert texts == ["All (6)", "Running (0)", "Done (1)", "Failed (2)"]
    qtbot.mouseClick(view.filter_buttons["failed"], Qt.MouseButton.LeftButton)
    assert view.table.model().rowCount() == 2
    assert view.filter_buttons["failed"].isChecked()
    qtbot.mouseClick(view.filter_buttons["all"], Qt.MouseButton.LeftButton)
    assert view.table.model().rowCount() == 6


def test_empty_state_offers_open_list(qtbot, model, host):
    view = QueueView(model, host)
    view.resize(host.size())
    view.show()
    assert view.empty_page.isVisible()
    assert EMPTY_HINT in [label.text() for label in view.empty_page.findChildren(QLabel)]
    with qtbot.waitSignal(view.open_requested):
        qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    model.add_entries([url_entry(0)])
    assert view.table.isVisible() and not view.empty_page.isVisible()
    model.clear()
    assert view.empty_page.isVisible()


def test_drop_highlight(model, host):
    view = QueueView(model, host)
    view.resize(400, 300)
    view.show()
    under = view.childAt(200, 150)
    view.set_drop_highlight(True)
    overlay = next(w for w in view.children() if type(w).__name__ == "_DropHighlight")
    assert overlay.isVisible() and overlay.geometry() == view.rect()
    view.set_drop_highlight(False)
    assert not overlay.isVisible()
    view.set_drop_highlight(True)
    assert view.childAt(200, 150) is under  # the frame never takes clicks


def test_context_menu_copies_and_opens(qtbot, model, tmp_path, catch_file_urls):
    view = QueueView(model)
    qtbot.addWidget(view)
    entries = [url_entry(0), url_entry(1)]
    model.add_entries(entries)
    model.apply_updates(
        [
            update(
                entries[0], Status.DONE, outputs=[Output("s/a_128.jpg", 128, 85, 10), Output("a_512.jpg", 512, 341, 90)]
            ),
            update(entries[1], Status.FAILED, error="HTTP 503: service unavailable (after 3 tries)"),
        ]
    )
    clipboard = QGuiApplication.clipboard()
    done_row, failed_row = view.proxy.index(0, Column.STATUS), view.proxy.index(1, Column.STATUS)

    action(view.context_menu(failed_row), "Copy URL").trigger()
    assert clipboard.text() == entries[1].url
    action(view.context_menu(failed_row), "Copy error").trigger()
    assert clipboard.text() == "HTTP 503: service unavailable (after 3 tries)"
    assert not action(view.context_menu(failed_row), "Open thumbnail").isEnabled()
    assert not action(view.context_menu(done_row), "Copy error").isEnabled()
    assert not action(view.context_menu(done_row), "Open thumbnail").isEnabled()  # no output folder yet

    view.set_output_dir(tmp_path)
    open_thumb = action(view.context_menu(done_row), "Open thumbnail")
    assert open_thumb.isEnabled()
    open_thumb.trigger()
    assert [u.toLocalFile() for u in catch_file_urls.urls] == [str(tmp_path / "a_512.jpg")]

    view.table.selectAll()
    menu = view.context_menu(done_row)
    action(menu, "Copy 2 URLs").trigger()
    assert clipboard.text().splitlines() == [entries[0].url, entries[1].url]


def test_sorting_is_a_snapshot_that_keeps_rows_selection_and_queue_order(qtbot, model):
    view = QueueView(model)
    qtbot.addWidget(view)
    model.add_entries(url_entry(i) for i in (3, 1, 2))

    def shown(column=Column.SOURCE):
        return [view.proxy.index(r, column).data() for r in range(view.proxy.rowCount())]

    assert model.sort_column() == -1
    assert shown() == [url_entry(i).source for i in (3, 1, 2)]
    view.table.selectRow(0)
    view.table.sortByColumn(Column.SOURCE, Qt.SortOrder.AscendingOrder)
    assert shown() == [url_entry(i).source for i in (1, 2, 3)]
    assert [i.data() for i in view.table.selectionModel().selectedRows()] == [url_entry(3).source]
    model.apply_updates([update(url_entry(2), Status.FAILED, error="boom")])
    assert shown(Column.ERROR) == ["", "boom", ""]
    assert [e.source for e in model.entries()] == [url_entry(i).source for i in (3, 1, 2)]
    view.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    assert shown() == [url_entry(i).source for i in (3, 1, 2)]
