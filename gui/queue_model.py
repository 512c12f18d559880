"""The queue: one row per input item, built to stay cheap at a million rows.

Rows are stored column-wise in the order they were added, with key -> row dicts. No per-row object is kept
(not even the Entry we were given): a million Entry objects cost ~80 MB, and each full garbage collection
walked all of them, stalling the window for 100-200 ms while a list loaded. For the same reason only the
source text is a list: statuses and list files are byte and int arrays, and the URL is kept only where it
differs from the source (a dict of plain values, which the collector skips). A full collection walks every
item of a list, ~10 ms per million on this kind of machine, and it runs on whichever thread triggers it, the
list reader's too, while the GUI thread waits for the GIL. Where the URL is the source text, the source list
holds the key's string object itself, so the row costs one string, not two.
Every change arrives in batches: one beginInsertRows per add, a few dataChanged ranges per progress batch.

Sorting is done here, not by QSortFilterProxyModel: Qt's proxy calls back into Python twice per
comparison, which took 19 s for 100,000 rows on this kind of machine, while one Python `sorted()` over a
key list takes 0.05 s. A sort is a snapshot kept in a view-order permutation (`_order`); storage order,
and so `entries()`, never changes. The proxy (QueueFilterProxy) forwards sort requests here and only
filters, through a role, so its "all" filter never calls into Python at all.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable
from enum import IntEnum
from functools import cache
from typing import TypeVar, cast

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

from core.imaging.focus import Focus
from core.models import Entry, ItemUpdate, Status
from core.settings import format_bytes
from gui.icons import status_icon

# Roles as plain ints: data() runs for every painted cell and every filtered row, and comparing ints is
# several times cheaper than looking up Qt enum members each time.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_USER = int(Qt.ItemDataRole.UserRole)
SORT_ROLE = _USER + 1  # the raw value a column sorts by: str, int or float (Size and Time sort as numbers)
FILTER_ROLE = _USER + 2  # the filter group of the row's status, see FILTER_GROUPS
URL_ROLE = _USER + 3  # the URL to copy (the source text when there is none)
THUMBNAIL_ROLE = _USER + 4  # the largest output's path, relative to the output folder
ERROR_ROLE = _USER + 5  # the full error text or None
STATUS_ROLE = _USER + 6  # the row's Status
WARNING_ROLE = _USER + 7  # a done row's warning (its file decoded in part) or None
SEARCH_ROLE = _USER + 8  # "<filter group>\x1f<source>\x1f<error>": what the search field looks in, see QueueFilterProxy
KEY_ROLE = _USER + 9  # the row's Entry.key

_Index = QModelIndex | QPersistentModelIndex
_V = TypeVar("_V")


def _put(column: dict[int, _V], row: int, value: _V | None) -> None:
    """A sparse column: a row without a value has no entry."""
    if value is None:
        column.pop(row, None)
    else:
        column[row] = value


def _settled(column: dict[int, _V], status: bytearray) -> dict[int, _V]:
    """The column without the rows that are pending (they have no outcome yet)."""
    return {row: value for row, value in column.items() if status[row] != _PENDING}


_ROOT = QModelIndex()
NO_LINE = -1


class Column(IntEnum):
    SOURCE = 0
    STATUS = 1
    SIZE = 2
    TIME = 3
    ERROR = 4


HEADERS = ("Source", "Status", "Size", "Time (s)", "Error")
_LAST_COLUMN = len(HEADERS) - 1

#: Which filter button shows which statuses ("failed" includes unusable input lines).
FILTER_GROUPS: dict[str, frozenset[Status]] = {
    "running": frozenset({Status.RUNNING}),
    "done": frozenset({Status.DONE, Status.SKIPPED}),
    "failed": frozenset({Status.FAILED, Status.INVALID}),
}
_GROUP_OF = {status: name for name, members in FILTER_GROUPS.items() for status in members}
_STATUSES = tuple(Status)  # a row's status is stored as its index here (see the module docstring); sorts by it
_CODE = {s: i for i, s in enumerate(_STATUSES)}
PAGE_ANSWER = "server sent HTML, not an image"  # core.download.fetch's error for a page answering an image's URL
_PENDING, _INVALID = _CODE[Status.PENDING], _CODE[Status.INVALID]
_DONE, _SKIPPED, _NOT_REACHED = _CODE[Status.DONE], _CODE[Status.SKIPPED], _CODE[Status.NOT_REACHED]
_UNFINISHED = frozenset({_PENDING, _CODE[Status.RUNNING]})
_SEPARATOR = "\x1f"  # between the fields of SEARCH_ROLE: no source or error holds it
# key -> row is split in dicts by the key's hash: a dict grows by copying itself whole, which for one dict of
# 700,000 keys took 30 ms inside one insert of a loading list; a 64th of that is lost in the noise.
_SHARD_MASK = 63


def _key_index() -> list[dict[str, int]]:
    return [{} for _ in range(_SHARD_MASK + 1)]


_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def _changed_ranges(rows: Iterable[int], max_ranges: int = 16, min_gap: int = 64) -> list[tuple[int, int]]:
    """Collapse changed rows into at most `max_ranges` (first, last) spans, split at the widest gaps.

    One min..max span per batch is the rule; splitting at a few wide gaps keeps a filtering proxy from
    re-examining a million untouched rows when a resumed batch touches both ends of the queue.
    """
    ordered = sorted(set(rows))
    if not ordered:
        return []
    gaps = heapq.nlargest(max_ranges - 1, range(1, len(ordered)), key=lambda i: ordered[i] - ordered[i - 1])
    splits = sorted(i for i in gaps if ordered[i] - ordered[i - 1] > min_gap)
    spans, start = [], 0
    for end in [*splits, len(ordered)]:
        spans.append((ordered[start], ordered[end - 1]))
        start = end
    return spans


@cache
def _warning_icon() -> QIcon:
    """The platform's warning sign, beside a done item's warning in the Error column."""
    return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)


def _largest_output_path(update: ItemUpdate) -> str | None:
    if not update.outputs:
        return None
    return max(update.outputs, key=lambda o: o.width * o.height).path


class QueueModel(QAbstractTableModel):
    """Columns: Source, Status, Size (bytes downloaded), Time (s), Error; `File:line` in the Source tooltip. A done
    item's warning (a file that decoded in part) shows in the Error column, with a warning sign."""

    counts_changed = Signal()  # after every change of rows or statuses, for filter buttons and empty state

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source: list[str] = []
        self._url: dict[int, str | None] = {}  # rows whose URL is not their source text (None: unusable)
        self._file = array("l")  # index into _files
        self._files: list[str | None] = [None]
        self._file_ids: dict[str | None, int] = {None: 0}
        self._line = array("q")  # NO_LINE for None
        self._note: dict[int, str] = {}  # row -> the Entry's own error (only unusable input has one)
        self._rel_dir: dict[int, str] = {}  # row -> the Entry's folder under its source folder (names keep it)
        self._focus: dict[int, Focus] = {}  # row -> the crop a list chose by hand (a CSV's focus columns)
        self._status = bytearray()  # index into _STATUSES
        # Outcomes by row, only for rows that have one: a dict of plain values is skipped by the garbage
        # collector, while a list of a million Nones is walked on every full collection.
        self._bytes: dict[int, int] = {}
        self._seconds: dict[int, float] = {}
        self._error: dict[int, str] = {}
        self._warning: dict[int, str] = {}
        self._thumb: dict[int, str] = {}
        self._rows = _key_index()  # key -> row, in shards (see _SHARD_MASK)
        self._counts: dict[Status, int] = dict.fromkeys(Status, 0)
        # View order while sorted: _order[view row] = storage row, _pos is its inverse. None = as added.
        self._order: array | None = None
        self._pos: array | None = None
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    # -- Qt model interface ---------------------------------------------------------------------------

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._source)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(HEADERS):
            if role == _DISPLAY:
                return HEADERS[section]
            if role == _ALIGNMENT and section in (Column.SIZE, Column.TIME):
                return _RIGHT
        return None

    def data(self, index: _Index, role: int = _DISPLAY):
        if not index.isValid():
            return None
        row = index.row() if self._order is None else self._order[index.row()]
        col = index.column()
        if role == _DISPLAY:
            return self._display(row, col)
        if role == FILTER_ROLE:
            return _GROUP_OF.get(_STATUSES[self._status[row]], "pending")
        if role == _DECORATION:
            if col == Column.STATUS:
                return status_icon(_STATUSES[self._status[row]])
            return _warning_icon() if col == Column.ERROR and row in self._warning else None
        if role == _TOOLTIP:
            return self._tooltip(row, col)
        if role == _ALIGNMENT:
            return _RIGHT if col in (Column.SIZE, Column.TIME) else None
        if role == SORT_ROLE:
            return self._sort_value(row, col)
        if role == URL_ROLE:
            return self._url_of(row) or self._source[row]
        if role == THUMBNAIL_ROLE:
            return self._thumb.get(row)
        if role == ERROR_ROLE:
            return self._error.get(row)
        if role == STATUS_ROLE:
            return _STATUSES[self._status[row]]
        if role == WARNING_ROLE:
            return self._warning.get(row)
        if role == SEARCH_ROLE:
            group = _GROUP_OF.get(_STATUSES[self._status[row]], "pending")
            return f"{group}{_SEPARATOR}{self._source[row]}{_SEPARATOR}{self._error.get(row, '')}"
        if role == KEY_ROLE:
            return self._key_of(row)
        return None

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """Every role a delegate asks for a cell, in one call into Python instead of one per role.

        A painted cell takes 7 roles: through the proxy that was 3 calls into Python each (data, and the row and
        column counts to map the index), ~3,000 per paint of the table, each waiting for the GIL that the
        download threads hold often. A delegate reuses the span from cell to cell, so a role this cell does not
        serve is cleared, or the previous cell's icon and alignment would show here.
        """
        # Qt always passes a span here; its stubs do not say that a span is iterable.
        for role_data in cast(Iterable[QModelRoleData], roleDataSpan):
            value = self.data(index, role_data.role())
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)

    def _key_of(self, row: int) -> str:
        url = self._url_of(row)
        if url is not None:
            return url
        file, line = self._files[self._file[row]], self._line[row]
        return Entry(self._source[row], None, file, None if line == NO_LINE else line).key

    def _url_of(self, row: int) -> str | None:
        return self._url[row] if row in self._url else self._source[row]

    def _display(self, row: int, col: int) -> str:
        if col == Column.SOURCE:
            return self._source[row]
        if col == Column.STATUS:
            return _STATUSES[self._status[row]].value
        if col == Column.SIZE:
            size = self._bytes.get(row)
            return "" if size is None else format_bytes(size)
        if col == Column.TIME:
            seconds = self._seconds.get(row)
            return "" if seconds is None else f"{seconds:.2f}"
        return self._error.get(row) or self._warning.get(row, "")

    def _sort_value(self, row: int, col: int) -> str | int | float:
        if col == Column.SOURCE:
            return self._source[row].casefold()
        if col == Column.STATUS:
            return self._status[row]
        if col == Column.SIZE:
            size = self._bytes.get(row)
            return -1 if size is None else size
        if col == Column.TIME:
            seconds = self._seconds.get(row)
            return -1.0 if seconds is None else float(seconds)
        return (self._error.get(row) or self._warning.get(row, "")).casefold()

    def _tooltip(self, row: int, col: int) -> str | None:
        if col == Column.SOURCE:
            file, line = self._files[self._file[row]], self._line[row]
            where = f"\n{file}:{line}" if file and line != NO_LINE else ""
            return f"{self._source[row]}{where}"
        if col == Column.ERROR:
            return self._error.get(row) or self._warning.get(row)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the view by a column's raw values (a snapshot: later updates do not move rows).

        Column -1 returns to the order in which items were added. Equal values keep that order too.
        """
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        old_order = self._order
        if 0 <= column < len(HEADERS) and self._source:
            keys = [self._sort_value(row, column) for row in range(len(self._source))]
            ordered = sorted(range(len(keys)), key=keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder)
            self._order = array("q", ordered)
            self._pos = array("q", [0]) * len(ordered)
            for view_row, row in enumerate(ordered):
                self._pos[row] = view_row
        else:
            self._order = self._pos = None
        moved_from = self.persistentIndexList()
        moved_to = []
        for index in moved_from:
            row = index.row() if old_order is None else old_order[index.row()]
            moved_to.append(self.index(self._view_row(row), index.column()))
        self.changePersistentIndexList(moved_from, moved_to)
        self.layoutChanged.emit()

    def sort_column(self) -> int:
        return self._sort_column

    def _view_row(self, row: int) -> int:
        return row if self._pos is None else self._pos[row]

    # -- Public API -----------------------------------------------------------------------------------

    def add_entries(self, entries: Iterable[Entry]) -> int:
        """Append entries not already queued (by Entry.key) in one insert; returns the number added.

        Column by column with list comprehensions: this runs on the GUI thread for every batch a loader
        hands over, and in a profile the method call per row took a third of the insert time.
        """
        rows = self._rows
        first = row = len(self._source)
        added: list[Entry] = []
        for entry in entries:
            key = entry.key
            shard = rows[hash(key) & _SHARD_MASK]
            if key not in shard:  # rows are numbered here; views see them from beginInsertRows on
                shard[key] = row
                row += 1
                added.append(entry)
        if not added:
            return 0
        count = len(added)
        self.beginInsertRows(QModelIndex(), first, first + count - 1)
        # The URL's string where it equals the source (it is the key's too): one string per row, not two.
        self._source.extend([e.url if e.source == e.url else e.source for e in added])
        self._url.update({first + i: e.url for i, e in enumerate(added) if e.url != e.source})
        for file in {e.file for e in added}.difference(self._file_ids):
            self._file_id(file)
        file_ids = self._file_ids
        self._file.extend([file_ids[e.file] for e in added])
        self._line.extend([NO_LINE if e.line is None else e.line for e in added])
        statuses = bytes([_INVALID if e.url is None else _PENDING for e in added])
        self._status.extend(statuses)
        notes = {first + i: e.error for i, e in enumerate(added) if e.error is not None}
        self._rel_dir.update({first + i: e.rel_dir for i, e in enumerate(added) if e.rel_dir is not None})
        self._focus.update({first + i: e.focus for i, e in enumerate(added) if e.focus is not None})
        self._note.update(notes)
        self._error.update(notes)
        invalid = statuses.count(_INVALID)
        self._counts[Status.INVALID] += invalid
        self._counts[Status.PENDING] += count - invalid
        if self._order is not None and self._pos is not None:
            self._order.extend(range(first, first + count))
            self._pos.extend(range(first, first + count))
        self.endInsertRows()
        self.counts_changed.emit()
        return count

    def _file_id(self, file: str | None) -> int:
        found = self._file_ids.get(file)
        if found is None:
            found = self._file_ids[file] = len(self._files)
            self._files.append(file)
        return found

    def _append(
        self,
        key: str,
        source: str,
        url: str | None,
        file: str | None,
        line: int | None,
        status: Status,
        error: str | None,
    ) -> int:
        """Store a row at the end (also the end of a sorted view); returns its row."""
        row = len(self._source)
        self._rows[hash(key) & _SHARD_MASK][key] = row
        self._source.append(source)
        if url != source:
            self._url[row] = url
        self._file.append(self._file_id(file))
        self._line.append(NO_LINE if line is None else line)
        if error is not None:
            self._note[row] = self._error[row] = error
        self._status.append(_CODE[status])
        self._counts[status] += 1
        if self._order is not None and self._pos is not None:
            self._order.append(row)
            self._pos.append(row)
        return row

    def apply_updates(self, updates: list[ItemUpdate]) -> None:
        """Apply a progress batch by key; unknown keys (resuming an old batch) are appended in one insert."""
        changed: list[int] = []
        unknown: dict[str, ItemUpdate] = {}
        for update in updates:
            row = self._rows[hash(update.key) & _SHARD_MASK].get(update.key)
            if row is None:
                unknown[update.key] = update
            else:
                self._set_outcome(row, update)
                changed.append(self._view_row(row))
        for first, last in _changed_ranges(changed):
            self.dataChanged.emit(self.index(first, 0), self.index(last, _LAST_COLUMN))
        if unknown:
            first = len(self._source)
            self.beginInsertRows(QModelIndex(), first, first + len(unknown) - 1)
            for key, u in unknown.items():
                self._set_outcome(self._append(key, u.source, u.url, u.file, u.line, u.status, u.error), u)
            self.endInsertRows()
        if updates:
            self.counts_changed.emit()

    def _set_outcome(self, row: int, update: ItemUpdate) -> None:
        status = update.status
        if status is Status.SKIPPED and self._status[row] == _DONE:
            status = Status.DONE  # made by the batch this queue showed (before a retry): it stays done
        self._counts[_STATUSES[self._status[row]]] -= 1
        self._counts[status] += 1
        self._status[row] = _CODE[status]
        _put(self._bytes, row, update.bytes)
        _put(self._seconds, row, update.seconds)
        _put(self._error, row, update.error)
        _put(self._warning, row, update.warning)
        _put(self._thumb, row, _largest_output_path(update))

    def clear(self) -> None:
        self.beginResetModel()
        self._source, self._url, self._file, self._line, self._note = [], {}, array("l"), array("q"), {}
        self._rel_dir = {}
        self._focus = {}
        self._files, self._file_ids = [None], {None: 0}
        self._status, self._bytes, self._seconds, self._error, self._thumb = bytearray(), {}, {}, {}, {}
        self._warning = {}
        self._rows = _key_index()
        self._counts = dict.fromkeys(Status, 0)
        self._order = self._pos = None
        self._sort_column = -1
        self.endResetModel()
        self.counts_changed.emit()

    def entries(self) -> list[Entry]:
        """All queued entries in the order added (invalid ones too: the report lists them), for the Runner."""
        lines = [None if line == NO_LINE else line for line in self._line]
        files = self._files
        rows = zip(self._source, self._file, lines, strict=True)
        note, url, rel_dir, focus = self._note.get, self._url.get, self._rel_dir.get, self._focus.get
        return [
            Entry(source, url(row, source), files[file], line, note(row), focus(row), rel_dir(row))
            for row, (source, file, line) in enumerate(rows)
        ]

    def keys_with_status(self, *statuses: Status) -> list[str]:
        """Keys of the rows with any of `statuses`, in the order added."""
        wanted = {_CODE[s] for s in statuses}
        status = self._status
        found = [(row, key) for shard in self._rows for key, row in shard.items() if status[row] in wanted]
        return [key for _row, key in sorted(found)]

    def failed_pages(self) -> int:
        """Links given one by one (dropped, pasted: no list file) that failed because they answered with a web page
        (the fetcher's words), which --pages would have read for their images."""
        files, file_of = self._files, self._file
        return sum(1 for row, error in self._error.items() if error == PAGE_ANSWER and files[file_of[row]] is None)

    def failed_sources(self) -> list[str]:
        """Source text of failed and invalid rows, in the order added, to copy or save as a new list."""
        bad = {_CODE[s] for s in FILTER_GROUPS["failed"]}
        return [source for source, s in zip(self._source, self._status, strict=True) if s in bad]

    def reset_statuses(self, *, keep: Iterable[Status] = (), only: Iterable[str] | None = None) -> None:
        """Before a new run: usable rows go back to pending and lose their old outcome, except rows whose status is
        in `keep` (a retry keeps done rows done); `only`: just the rows of these keys (a run of a few items)."""
        kept = {_CODE[s] for s in keep} | {_INVALID}
        if only is None:
            self._recode({code: _PENDING for code in range(len(_STATUSES)) if code not in kept})
            return
        status = self._status
        reset = {row for key in only if (row := self._row_of(key)) is not None and status[row] not in kept}
        if not reset:
            return
        for row in reset:
            self._counts[_STATUSES[status[row]]] -= 1
            status[row] = _PENDING
        self._counts[Status.PENDING] += len(reset)
        for column in (self._bytes, self._seconds, self._error, self._warning, self._thumb):
            for row in reset.intersection(column):
                del column[row]  # (an unusable row's own error is never reset: it is kept)
        for first, last in _changed_ranges(self._view_row(row) for row in reset):
            self.dataChanged.emit(self.index(first, 0), self.index(last, _LAST_COLUMN))
        self.counts_changed.emit()

    def mark_not_reached(self) -> None:
        """After a cancelled or stopped batch: rows still pending or running were not reached."""
        self._recode(dict.fromkeys(_UNFINISHED, _NOT_REACHED))

    def _recode(self, codes: dict[int, int]) -> None:
        """Change every row of status code `old` to `codes[old]` at C speed (a million rows at each Start); a row
        that becomes pending loses its old outcome."""
        if not any(self._status.count(old) for old, new in codes.items() if old != new):
            return
        status = self._status = self._status.translate(bytes(codes.get(code, code) for code in range(256)))
        self._counts = {s: status.count(code) for code, s in enumerate(_STATUSES)}
        if _PENDING in codes.values():
            self._bytes, self._seconds = _settled(self._bytes, status), _settled(self._seconds, status)
            self._error, self._warning = _settled(self._error, status), _settled(self._warning, status)
            self._thumb = _settled(self._thumb, status)
        self.dataChanged.emit(self.index(0, 0), self.index(len(self._source) - 1, _LAST_COLUMN))
        self.counts_changed.emit()

    def remove_keys(self, keys: Iterable[str]) -> int:
        """Take these rows out of the queue; returns how many were removed."""
        drop = {row for key in keys if (row := self._row_of(key)) is not None}
        return self._remove_rows(drop)

    def remove_finished(self) -> int:
        """Take done and skipped rows (their thumbnails are made) out of the queue; returns how many."""
        return self._remove_rows({row for row, code in enumerate(self._status) if code in (_DONE, _SKIPPED)})

    def _row_of(self, key: str) -> int | None:
        return self._rows[hash(key) & _SHARD_MASK].get(key)

    def _remove_rows(self, drop: set[int]) -> int:
        """Rebuild the columns without `drop` (one reset: removal is rare, a million rows take well under a
        second); a sorted view is sorted again."""
        if not drop:
            return 0
        keep = [row for row in range(len(self._source)) if row not in drop]
        new = {old: i for i, old in enumerate(keep)}
        keys = {row: key for shard in self._rows for key, row in shard.items() if row not in drop}

        def moved(column: dict[int, _V]) -> dict[int, _V]:
            return {new[row]: value for row, value in column.items() if row in new}

        self.beginResetModel()
        self._source = [self._source[row] for row in keep]
        self._url, self._note = moved(self._url), moved(self._note)
        self._file = array("l", [self._file[row] for row in keep])
        self._line = array("q", [self._line[row] for row in keep])
        self._status = bytearray(self._status[row] for row in keep)
        self._bytes, self._seconds = moved(self._bytes), moved(self._seconds)
        self._error, self._warning, self._thumb = moved(self._error), moved(self._warning), moved(self._thumb)
        self._rows = _key_index()
        for old, key in keys.items():
            self._rows[hash(key) & _SHARD_MASK][key] = new[old]
        self._counts = {status: self._status.count(code) for code, status in enumerate(_STATUSES)}
        self._order = self._pos = None
        self.endResetModel()
        if self._sort_column >= 0:
            self.sort(self._sort_column, self._sort_order)
        self.counts_changed.emit()
        return len(drop)

    def counts(self) -> dict[Status, int]:
        return dict(self._counts)


class QueueFilterProxy(QSortFilterProxyModel):
    """Filters by status group and by searched text; sort requests go to QueueModel.sort (see the module docstring
    for why). Both filters are one regular expression that Qt matches in C++: on FILTER_ROLE for a group alone (the
    "all" filter is an empty pattern, never a call into Python), on SEARCH_ROLE once there is text to find."""

    FILTERS = ("all", "running", "done", "failed")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter = "all"
        self._text = ""
        self.setFilterRole(FILTER_ROLE)
        self.setFilterKeyColumn(Column.SOURCE)
        self.setDynamicSortFilter(True)  # rows enter and leave a filter as their status changes

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if isinstance(source, QueueModel):
            source.sort(column, order)
        else:
            super().sort(column, order)

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """QSortFilterProxyModel asks the source one role at a time; QueueModel answers a whole cell at once."""
        source = self.sourceModel()
        if source is not None and index.isValid():
            source.multiData(self.mapToSource(index), roleDataSpan)

    def set_filter(self, name: str) -> None:
        """Show "all" rows or one group: "running", "done" (with skipped) or "failed" (with invalid)."""
        if name not in self.FILTERS:
            raise ValueError(f"unknown queue filter {name!r}; use one of {', '.join(self.FILTERS)}")
        if name == self._filter:
            return
        self._filter = name
        self._apply()

    def set_search(self, text: str) -> None:
        """Show only rows whose source or error contains `text` (any case); empty shows them all."""
        text = text.strip()
        if text == self._text:
            return
        self._text = text
        self._apply()

    def _apply(self) -> None:
        group = "" if self._filter == "all" else self._filter
        if not self._text:
            self._use_role(FILTER_ROLE)
            # An empty pattern lets Qt accept every row without calling back into Python.
            self.setFilterRegularExpression(QRegularExpression(f"^{group}$" if group else ""))
            return
        self._use_role(SEARCH_ROLE)
        lead = QRegularExpression.escape(group) if group else f"[^{_SEPARATOR}]*"
        options = (
            QRegularExpression.PatternOption.CaseInsensitiveOption
            | QRegularExpression.PatternOption.DotMatchesEverythingOption
        )
        pattern = f"^{lead}{_SEPARATOR}.*{QRegularExpression.escape(self._text)}"
        self.setFilterRegularExpression(QRegularExpression(pattern, options))

    def _use_role(self, role: int) -> None:
        if self.filterRole() != role:  # setting it filters every row again, even to the same role
            self.setFilterRole(role)
