"""The queue panel: filter buttons with counts, a search field, Remove finished, the table with its per-row menu, an
empty state and a drop highlight."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QGuiApplication, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStackedLayout,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.models import Status
from gui.queue_model import (
    ERROR_ROLE,
    FILTER_GROUPS,
    KEY_ROLE,
    STATUS_ROLE,
    THUMBNAIL_ROLE,
    URL_ROLE,
    Column,
    QueueFilterProxy,
    QueueModel,
)
from gui.tables import row_table

EMPTY_HINT = "Drop URL lists, images, folders or links here"
_FILTER_LABELS = (("all", "All"), ("running", "Running"), ("done", "Done"), ("failed", "Failed"))
_DONE = FILTER_GROUPS["done"]
# Rows a batch has been through, which "Retry this" makes again (a row never run is for Start).
_RETRIABLE = frozenset({Status.DONE, Status.SKIPPED, Status.FAILED, Status.NOT_REACHED})


class _ElideAtTheEnd(QStyledItemDelegate):
    """Errors and warnings are read from their start ("truncated: about 33% of the image is missing"): cut the
    end, not the middle as the Source column's paths are."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class _DropHighlight(QWidget):
    """A translucent frame drawn over the whole panel while something is dragged over the window."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def paintEvent(self, event) -> None:
        color = self.palette().highlight().color()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(color)
        fill.setAlpha(40)
        p.setBrush(fill)
        p.setPen(QPen(color, 2, Qt.PenStyle.DashLine))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 8, 8)
        p.end()


class QueueView(QWidget):
    """Filter buttons (All / Running / Done / Failed with counts), a search field and Remove finished over a sortable
    table of the queue. Rows are removed here; a retry is the window's (it starts a batch)."""

    open_requested = Signal()  # the empty state's "Open list..." button
    retry_requested = Signal(list)  # the keys of the rows to run again (the row menu's "Retry this")

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = QueueFilterProxy(self)
        self.proxy.setSourceModel(model)
        self._out_dir: Path | None = None
        self._busy = False  # a batch runs: rows may not be removed or retried

        self.table = self._make_table()
        # Tool buttons, not push buttons: a push button is at least 80 px wide, and with the settings panel the
        # queue must still fit an 800-px screen. The search field and Remove finished get a row of their own: on
        # one row with the buttons, the row was the queue's minimum width, so every digit a count gained (10,000,
        # 100,000 ... while a list loads) widened the whole window, a relayout and repaint of 100 ms.
        self.filter_buttons: dict[str, QToolButton] = {}
        self._filter_group = QButtonGroup(self)
        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        for name, _label in _FILTER_LABELS:
            button = QToolButton()
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setChecked(name == "all")
            button.clicked.connect(lambda _checked=False, n=name: self.proxy.set_filter(n))
            self._filter_group.addButton(button)
            self.filter_buttons[name] = button
            filters.addWidget(button)
        filters.addStretch(1)
        tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search the queue")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setToolTip("Show only rows whose URL, path or error holds this text (Ctrl+F)")
        self.search_edit.textChanged.connect(self.proxy.set_search)
        tools.addWidget(self.search_edit, 1)
        find = QAction("Search the queue", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.triggered.connect(lambda: self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self.addAction(find)
        self.remove_finished_button = QToolButton()
        self.remove_finished_button.setText("Remove finished")
        self.remove_finished_button.setToolTip("Take the done rows out of the queue (their thumbnails stay)")
        self.remove_finished_button.clicked.connect(self.model.remove_finished)
        tools.addWidget(self.remove_finished_button)

        table_page = QWidget()
        table_layout = QVBoxLayout(table_page)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addLayout(filters)
        table_layout.addLayout(tools)
        table_layout.addWidget(self.table)

        self.empty_page = self._make_empty_page()
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty_page)
        self._stack.addWidget(table_page)

        self._highlight = _DropHighlight(self)
        model.counts_changed.connect(self._refresh)
        self._refresh()

    def _make_table(self) -> QTableView:
        table = row_table(self, self.proxy, Column.SOURCE, self._show_context_menu)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = table.horizontalHeader()
        self._error_delegate = _ElideAtTheEnd(table)
        table.setItemDelegateForColumn(Column.ERROR, self._error_delegate)
        for column, width in ((Column.STATUS, 100), (Column.SIZE, 90), (Column.TIME, 70), (Column.ERROR, 260)):
            header.resizeSection(column, width)
        copy = QAction("Copy URL", table)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(lambda: self._copy(self._selected_rows(QModelIndex()), URL_ROLE))
        table.addAction(copy)
        return table

    def _make_empty_page(self) -> QWidget:
        page = QWidget()
        hint = QLabel(EMPTY_HINT)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        font = hint.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        hint.setFont(font)
        self.open_button = QPushButton("Open list...")
        self.open_button.clicked.connect(self.open_requested)
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        layout.addWidget(hint)
        layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        return page

    # -- Public API -----------------------------------------------------------------------------------

    def set_drop_highlight(self, on: bool) -> None:
        """Show or hide the 'drop here' frame; the main window calls this from its drag events."""
        if on:
            self._highlight.setGeometry(self.rect())
            self._highlight.raise_()
        self._highlight.setVisible(on)

    def set_output_dir(self, out_dir: Path) -> None:
        """Where thumbnails live, so 'Open thumbnail' can find a done row's file."""
        self._out_dir = out_dir

    def set_busy(self, busy: bool) -> None:
        """A batch runs: rows stay (its updates find them by key) and cannot be retried one by one meanwhile."""
        self._busy = busy
        self._refresh()

    def context_menu(self, proxy_index: QModelIndex) -> QMenu:
        """The menu for a row (the selection if the row is part of it): retry, open the URL, the thumbnail or its
        folder, copy the URL or the error, remove from the queue."""
        rows = self._selected_rows(proxy_index)
        many = len(rows) > 1
        menu = QMenu(self)
        retriable = [r for r in rows if r.data(STATUS_ROLE) in _RETRIABLE]  # (Qt hands the enum back as its str)
        retry = menu.addAction(f"Retry {len(retriable):,} items" if many else "Retry this")
        retry.setEnabled(bool(retriable) and not self._busy)
        retry.triggered.connect(lambda: self.retry_requested.emit([r.data(KEY_ROLE) for r in retriable]))
        menu.addSeparator()
        web = QUrl(str(proxy_index.data(URL_ROLE))) if proxy_index.isValid() else QUrl()
        open_url = menu.addAction("Open URL in browser")
        open_url.setEnabled(web.scheme() in ("http", "https"))
        open_url.triggered.connect(lambda: QDesktopServices.openUrl(web))
        thumb = self._thumbnail_path(proxy_index)
        open_thumb = menu.addAction("Open thumbnail")
        open_thumb.setEnabled(thumb is not None)
        show = menu.addAction("Show in folder")
        show.setEnabled(thumb is not None)
        if thumb is not None:
            open_thumb.triggered.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(thumb))))
            show.triggered.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(thumb.parent))))
        menu.addSeparator()
        copy_url = menu.addAction(f"Copy {len(rows):,} URLs" if many else "Copy URL")
        copy_url.setEnabled(bool(rows))
        copy_url.triggered.connect(lambda: self._copy(rows, URL_ROLE))
        errors = [r for r in rows if r.data(ERROR_ROLE)]
        copy_error = menu.addAction("Copy error")
        copy_error.setEnabled(bool(errors))
        copy_error.triggered.connect(lambda: self._copy(errors, ERROR_ROLE))
        menu.addSeparator()
        remove = menu.addAction(f"Remove {len(rows):,} from the queue" if many else "Remove from the queue")
        remove.setEnabled(bool(rows) and not self._busy)
        remove.triggered.connect(lambda: self.model.remove_keys([r.data(KEY_ROLE) for r in rows]))
        return menu

    # -- Internals ------------------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._highlight.setGeometry(self.rect())

    def _refresh(self) -> None:
        counts = self.model.counts()
        total = sum(counts.values())
        for name, label in _FILTER_LABELS:
            n = total if name == "all" else sum(counts[s] for s in FILTER_GROUPS[name])
            self.filter_buttons[name].setText(f"{label} ({n:,})")
        finished = sum(counts[s] for s in _DONE)
        self.remove_finished_button.setEnabled(finished > 0 and not self._busy)
        self._stack.setCurrentIndex(1 if total else 0)

    def _selected_rows(self, clicked: QModelIndex) -> list[QModelIndex]:
        """Column-0 proxy indexes of the selected rows in view order, or just the clicked row."""
        selection = self.table.selectionModel()
        if clicked.isValid() and not selection.isRowSelected(clicked.row(), QModelIndex()):
            return [clicked.siblingAtColumn(Column.SOURCE)]
        return sorted(selection.selectedRows(Column.SOURCE), key=QModelIndex.row)

    def _thumbnail_path(self, proxy_index: QModelIndex) -> Path | None:
        if self._out_dir is None or not proxy_index.isValid() or proxy_index.data(STATUS_ROLE) not in _DONE:
            return None
        relative = proxy_index.data(THUMBNAIL_ROLE)
        return self._out_dir / relative if relative else None

    def _copy(self, rows: list[QModelIndex], role: int) -> None:
        texts = [str(r.data(role)) for r in rows if r.data(role)]
        if texts:
            QGuiApplication.clipboard().setText("\n".join(texts))

    def _show_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.table.indexAt(pos))
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()
