"""The Hosts tab: which hosts the batch talks to, how each is doing, and Pause host / Resume host."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, Signal, SignalInstance
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.models import HostState
from gui.hosts_model import HOST_ROLE, Column, HostsModel, HostsProxy
from gui.tables import row_table

HINT = (
    "A host that answers 429 or 503, or times out, cools down (fewer connections, a pause);"
    " one that fails 8 times in a row is paused and its remaining images fail. Pause a host to keep its images"
    " for later."
)


class HostsView(QWidget):
    """A sortable table of the batch's hosts over Pause host / Resume host buttons (also in the context menu)."""

    pause_requested = Signal(list)  # hosts (str) the user wants held
    resume_requested = Signal(list)  # hosts to let go on

    def __init__(self, model: HostsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = HostsProxy(self)
        self.proxy.setSourceModel(model)
        self.table = self._make_table()
        self.pause_button = QPushButton("Pause host")
        self.pause_button.setToolTip("Start no more downloads from the selected hosts; their images wait")
        self.pause_button.clicked.connect(lambda: self._ask(self.pause_requested, self.selected_hosts()))
        self.resume_button = QPushButton("Resume host")
        self.resume_button.setToolTip("Let the selected hosts go on, also one paused for its failures")
        self.resume_button.clicked.connect(lambda: self._ask(self.resume_requested, self.selected_hosts()))
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        hint.setEnabled(False)  # greyed: an explanation, not a control
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(hint, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        model.dataChanged.connect(self._update_buttons)
        model.modelReset.connect(self._update_buttons)
        self._update_buttons()

    def _make_table(self) -> QTableView:
        table = row_table(self, self.proxy, Column.HOST, self._show_context_menu)
        header = table.horizontalHeader()
        for column in (Column.IN_FLIGHT, Column.DONE, Column.FAILED):
            header.resizeSection(column, 80)
        header.resizeSection(Column.SPEED, 100)
        header.resizeSection(Column.STATE, 120)
        return table

    def selected_hosts(self) -> list[str]:
        rows = sorted(self.table.selectionModel().selectedRows(Column.HOST), key=QModelIndex.row)
        return [str(r.data(HOST_ROLE)) for r in rows]

    def context_menu(self, proxy_index: QModelIndex) -> QMenu:
        """Pause or resume the clicked row (the selection if the row is part of it)."""
        hosts = self.selected_hosts()
        if proxy_index.isValid() and proxy_index.data(HOST_ROLE) not in hosts:
            hosts = [str(proxy_index.data(HOST_ROLE))]
        menu = QMenu(self)
        pause = menu.addAction("Pause host" if len(hosts) < 2 else f"Pause {len(hosts)} hosts")
        pause.setEnabled(any(self.model.state_of(h) != HostState.HELD for h in hosts))
        pause.triggered.connect(lambda: self._ask(self.pause_requested, hosts))
        resume = menu.addAction("Resume host" if len(hosts) < 2 else f"Resume {len(hosts)} hosts")
        resume.setEnabled(any(self.model.state_of(h) in (HostState.HELD, HostState.PAUSED) for h in hosts))
        resume.triggered.connect(lambda: self._ask(self.resume_requested, hosts))
        return menu

    def _ask(self, signal: SignalInstance, hosts: list[str]) -> None:
        if hosts:
            signal.emit(hosts)

    def _update_buttons(self) -> None:
        states = [self.model.state_of(h) for h in self.selected_hosts()]
        self.pause_button.setEnabled(any(s != HostState.HELD for s in states))
        self.resume_button.setEnabled(any(s in (HostState.HELD, HostState.PAUSED) for s in states))

    def _show_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.table.indexAt(pos))
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()
