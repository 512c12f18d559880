"""Where the window goes on its screen: pure geometry, so it is the same on every platform and testable without
one. The window calls these at its first start and when first shown."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QStyle

#: The first window's size on a screen that has room for it; smaller screens get what they have.
PREFERRED_SIZE = QSize(1280, 800)
#: Room left for the window's frame and title bar, which are not known before the window is shown.
FRAME_ALLOWANCE = QSize(16, 48)
#: The settings panel's width at a first start, at most a third of the window.
SETTINGS_WIDTH = 400


def first_geometry(available: QRect) -> QRect:
    """A first start: the preferred size, or what the screen's free area has room for (frame included), centred."""
    size = PREFERRED_SIZE.boundedTo(available.size() - FRAME_ALLOWANCE)
    return QStyle.alignedRect(Qt.LayoutDirection.LeftToRight, Qt.AlignmentFlag.AlignCenter, size, available)


def settings_width(window_width: int, panel_minimum: int) -> int:
    return max(panel_minimum, min(SETTINGS_WIDTH, window_width // 3))


def on_screen(frame: QRect, inner: QRect, available: QRect) -> tuple[QSize, QPoint]:
    """The window's inner size and frame position that put all of it (frame included) on the free area: a layout
    saved on a larger screen, or a frame larger than allowed for, is shrunk and moved."""
    extra = frame.size() - inner.size()
    size = inner.size().boundedTo(available.size() - extra)
    fitted = QRect(frame.topLeft(), size + extra)
    x = min(max(fitted.x(), available.x()), available.x() + available.width() - fitted.width())
    y = min(max(fitted.y(), available.y()), available.y() + available.height() - fitted.height())
    return size, QPoint(x, y)
