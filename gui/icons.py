"""Status icons and grid placeholders, drawn with QPainter so the app ships no image assets.

Everything is made lazily on the GUI thread (a QGuiApplication must exist) and memoised: the queue asks
for an icon per painted row, so drawing must happen once per status, not once per row.
"""

from __future__ import annotations

from enum import Enum
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

from core.models import Status

_COLORS = {
    Status.PENDING: "#9e9e9e",
    Status.RUNNING: "#1e88e5",
    Status.DONE: "#43a047",
    Status.FAILED: "#e53935",
    Status.SKIPPED: "#00897b",
    Status.INVALID: "#fb8c00",
    Status.NOT_REACHED: "#9e9e9e",
}


def _draw_glyph(p: QPainter, status: Status, s: float) -> None:
    """One glyph in an s x s box: a coloured disc with a white mark that still reads without colour."""
    color = QColor(_COLORS[status])
    box = QRectF(s * 0.06, s * 0.06, s * 0.88, s * 0.88)
    if status is Status.PENDING:
        p.setPen(QPen(color, s * 0.1))
        p.drawEllipse(box.adjusted(s * 0.05, s * 0.05, -s * 0.05, -s * 0.05))
        return
    if status is Status.NOT_REACHED:  # pending's ring, broken: the batch stopped before it
        p.setPen(QPen(color, s * 0.1, Qt.PenStyle.DashLine))
        p.drawEllipse(box.adjusted(s * 0.05, s * 0.05, -s * 0.05, -s * 0.05))
        return
    if status is Status.RUNNING:
        p.setPen(QPen(color.lighter(150), s * 0.14))
        p.drawEllipse(box.adjusted(s * 0.07, s * 0.07, -s * 0.07, -s * 0.07))
        p.setPen(QPen(color, s * 0.14, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawArc(box.adjusted(s * 0.07, s * 0.07, -s * 0.07, -s * 0.07), 90 * 16, -250 * 16)
        return
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawEllipse(box)
    pen = QPen(QColor("white"), s * 0.12, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if status is Status.DONE:
        path = QPainterPath(QPointF(s * 0.3, s * 0.52))
        path.lineTo(s * 0.44, s * 0.66)
        path.lineTo(s * 0.7, s * 0.36)
        p.drawPath(path)
    elif status is Status.FAILED:
        p.drawLine(QPointF(s * 0.34, s * 0.34), QPointF(s * 0.66, s * 0.66))
        p.drawLine(QPointF(s * 0.66, s * 0.34), QPointF(s * 0.34, s * 0.66))
    elif status is Status.SKIPPED:
        path = QPainterPath(QPointF(s * 0.3, s * 0.34))
        path.lineTo(s * 0.46, s * 0.5)
        path.lineTo(s * 0.3, s * 0.66)
        path.moveTo(s * 0.52, s * 0.34)
        path.lineTo(s * 0.68, s * 0.5)
        path.lineTo(s * 0.52, s * 0.66)
        p.drawPath(path)
    else:  # invalid: an exclamation mark
        p.drawLine(QPointF(s * 0.5, s * 0.27), QPointF(s * 0.5, s * 0.56))
        p.drawPoint(QPointF(s * 0.5, s * 0.72))


@cache
def status_icon(status: Status) -> QIcon:
    """The queue's Status column icon, with 16 and 32 px pixmaps so high-DPI screens stay sharp."""
    icon = QIcon()
    for size in (16, 32):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        _draw_glyph(p, status, float(size))
        p.end()
        icon.addPixmap(pm)
    return icon


def _cell(size: int, dpr: float) -> tuple[QPixmap, QPainter]:
    """A transparent cell of `size` logical pixels with a soft frame, ready to draw a glyph into."""
    pm = QPixmap(max(1, round(size * dpr)), max(1, round(size * dpr)))
    pm.setDevicePixelRatio(dpr)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    inset = size * 0.08
    frame = QRectF(inset, inset, size - 2 * inset, size - 2 * inset)
    p.setPen(QPen(QColor(128, 128, 128, 90), 1.5))
    p.setBrush(QColor(128, 128, 128, 30))
    p.drawRoundedRect(frame, size * 0.06, size * 0.06)
    return pm, p


@cache
def placeholder_pixmap(size: int, dpr: float = 1.0) -> QPixmap:
    """What a grid cell shows while its image loads: a framed landscape outline (sun and hills)."""
    pm, p = _cell(size, dpr)
    s = float(size)
    p.setPen(QPen(QColor(128, 128, 128, 140), max(1.0, s * 0.02)))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(QPointF(s * 0.62, s * 0.38), s * 0.07, s * 0.07)
    hills = QPainterPath(QPointF(s * 0.25, s * 0.7))
    hills.lineTo(s * 0.42, s * 0.48)
    hills.lineTo(s * 0.55, s * 0.62)
    hills.lineTo(s * 0.63, s * 0.54)
    hills.lineTo(s * 0.75, s * 0.7)
    hills.closeSubpath()
    p.drawPath(hills)
    p.end()
    return pm


@cache
def broken_pixmap(size: int, dpr: float = 1.0) -> QPixmap:
    """What a grid cell shows when its file cannot be read (deleted, or not an image any more)."""
    pm, p = _cell(size, dpr)
    s = float(size)
    _draw_glyph_at(p, Status.FAILED, QRectF(s * 0.38, s * 0.38, s * 0.24, s * 0.24))
    p.end()
    return pm


def _draw_glyph_at(p: QPainter, status: Status, rect: QRectF) -> None:
    p.save()
    p.translate(rect.topLeft())
    _draw_glyph(p, status, rect.width())
    p.restore()


class Glyph(Enum):
    """Toolbar glyphs drawn here: the style's own media icons are black, and vanish on a dark toolbar."""

    START = "start"
    PAUSE = "pause"
    STOP = "stop"
    PANEL = "panel"


# Colours that read on light and dark toolbars alike (mid lightness), so the icons need no redraw on a switch.
_GLYPH_COLORS = {Glyph.START: "#43a047", Glyph.PAUSE: "#1e88e5", Glyph.STOP: "#e53935", Glyph.PANEL: "#1e88e5"}
_OUTLINE = "#8a8a8a"


def _draw_toolbar_glyph(p: QPainter, glyph: Glyph, s: float) -> None:
    color = QColor(_GLYPH_COLORS[glyph])
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    if glyph is Glyph.START:
        p.drawPolygon(QPolygonF([QPointF(s * 0.26, s * 0.16), QPointF(s * 0.84, s * 0.5), QPointF(s * 0.26, s * 0.84)]))
    elif glyph is Glyph.PAUSE:
        p.drawRoundedRect(QRectF(s * 0.22, s * 0.18, s * 0.2, s * 0.64), s * 0.04, s * 0.04)
        p.drawRoundedRect(QRectF(s * 0.58, s * 0.18, s * 0.2, s * 0.64), s * 0.04, s * 0.04)
    elif glyph is Glyph.STOP:
        p.drawRoundedRect(QRectF(s * 0.2, s * 0.2, s * 0.6, s * 0.6), s * 0.08, s * 0.08)
    else:  # a window with its left pane filled: the settings panel
        frame = QRectF(s * 0.1, s * 0.18, s * 0.8, s * 0.64)
        p.drawRect(QRectF(frame.left(), frame.top(), frame.width() * 0.38, frame.height()))
        p.setPen(QPen(QColor(_OUTLINE), max(1.0, s * 0.08)))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(frame)


@cache
def toolbar_icon(glyph: Glyph) -> QIcon:
    """A toolbar icon with 16, 24 and 32 px pixmaps."""
    icon = QIcon()
    for size in (16, 24, 32):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        _draw_toolbar_glyph(p, glyph, float(size))
        p.end()
        icon.addPixmap(pm)
    return icon
