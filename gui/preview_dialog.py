"""A larger look at one grid item: the picture, where it came from, and every thumbnail made of it."""

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

from core.settings import MAX_SIZE, format_bytes
from gui.image_loader import ImageLoader
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
    """Shows one item of a ThumbnailModel; Left/Right step through the grid, Esc closes."""

    row_changed = Signal(int)

    def __init__(self, model: ThumbnailModel, row: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._row = -1
        self._loader = ImageLoader(max_threads=1, max_pending=1, parent=self)
        self._loader.loaded.connect(self._on_loaded)
        model.modelReset.connect(self._on_reset)

        self.image = _ImageArea(self)
        self.url_edit = QLineEdit(self)
        self.url_edit.setReadOnly(True)
        self.url_edit.setFrame(False)
        self.url_edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.original_label = QLabel(self)
        self.outputs_label = QLabel(self)
        self.outputs_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info = QFormLayout()
        info.addRow("Source:", self.url_edit)
        info.addRow("Original:", self.original_label)
        info.addRow("Thumbnails:", self.outputs_label)

        buttons = QHBoxLayout()
        self.open_button = self._button("Open file", self._open_file, buttons)
        self.folder_button = self._button("Show in folder", self._show_folder, buttons)
        self.copy_url_button = self._button("Copy URL", self._copy_url, buttons)
        self.copy_path_button = self._button("Copy path", self._copy_path, buttons)
        buttons.addStretch(1)
        self._button("Close", self.reject, buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 1)
        layout.addLayout(info)
        layout.addLayout(buttons)
        # A fixed minimum instead of one that follows the labels: stepping through items never resizes
        # the window, and platforms that cannot take size hints (offscreen) are never asked to.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setMinimumSize(480, 400)
        self.resize(720, 640)

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

    def set_row(self, row: int) -> None:
        """Show the model's item at `row` (out-of-range steps are ignored) and load its picture."""
        if not 0 <= row < self._model.rowCount() or row == self._row:
            return
        self._row = row
        item = self.item()
        self.setWindowTitle(f"{item.name} ({row + 1:,} of {self._model.rowCount():,})")
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
        self.row_changed.emit(row)

    # -- Internals ------------------------------------------------------------------------------------

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
        self._loader.cancel()
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
        """Wait for a load in progress; the owner calls this before it goes away."""
        self._loader.shutdown()
