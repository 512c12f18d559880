"""The thumbnail grid: fills as items finish, loads only what is painted, previews and drags out files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QSlider,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from core.models import ItemUpdate
from core.settings import Settings
from gui.desktop import open_file, open_web_page, show_in_folder
from gui.preview_dialog import PreviewDialog
from gui.thumbnail_model import DEFAULT_CELL, ThumbItem, ThumbnailModel

EMPTY_HINT = "Thumbnails appear here as they are made"
MIN_CELL, MAX_CELL, CELL_STEP = 64, 320, 16


class _CellDelegate(QStyledItemDelegate):
    """Every cell is the same size, so the view never measures captions and long names are elided."""

    def __init__(self, parent: QListView) -> None:
        super().__init__(parent)
        self.cell = QSize(DEFAULT_CELL, DEFAULT_CELL)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell


class _Grid(QListView):
    """A QListView in icon mode that opens the preview on Space or Return and says so when empty."""

    preview_requested = Signal(QModelIndex)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.preview_requested.emit(self.currentIndex())
            return
        super().keyPressEvent(event)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:
            p = QPainter(self.viewport())
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_HINT)


class ThumbnailView(QWidget):
    """The grid of finished thumbnails with a zoom slider; double-click or Space opens a preview."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ThumbnailModel(self)
        self._preview: PreviewDialog | None = None
        self._settings: Settings | None = None

        self.grid = _Grid(self)
        self.grid.setModel(self.model)
        self._delegate = _CellDelegate(self.grid)
        self.grid.setItemDelegate(self._delegate)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(500)
        self.grid.setUniformItemSizes(True)
        self.grid.setWordWrap(False)
        self.grid.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setDragEnabled(True)
        self.grid.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.grid.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.grid.doubleClicked.connect(self._open_preview)
        self.grid.preview_requested.connect(self._open_preview)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._show_context_menu)

        self.zoom = QSlider(Qt.Orientation.Horizontal, self)
        self.zoom.setRange(MIN_CELL, MAX_CELL)
        self.zoom.setSingleStep(CELL_STEP)
        self.zoom.setPageStep(CELL_STEP * 4)
        self.zoom.setValue(DEFAULT_CELL)
        self.zoom.setTracking(False)  # re-decode once when the handle is released, not on every pixel
        self.zoom.setMaximumWidth(180)
        self.zoom.setToolTip("Thumbnail size in the grid")
        self.zoom.valueChanged.connect(self.set_cell_size)
        self.count_label = QLabel(self)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        bar.addWidget(QLabel("Size", self))
        bar.addWidget(self.zoom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid, 1)
        layout.addLayout(bar)

        self.model.count_changed.connect(self._show_count)
        self._show_count(0)
        self.set_cell_size(DEFAULT_CELL)

    # -- Public API -----------------------------------------------------------------------------------

    def set_output_dir(self, out_dir: Path) -> None:
        """The output folder of the batch whose updates come next (their paths are relative to it)."""
        self.model.set_output_dir(out_dir)

    def set_settings(self, settings: Settings | None) -> None:
        """The settings of the batch whose items the grid shows: the preview draws its crop boxes and remakes an
        item with them."""
        self._settings = settings
        if self._preview is not None:
            self._preview.set_settings(settings)

    def add_items(self, updates: list[ItemUpdate]) -> None:
        """Add finished items with outputs (the largest output is shown); keys already shown are ignored."""
        self.model.add(updates)

    def clear(self) -> None:
        if self._preview is not None:
            self._preview.reject()
        self.model.clear()

    def count(self) -> int:
        return self.model.rowCount()

    def set_cell_size(self, cell: int) -> None:
        """Grid cell size in logical pixels (the zoom slider's value)."""
        cell = max(MIN_CELL, min(MAX_CELL, cell))
        if self.zoom.value() != cell:
            self.zoom.setValue(cell)  # re-enters through valueChanged
            return
        text_height = self.grid.fontMetrics().height()
        self._delegate.cell = QSize(cell + 12, cell + text_height + 10)
        self.grid.setIconSize(QSize(cell, cell))
        self.grid.setGridSize(QSize(cell + 20, cell + text_height + 18))
        self.model.set_cell_size(cell, self.devicePixelRatioF())

    def context_menu(self, index: QModelIndex) -> QMenu:
        """The menu for a thumbnail (for the selection when the thumbnail is part of it).

        Retry is not here: a thumbnail is a made item; retrying failed ones is the queue's row menu."""
        items = self._selected_items(index)
        one = self.model.item(index.row()) if index.isValid() else None
        menu = QMenu(self)
        open_action = menu.addAction("&Open")
        open_action.setEnabled(one is not None)
        show_action = menu.addAction("Show in &folder")
        show_action.setEnabled(one is not None)
        copy_action = menu.addAction("&Copy path" if len(items) < 2 else f"&Copy {len(items):,} paths")
        copy_action.setEnabled(bool(items))
        url_action = menu.addAction("Open &URL in the browser")
        url_action.setEnabled(one is not None and _is_web(one.url))
        if one is not None:
            open_action.triggered.connect(lambda: open_file(one.path()))
            show_action.triggered.connect(lambda: show_in_folder(one.path()))
            url_action.triggered.connect(lambda: open_web_page(one.url or ""))
        copy_action.triggered.connect(
            lambda: QGuiApplication.clipboard().setText("\n".join(str(i.path()) for i in items))
        )
        return menu

    @property
    def preview_dialog(self) -> PreviewDialog | None:
        """The preview window once opened (it is reused for later previews)."""
        return self._preview

    def shutdown(self) -> None:
        """Stop loading and wait for the loader threads (also done on quit and when the view is destroyed)."""
        self.model.loader.shutdown()
        if self._preview is not None:
            self._preview.shutdown()

    # -- Internals ------------------------------------------------------------------------------------

    def _show_count(self, n: int) -> None:
        self.count_label.setText(f"{n:,} thumbnail" + ("" if n == 1 else "s"))

    def _open_preview(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        if self._preview is None:
            self._preview = PreviewDialog(self.model, index.row(), self)
            self._preview.set_settings(self._settings)
            self._preview.row_changed.connect(self._follow_preview)
        else:
            self._preview.set_row(index.row())
        if self._preview.isVisible():
            self._preview.raise_()
            self._preview.activateWindow()
        else:
            self._preview.show()

    def _follow_preview(self, row: int) -> None:
        self.grid.setCurrentIndex(self.model.index(row))

    def _selected_items(self, clicked: QModelIndex) -> list[ThumbItem]:
        """The selected items in grid order, or just the clicked one when it is not selected."""
        selection = self.grid.selectionModel()
        if clicked.isValid() and not selection.isSelected(clicked):
            return [self.model.item(clicked.row())]
        return [self.model.item(i.row()) for i in sorted(selection.selectedIndexes(), key=QModelIndex.row)]

    def _show_context_menu(self, pos: QPoint) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        menu = self.context_menu(index)
        menu.exec(self.grid.viewport().mapToGlobal(pos))
        menu.deleteLater()


def _is_web(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("http://", "https://"))
