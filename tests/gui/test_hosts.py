"""The Hosts tab: model contract, sorting, pause and resume requests, and the tab live during a real batch."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from core.models import HostState, HostUpdate, Status
from gui.hosts_model import HOST_ROLE, Column, HostsModel, HostsProxy
from gui.hosts_view import HostsView
from tests.support.loopback import LoopbackServer
from tests.support.window import make_window, queue, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def _cell(model, row: int, column: Column) -> str:
    return model.data(model.index(row, column))


def _row_of(model, host: str) -> int:
    return next(r for r in range(model.rowCount()) if model.index(r, 0).data(HOST_ROLE) == host)


def test_model_contract_and_counts_added_up(qtmodeltester, qapp) -> None:
    model = HostsModel()
    qtmodeltester.check(model)
    model.apply([HostUpdate("a.example", HostState.OK, 3, bytes_per_second=2048.0), HostUpdate("b", HostState.OK, 1)])
    model.apply([HostUpdate("a.example", HostState.OK, 2, done_added=4, bytes_added=4096, bytes_per_second=1024.0)])
    model.apply([HostUpdate("b", HostState.COOLING_DOWN, 0, failed_added=1, error="HTTP 503 Service Unavailable")])
    model.apply([HostUpdate("a.example", HostState.OK, 0, done_added=1)])
    qtmodeltester.check(model)
    assert [_cell(model, 0, c) for c in Column] == ["a.example", "0", "5", "0", "", "ok"]
    assert [_cell(model, 1, c) for c in Column] == ["b", "0", "0", "1", "", "cooling down"]
    assert model.data(model.index(1, Column.STATE), Qt.ItemDataRole.ToolTipRole).endswith("503 Service Unavailable")


def test_proxy_sorts_by_numbers_not_text(qtmodeltester, qapp) -> None:
    model = HostsModel()
    model.apply([HostUpdate(f"h{i}", HostState.OK, 0, done_added=n) for i, n in enumerate((9, 10, 100, 2))])
    proxy = HostsProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.DONE, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(proxy)
    assert [_cell(proxy, r, Column.DONE) for r in range(4)] == ["100", "10", "9", "2"]
    model.apply([HostUpdate("h3", HostState.OK, 0, done_added=200)])  # live: re-sorted as it changes
    assert _cell(proxy, 0, Column.HOST) == "h3"


def test_buttons_and_menu_ask_for_the_selected_hosts(qtbot) -> None:
    model = HostsModel()
    model.apply([HostUpdate("a", HostState.OK, 1), HostUpdate("b", HostState.HELD, 0)])
    view = HostsView(model)
    qtbot.addWidget(view)
    asked: list[tuple[str, list[str]]] = []
    view.pause_requested.connect(lambda hosts: asked.append(("pause", hosts)))
    view.resume_requested.connect(lambda hosts: asked.append(("resume", hosts)))
    assert not view.pause_button.isEnabled() and not view.resume_button.isEnabled()  # nothing selected

    view.table.selectRow(_row_of(view.proxy, "a"))
    assert view.pause_button.isEnabled() and not view.resume_button.isEnabled()
    view.pause_button.click()
    menu = view.context_menu(view.proxy.index(_row_of(view.proxy, "b"), 0))
    pause, resume = menu.actions()
    assert not pause.isEnabled() and resume.isEnabled()
    resume.trigger()
    assert asked == [("pause", ["a"]), ("resume", ["b"])]


def test_the_hosts_tab_is_live_during_a_batch_and_pausing_a_host_keeps_its_images_to_do(
    qtbot, http_server, tmp_path
) -> None:
    with LoopbackServer() as other:
        window = make_window(qtbot, tmp_path, per_host=2)
        steady = [http_server.url(f"/drip/s{i}.jpg?bps=6000") for i in range(4)]
        slow = [other.url(f"/drip/p{i}.jpg?bps=3000") for i in range(10)]
        queue(qtbot, window, [*steady, *slow])
        window.tabs.setCurrentWidget(window.hosts_view)
        model, view = window.batch.hosts, window.hosts_view
        slow_host = f"127.0.0.1:{other.port}"
        window.start()

        # Live: both hosts appear with downloads in flight while the batch runs.
        qtbot.waitUntil(lambda: model.rowCount() == 2 and model.state_of(slow_host) is not None)
        qtbot.waitUntil(lambda: _cell(model, _row_of(model, slow_host), Column.IN_FLIGHT) != "0")
        view.table.selectionModel().select(
            view.proxy.index(_row_of(view.proxy, slow_host), 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )
        view.pause_button.click()
        qtbot.waitUntil(lambda: model.state_of(slow_host) == HostState.HELD)
        assert view.resume_button.isEnabled()

        dialog = wait_summary(qtbot, window)
        row = _row_of(model, slow_host)
        done_there = int(_cell(model, row, Column.DONE))
        counts = window.model.counts()
        assert counts[Status.DONE] == len(steady) + done_there and counts[Status.FAILED] == 0
        assert counts[Status.PENDING] == len(slow) - done_there > 0  # kept to do, never failed
        assert dialog.summary.failed == 0
        assert _cell(model, _row_of(model, f"127.0.0.1:{http_server.port}"), Column.DONE) == str(len(steady))
