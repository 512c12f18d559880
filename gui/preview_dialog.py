"""A larger look at one grid item: its source with the crop of every size over it, the thumbnail made of it, where it
came from; and where a person fixes the crop by hand (`gui.crop_view`), which remakes the item at once
(`gui.refocus`)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, QSizeF, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.imaging.focus import Focus, focus_text
from core.imaging.spec import Fit
from core.models import ItemUpdate, Status, Summary
from core.settings import MAX_SIZE, Settings, format_bytes
from gui.crop_view import CropView, crop_boxes
from gui.image_loader import ImageLoader
from gui.refocus import Refocus
from gui.source_loader import LoadedSource, SourceLoader
from gui.thumbnail_model import ThumbItem, ThumbnailModel

#: Thumbnails are never larger than this, so the preview decodes them at full size.
_FULL = QSize(MAX_SIZE, MAX_SIZE)


class _ImageArea(QWidget):
    """Paints a pixmap fitted to the widget, never enlarged past one image pixel per device pixel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._message = ""
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(560, 420)

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def set_pixmap(self, pixmap: QPixmap | None, message: str = "") -> None:
        self._pixmap, self._message = pixmap, message
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        if self._pixmap is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
            return
        natural = self._pixmap.deviceIndependentSize()
        area = QSizeF(self.size())
        if natural.width() > area.width() or natural.height() > area.height():
            natural = natural.scaled(area, Qt.AspectRatioMode.KeepAspectRatio)
        target = QRectF(
            (area.width() - natural.width()) / 2, (area.height() - natural.height()) / 2, *natural.toTuple()
        )
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))


