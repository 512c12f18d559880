"""The preview's source image with the crop box of every size over it, where a person fixes a crop by hand.

A click keeps the point clicked (`FocusPoint`); dragging inside the largest crop box moves the crop (a point at its
new centre); dragging elsewhere draws the region to keep (`FocusBox`). `focus_chosen` carries the choice; the
dialog remakes the item with it. The boxes are computed by `crop_boxes` with the engine's own geometry
(`core.imaging.focus.geometry`), so what is drawn is what the resizers cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.imaging.focus import Focus, FocusBox, FocusPoint, geometry

#: A press that moves less than this (logical pixels) is a click, not a drag.
_CLICK_SLOP = 4
#: One colour per size, smallest first (repeats after five).
_COLOURS = ("#ffd400", "#00d0ff", "#ff4fd8", "#7dff4f", "#ff8a00")
#: How far (logical pixels) each smaller size's box is drawn inside the next larger one.
_INSET = 3


@dataclass(frozen=True, slots=True)
class CropBox:
    """The region one size keeps, as fractions of the source (left, top, right, bottom)."""

    size: int
    left: float
    top: float
    right: float
    bottom: float

    @property
    def label(self) -> str:
        return f"{self.size} px"


def crop_boxes(
    width: int,
    height: int,
    sizes: tuple[int, ...],
    fit: str,
    upscale: bool,
    shares: tuple[float, float],
    hand: Focus | None,
) -> list[CropBox]:
    """The crop of every size of a `width` x `height` source, smallest size first (the whole image unless cover)."""
    boxes = []
    for size in sorted(sizes):
        _, _, (left, top, right, bottom), _ = geometry(width, height, size, fit, upscale, shares, hand)
        boxes.append(CropBox(size, left / width, top / height, right / width, bottom / height))
    return boxes


class CropView(QWidget):
    """Paints the source fitted to the widget and the crop boxes over it; turns clicks and drags into a focus."""

    focus_chosen = Signal(object)  # FocusPoint | FocusBox

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._message = ""
        self._boxes: list[CropBox] = []
        self._editable = False
        self._press: QPointF | None = None
        self._drag: QPointF | None = None
        self._moving = False
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)

    def sizeHint(self) -> QSize:
        return QSize(560, 400)

    # -- Public API -----------------------------------------------------------------------------------

    def boxes(self) -> list[CropBox]:
        """The crop boxes drawn, smallest size first (the model tests read)."""
        return list(self._boxes)

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def set_source(self, pixmap: QPixmap | None, message: str = "") -> None:
        self._pixmap, self._message = pixmap, message
        self.update()

    def set_boxes(self, boxes: list[CropBox]) -> None:
        self._boxes = list(boxes)
        self.update()

    def set_editable(self, editable: bool) -> None:
        """Whether clicks and drags choose a crop (only under cover, and not while the item is being remade)."""
        self._editable = editable
        self.setCursor(Qt.CursorShape.CrossCursor if editable else Qt.CursorShape.ArrowCursor)

    def image_rect(self) -> QRectF:
        """Where the source is painted, in widget coordinates (empty without a source)."""
        if self._pixmap is None:
            return QRectF()
        natural = self._pixmap.deviceIndependentSize()
        area = QSizeF(self.size())
        shown = natural.scaled(area, Qt.AspectRatioMode.KeepAspectRatio)
        return QRectF((area.width() - shown.width()) / 2, (area.height() - shown.height()) / 2, *shown.toTuple())

    def to_fractions(self, point: QPointF) -> tuple[float, float]:
        """A widget position as fractions of the source, clamped to it."""
        r = self.image_rect()
        x = (point.x() - r.left()) / r.width() if r.width() else 0.5
        y = (point.y() - r.top()) / r.height() if r.height() else 0.5
        return min(1.0, max(0.0, x)), min(1.0, max(0.0, y))

    def box_rect(self, box: CropBox) -> QRectF:
        """A crop box in widget coordinates."""
        r = self.image_rect()
        return QRectF(
            r.left() + box.left * r.width(),
            r.top() + box.top * r.height(),
            (box.right - box.left) * r.width(),
            (box.bottom - box.top) * r.height(),
        )

    # -- Mouse ----------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self._editable or self._pixmap is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._press = self._drag = event.position()
        self._moving = bool(self._boxes) and self.box_rect(self._boxes[-1]).contains(self._press)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None:
            return
        self._drag = event.position()
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        press, self._press = self._press, None
        if press is None:
            return
        end = event.position()
        self._drag = None
        self.update()
        if (end - press).manhattanLength() < _CLICK_SLOP:
            self.focus_chosen.emit(FocusPoint(*self.to_fractions(end)))
        elif self._moving:
            largest = self._boxes[-1]
            dx, dy = (a - b for a, b in zip(self.to_fractions(end), self.to_fractions(press), strict=True))
            cx, cy = (largest.left + largest.right) / 2 + dx, (largest.top + largest.bottom) / 2 + dy
            self.focus_chosen.emit(FocusPoint(min(1.0, max(0.0, cx)), min(1.0, max(0.0, cy))))
        else:
            (x0, y0), (x1, y1) = self.to_fractions(press), self.to_fractions(end)
            if abs(x1 - x0) > 0 and abs(y1 - y0) > 0:
                self.focus_chosen.emit(FocusBox(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))

    # -- Painting -------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        if self._pixmap is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        image = self.image_rect()
        p.drawPixmap(image, self._pixmap, QRectF(self._pixmap.rect()))
        offset = self._drag_offset()
        if self._boxes:  # what no size keeps, dimmed
            kept = QPainterPath()
            kept.addRect(self.box_rect(self._boxes[-1]).translated(offset))
            whole = QPainterPath()
            whole.addRect(image)
            p.fillPath(whole.subtracted(kept), QColor(0, 0, 0, 90))
        # Boxes of square sizes often coincide: each smaller size is drawn a little inside the larger one.
        count = len(self._boxes)
        rects = [
            self.box_rect(box).translated(offset).adjusted(inset, inset, -inset, -inset)
            for i, box in enumerate(self._boxes)
            for inset in [_INSET * (count - 1 - i)]
        ]
        tag_left = 0.0
        for i in reversed(range(count)):
            colour = QColor(_COLOURS[i % len(_COLOURS)])
            p.setPen(QPen(QColor(0, 0, 0, 160), 3))
            p.drawRect(rects[i])
            p.setPen(QPen(colour, 1.5))
            p.drawRect(rects[i])
            tag_left = self._label(p, rects[i], rects[0].top(), self._boxes[i].label, colour, tag_left)
        if self._press is not None and self._drag is not None and not self._moving:
            p.setPen(QPen(QColor("white"), 1.5, Qt.PenStyle.DashLine))
            p.drawRect(QRectF(self._press, self._drag).normalized())

    def _drag_offset(self) -> QPointF:
        if self._press is None or self._drag is None or not self._moving:
            return QPointF()
        return self._drag - self._press

    def _label(self, p: QPainter, rect: QRectF, top: float, text: str, colour: QColor, after: float) -> float:
        """The size's name in a small tag at the box's left, below `top`, right of `after` (the previous tag's right
        edge) so the tags of coinciding boxes sit side by side in one row; returns this tag's right edge."""
        metrics = p.fontMetrics()
        width, height = metrics.horizontalAdvance(text) + 8, metrics.height() + 2
        tag = QRectF(max(rect.left() + 3, after + 3), top + 3, width, height)
        p.fillRect(tag, QColor(0, 0, 0, 170))
        p.setPen(colour)
        p.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
        return tag.right()
