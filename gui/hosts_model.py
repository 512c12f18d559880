"""The Hosts table: one row per host of the batch, kept from the `HostUpdate`s each progress snapshot carries.

The engine sends only the hosts that changed, with counts as increments (it forgets idle hosts), so this model
adds them up; a 4,000-host batch costs a few changed rows per snapshot, not a 4,000-row refresh.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from core.models import HostState, HostUpdate
from core.settings import format_bytes

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_DISPLAY = Qt.ItemDataRole.DisplayRole
#: The role that sorts: numbers as numbers.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: The row's host, as the engine names it (for pause and resume).
HOST_ROLE = Qt.ItemDataRole.UserRole + 2


class Column(IntEnum):
    HOST = 0
    IN_FLIGHT = 1
    DONE = 2
    FAILED = 3
    SPEED = 4
    STATE = 5


_HEADERS = {
    Column.HOST: "Host",
    Column.IN_FLIGHT: "In flight",
    Column.DONE: "Done",
    Column.FAILED: "Failed",
    Column.SPEED: "Speed",
    Column.STATE: "State",
}
_NUMERIC = (Column.IN_FLIGHT, Column.DONE, Column.FAILED, Column.SPEED)


class _Row:
    __slots__ = ("bytes", "done", "error", "failed", "host", "in_flight", "speed", "state")

    def __init__(self, host: str) -> None:
        self.host = host
        self.state = HostState.OK
        self.in_flight = self.done = self.failed = self.bytes = 0
        self.speed = 0.0
        self.error: str | None = None


class HostsModel(QAbstractTableModel):
    """Hosts in the order they first appeared; sort through `HostsProxy`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []
        self._index: dict[str, int] = {}

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> object:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY and 0 <= section < len(Column):
            return _HEADERS[Column(section)]
        return None

    def data(self, index: _Index, role: int = _DISPLAY) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, col = self._rows[index.row()], Column(index.column())
        if role == _DISPLAY:
            return self._display(row, col)
        if role == SORT_ROLE:
            return self._sort_value(row, col)
        if role == HOST_ROLE:
            return row.host
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == Column.STATE and row.error:
                return f"last failure: {row.error}"
            if col == Column.SPEED:
                return f"{format_bytes(row.bytes)} downloaded"
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: _Row, col: Column) -> str:
        match col:
            case Column.HOST:
                return row.host
            case Column.IN_FLIGHT:
                return str(row.in_flight)
            case Column.DONE:
                return str(row.done)
            case Column.FAILED:
                return str(row.failed)
            case Column.SPEED:
                return f"{format_bytes(int(row.speed))}/s" if row.speed >= 1 else ""
            case Column.STATE:
                return row.state.value

    def _sort_value(self, row: _Row, col: Column) -> str | int | float:
        match col:
            case Column.HOST:
                return row.host
            case Column.IN_FLIGHT:
                return row.in_flight
            case Column.DONE:
                return row.done
            case Column.FAILED:
                return row.failed
            case Column.SPEED:
                return row.speed
            case Column.STATE:
                return list(HostState).index(row.state)

    def apply(self, updates: list[HostUpdate]) -> None:
        """Add one snapshot's host changes: new hosts are appended, known ones updated in place."""
        new = [u.host for u in updates if u.host not in self._index]
        new = list(dict.fromkeys(new))
        if new:
            first = len(self._rows)
            self.beginInsertRows(_ROOT, first, first + len(new) - 1)
            for host in new:
                self._index[host] = len(self._rows)
                self._rows.append(_Row(host))
            self.endInsertRows()
        changed: list[int] = []
        for u in updates:
            i = self._index[u.host]
            row = self._rows[i]
            row.state, row.in_flight, row.speed = u.state, u.in_flight, u.bytes_per_second
            row.done += u.done_added
            row.failed += u.failed_added
            row.bytes += u.bytes_added
            if u.error is not None:
                row.error = u.error
            changed.append(i)
        if changed:
            last = len(Column) - 1
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), last))

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._index.clear()
        self.endResetModel()

    def state_of(self, host: str) -> HostState | None:
        i = self._index.get(host)
        return None if i is None else self._rows[i].state


class HostsProxy(QSortFilterProxyModel):
    """Sorts by the numbers behind the cells; re-sorts live as rows change."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