class PreviewDialog(QDialog):
    """Shows one item of a ThumbnailModel; Left/Right step through the grid, Esc closes.

    With the batch's settings (`set_settings`) it also shows the item's source with the crop box of every size, and
    under cover a click or a drag there chooses the crop by hand: the item is remade at once, in every size."""

    row_changed = Signal(int)

    def __init__(self, model: ThumbnailModel, row: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._row = -1
        self._settings: Settings | None = None
        self._source: LoadedSource | None = None
        self._source_key = ""  # the item whose source `_source` is (or is being loaded)
        self._loader = ImageLoader(max_threads=1, max_pending=1, parent=self)
        self._loader.loaded.connect(self._on_loaded)
        self._sources = SourceLoader(self)
        self._sources.loaded.connect(self._on_source)
        self._refocus = Refocus(self)
        self._refocus.remade.connect(self._on_remade)
        model.modelReset.connect(self._on_reset)

        self.crop_view = CropView(self)
        self.crop_view.focus_chosen.connect(self._choose)
        self.image = _ImageArea(self)
        self.image.setMinimumSize(120, 120)
        pictures = QHBoxLayout()
        pictures.addWidget(self.crop_view, 3)
        pictures.addWidget(self.image, 2)

        self.url_edit = QLineEdit(self)
        self.url_edit.setReadOnly(True)
        self.url_edit.setFrame(False)
        self.url_edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.original_label = QLabel(self)
        self.outputs_label = QLabel(self)
        self.outputs_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.crop_label = QLabel(self)
        self.crop_label.setWordWrap(True)
        self.auto_crop_button = QPushButton("Automatic crop", self)
        self.auto_crop_button.setAutoDefault(False)
        self.auto_crop_button.setToolTip("Forget the crop chosen by hand and remake the item with --crop's choice")
        self.auto_crop_button.clicked.connect(lambda: self._choose(None))
        crop_row = QHBoxLayout()
        crop_row.addWidget(self.crop_label, 1)
        crop_row.addWidget(self.auto_crop_button)
        info = QFormLayout()
        info.addRow("Source:", self.url_edit)
        info.addRow("Original:", self.original_label)
        info.addRow("Thumbnails:", self.outputs_label)
        info.addRow("Crop:", crop_row)

        buttons = QHBoxLayout()
        self.open_button = self._button("Open file", self._open_file, buttons)
        self.folder_button = self._button("Show in folder", self._show_folder, buttons)
        self.copy_url_button = self._button("Copy URL", self._copy_url, buttons)
        self.copy_path_button = self._button("Copy path", self._copy_path, buttons)
        buttons.addStretch(1)
        self._button("Close", self.reject, buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(pictures, 1)
        layout.addLayout(info)
        layout.addLayout(buttons)
        # A fixed minimum instead of one that follows the labels: stepping through items never resizes
        # the window, and platforms that cannot take size hints (offscreen) are never asked to.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setMinimumSize(560, 420)
        self.resize(900, 640)

        for key, step in ((Qt.Key.Key_Left, -1), (Qt.Key.Key_Right, 1)):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(lambda s=step: self.set_row(self._row + s))
        self.set_row(row)
        self.open_button.setFocus()

    def _button(self, text: str, slot, layout: QHBoxLayout) -> QPushButton:
        button = QPushButton(text, self)
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        layout.addWidget(button)
        return button

    # -- Public API -----------------------------------------------------------------------------------

    def row(self) -> int:
        return self._row

    def item(self) -> ThumbItem:
        return self._model.item(self._row)

    def set_settings(self, settings: Settings | None) -> None:
        """The settings of the batch the grid shows: its sizes and fit draw the crop boxes, and remakes use them."""
        self._settings = settings
        self._source_key = ""
        if 0 <= self._row < self._model.rowCount():
            self._show(self.item())

    def is_remaking(self) -> bool:
        """An item is being remade with a crop chosen here."""
        return self._refocus.is_busy

    def set_row(self, row: int) -> None:
        """Show the model's item at `row` (out-of-range steps are ignored) and load its picture."""
        if not 0 <= row < self._model.rowCount() or row == self._row:
            return
        self._row = row
        self._show(self.item())
        self.row_changed.emit(row)

    # -- Internals ------------------------------------------------------------------------------------

    def _show(self, item: ThumbItem) -> None:
        self.setWindowTitle(f"{item.name} ({self._row + 1:,} of {self._model.rowCount():,})")
        self.url_edit.setText(item.url or item.source)
        self.url_edit.setCursorPosition(0)
        if item.source_width and item.source_height:
            self.original_label.setText(f"{item.source_width} × {item.source_height} px")
        else:
            self.original_label.setText("size not known")
        lines = [
            f"{out.width} × {out.height} px, {format_bytes(out.bytes)} — {item.path(out).name}"
            for out in sorted(item.outputs, key=lambda o: o.width * o.height)
        ]
        self.outputs_label.setText("\n".join(lines))
        self.image.set_pixmap(None, "Loading…")
        self._loader.cancel()
        self._loader.request(item.key, str(item.path()), _FULL)
        self._show_crop(item.focus)
        if self._source_key == item.key:  # the same source, e.g. after a remake: only the boxes change
            self._draw_boxes()
            return
        self._source, self._source_key = None, item.key
        self.crop_view.set_boxes([])
        self.crop_view.set_editable(False)
        if self._settings is None or item.url is None:
            self._sources.cancel()
            self.crop_view.set_source(None, "The source shows here once a batch has run.")
        else:
            self.crop_view.set_source(None, "Loading the source…")
            self._sources.request(item.key, item.url, self._settings)

    def _cover(self) -> bool:
        return self._settings is not None and self._settings.resize_spec().fit == Fit.COVER

    def _show_crop(self, focus: Focus | None, note: str = "") -> None:
        how = "automatic (--crop)" if focus is None else f"by hand: {focus_text(focus)}"
        if not self._cover():
            hint = "Choosing a crop needs Fit: Cover."
        elif self._refocus.is_busy:
            hint = "Remaking in every size…"
        else:
            hint = "Click the point to keep, drag the largest box, or drag a new region."
        self.crop_label.setText(" ".join(t for t in (how + ".", note, hint) if t))
        self.auto_crop_button.setEnabled(focus is not None and self._cover() and not self._refocus.is_busy)

    def _draw_boxes(self) -> None:
        source, settings = self._source, self._settings
        if source is None or settings is None:
            self.crop_view.set_boxes([])
            return
        spec = settings.resize_spec()
        boxes = crop_boxes(
            source.width, source.height, spec.sizes, spec.fit, spec.upscale, source.shares, self.item().focus
        )
        self.crop_view.set_boxes(boxes)
        self.crop_view.set_editable(self._cover() and not self._refocus.is_busy)

    def _on_source(self, key: str, result: LoadedSource | str) -> None:
        if not 0 <= self._row < self._model.rowCount() or key != self.item().key:
            return
        if isinstance(result, str):
            self.crop_view.set_source(None, result)
            return
        self._source = result
        pixmap = QPixmap.fromImage(result.image)
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.crop_view.set_source(pixmap)
        self._draw_boxes()

    def _choose(self, focus: Focus | None) -> None:
        """Keep `focus` for this item and remake it; the boxes show the new crop at once."""
        if self._settings is None or not self._cover():
            return
        item = self.item()
        why = self._refocus.remake(self._settings, item.key, focus)
        if why is not None:
            self._show_crop(item.focus, why)
            return
        self._model.replace(_with_focus(item, focus))
        self._draw_boxes()
        self._show_crop(focus)

    def _on_remade(self, key: str, update: ItemUpdate | None, summary: Summary) -> None:
        if update is not None:
            self._model.replace(update)
        if not 0 <= self._row < self._model.rowCount():
            return
        item = self.item()
        if key != item.key:
            self._show_crop(item.focus)
            return
        if update is None or summary.fatal:
            self._show_crop(item.focus, f"Not remade: {summary.fatal or 'the item was not reached'}.")
        elif update.error:
            self._show_crop(item.focus, f"Not remade: {update.error}.")
        else:
            self._show(item)
            self._show_crop(item.focus, "Remade in every size.")
        self._draw_boxes()

    def _on_loaded(self, key: str, image: QImage) -> None:
        if not 0 <= self._row < self._model.rowCount() or key != self.item().key:
            return
        if image.isNull():
            self.image.set_pixmap(None, f"Cannot read {self.item().path()}")
            return
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.image.set_pixmap(pixmap)

    def _on_reset(self) -> None:
        self._row = -1
        self._source_key = ""
        self._loader.cancel()
        self._sources.cancel()
        self.reject()

    def _open_file(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.item().path())))

    def _show_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.item().path().parent)))

    def _copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self.item().url or self.item().source)

    def _copy_path(self) -> None:
        QGuiApplication.clipboard().setText(str(self.item().path()))

    def shutdown(self) -> None:
        """Wait for loads and a remake in progress; the owner calls this before it goes away."""
        self._loader.shutdown()
        self._sources.shutdown()
        self._refocus.wait()


def _with_focus(item: ThumbItem, focus: Focus | None) -> ItemUpdate:
    """The item as it is, with its new crop: shown while the remake runs."""
    return ItemUpdate(
        item.key,
        item.source,
        Status.DONE,
        url=item.url,
        source_width=item.source_width,
        source_height=item.source_height,
        outputs=list(item.outputs),
        focus=focus,
    )
