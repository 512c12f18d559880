"""The grid's model: one item per finished source, its image loaded lazily when a cell is painted.

data(DecorationRole) for an item not yet in the pixmap cache asks the ImageLoader for it and returns a
placeholder; the loaded QImage becomes a QPixmap here, on the GUI thread, and the cell is repainted. The
cache is an LRU bounded in bytes, so a 10,000-item grid holds only what was seen recently.

The model is a QStringListModel (its strings unused) for one reason: the row count stays in C++. QListView
lays every item out again after each insert (and before the next paint), asking the model for an index, and
so for the row count, per item: with rowCount in Python that was 10,000 calls into Python per insert during a
batch, each waiting for the GIL that the download and engine threads hold, which stalled the window.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from PySide6.QtCore import (
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    QStringListModel,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QImage, QPixmap

from core.imaging.focus import Focus
from core.models import ItemUpdate, Output, Status
from gui.icons import broken_pixmap, placeholder_pixmap
from gui.image_loader import ImageLoader

_Index = QModelIndex | QPersistentModelIndex
CACHE_BYTES = 128 * 1024 * 1024
DEFAULT_CELL = 160
#: Statuses whose outputs exist on disk: made now, or by an earlier run with the same settings.
SHOWN = frozenset({Status.DONE, Status.SKIPPED})


@dataclass(frozen=True, slots=True)
class ThumbItem:
    """One grid item: where its thumbnails are and what the preview tells about it."""

    key: str
    source: str
    url: str | None
    out_dir: Path
    outputs: tuple[Output, ...]
    source_width: int | None
    source_height: int | None
    focus: Focus | None = None  # the crop chosen by hand, if any

    @property
    def main(self) -> Output:
        """The largest output, the one the grid and the preview show."""
        return max(self.outputs, key=lambda o: o.width * o.height)

    @property
    def name(self) -> str:
        """The caption: the largest thumbnail's path in the output folder, so two IMG_0001.jpg of a mirrored tree
        ('2023/summer/…', '2024/winter/…') stay apart (the grid elides the middle of a long one)."""
        return PurePath(self.main.path).as_posix()

    def path(self, output: Output | None = None) -> Path:
        """Absolute path of `output` (default: the largest one)."""
        return self.out_dir / (output or self.main).path


class ThumbnailModel(QStringListModel):
    """Finished items in arrival order, deduplicated by key; drags out as file URLs.

    Rows are added with insertRows (one empty string each) after their items, and removed with
    setStringList([]): never define rowCount or index here (see the module docstring).
    """

    count_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[ThumbItem] = []
        self._rows: dict[str, int] = {}
        self._out_dir: Path | None = None
        self._cell = DEFAULT_CELL
        self._dpr = 1.0
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_bytes = 0
        self._broken: set[str] = set()
        self.loader = ImageLoader(max_threads=2, parent=self)
        self.loader.loaded.connect(self._on_loaded)

    # -- Qt model interface ---------------------------------------------------------------------------

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            size = ""
            if item.source_width and item.source_height:
                size = f"\n{item.source_width} × {item.source_height} px"
            return f"{item.source}{size}"
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """The thumbnails as file URLs (text/uri-list) plus their paths as text, for any drop target."""
        rows = sorted({i.row() for i in indexes if i.isValid()})
        paths = [self._items[r].path() for r in rows]
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        mime.setText("\n".join(str(p) for p in paths))
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    # -- Public API -----------------------------------------------------------------------------------

    def set_output_dir(self, out_dir: Path) -> None:
        """Where the outputs of items added from now on live (paths in updates are relative to it)."""
        self._out_dir = Path(out_dir)

    def add(self, updates: Iterable[ItemUpdate]) -> int:
        """Append finished items with outputs, skipping keys already shown; returns the number added."""
        new: dict[str, ThumbItem] = {}
        for u in updates:
            if u.status not in SHOWN or not u.outputs or u.key in self._rows or u.key in new:
                continue
            if self._out_dir is None:
                raise RuntimeError("ThumbnailModel.set_output_dir() must be called before adding items")
            new[u.key] = ThumbItem(
                u.key, u.source, u.url, self._out_dir, tuple(u.outputs), u.source_width, u.source_height, u.focus
            )
        if not new:
            return 0
        first = len(self._items)
        self._rows.update(zip(new, range(first, first + len(new)), strict=True))
        self._items.extend(new.values())
        self.insertRows(first, len(new))
        self.count_changed.emit(len(self._items))
        return len(new)

    def replace(self, update: ItemUpdate) -> bool:
        """An item shown already, made again (a crop chosen by hand): its new outputs and crop, its image reloaded.
        False when the key is not shown or the update has no outputs."""
        row = self._rows.get(update.key)
        if row is None or update.status not in SHOWN or not update.outputs:
            return False
        old = self._items[row]
        self._items[row] = dataclasses.replace(
            old,
            outputs=tuple(update.outputs),
            source_width=update.source_width or old.source_width,
            source_height=update.source_height or old.source_height,
            focus=update.focus,
        )
        pixmap = self._cache.pop(update.key, None)
        if pixmap is not None:
            self._cache_bytes -= _bytes_of(pixmap)
        self._broken.discard(update.key)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
        return True

    def clear(self) -> None:
        self.loader.cancel()
        self.setStringList([])  # the reset: from here the views see no rows
        self._items, self._rows = [], {}
        self._drop_pixmaps()
        self.count_changed.emit(0)

    def item(self, row: int) -> ThumbItem:
        return self._items[row]

    def cell_size(self) -> int:
        return self._cell

    def set_cell_size(self, cell: int, dpr: float = 1.0) -> None:
        """Images are decoded at the cell size (times the screen's pixel ratio): reload at a new size."""
        if (cell, dpr) == (self._cell, self._dpr):
            return
        self._cell, self._dpr = cell, dpr
        self.loader.cancel()
        self._drop_pixmaps()
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [Qt.ItemDataRole.DecorationRole])

    def placeholder(self) -> QPixmap:
        return placeholder_pixmap(self._cell, self._dpr)

    def is_loaded(self, row: int) -> bool:
        """True when the row's real image (not the placeholder) is in the cache."""
        return self._items[row].key in self._cache

    # -- Internals ------------------------------------------------------------------------------------

    def _pixmap(self, item: ThumbItem) -> QPixmap:
        pixmap = self._cache.get(item.key)
        if pixmap is not None:
            self._cache.move_to_end(item.key)
            return pixmap
        if item.key in self._broken:
            return broken_pixmap(self._cell, self._dpr)
        side = max(1, round(self._cell * self._dpr))
        self.loader.request(item.key, str(item.path()), QSize(side, side), canvas=True)
        return self.placeholder()

    def _on_loaded(self, key: str, image: QImage) -> None:
        row = self._rows.get(key)
        if row is None:
            return
        if image.isNull():
            self._broken.add(key)
        else:
            pixmap = QPixmap.fromImage(image)
            pixmap.setDevicePixelRatio(self._dpr)
            self._cache[key] = pixmap
            self._cache_bytes += _bytes_of(pixmap)
            while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= _bytes_of(old)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _drop_pixmaps(self) -> None:
        self._cache.clear()
        self._cache_bytes = 0
        self._broken.clear()


def _bytes_of(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * 4
