"""Light and dark: the window follows the system's colour scheme unless View > Colour scheme forces one.

Qt 6.8's `QStyleHints.setColorScheme` switches the native palette where the platform supports it (Windows 11,
macOS, GNOME through the desktop portal). Where it does not (plain X11, Xvfb, older desktops), a forced scheme
would do nothing, so a forced scheme also sets a complete palette of its own; System resets the palette to the
platform's, which Qt then keeps in step with the system's changes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from gui.settings_store import Scheme

_QT_SCHEME = {
    Scheme.SYSTEM: Qt.ColorScheme.Unknown,
    Scheme.LIGHT: Qt.ColorScheme.Light,
    Scheme.DARK: Qt.ColorScheme.Dark,
}
_ERROR_LIGHT, _ERROR_DARK = "#c62828", "#ff8a80"
_LINK_DARK = "#8ab4f8"


def is_dark(palette: QPalette) -> bool:
    """Whether a palette is a dark one (light text on a dark window), whoever made it."""
    return (
        palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def error_color(widget: QWidget) -> QColor:
    """Red that reads on the widget's background: the light scheme's red is too dark on a dark window."""
    return QColor(_ERROR_DARK if is_dark(widget.palette()) else _ERROR_LIGHT)


def _dark_palette() -> QPalette:
    """A complete dark palette (every role set, so nothing falls back to the platform's light colours)."""
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {
        role.Window: "#2b2b2b",
        role.WindowText: "#e8e8e8",
        role.Base: "#1e1e1e",
        role.AlternateBase: "#262626",
        role.ToolTipBase: "#3a3a3a",
        role.ToolTipText: "#f0f0f0",
        role.PlaceholderText: "#9a9a9a",
        role.Text: "#e8e8e8",
        role.Button: "#353535",
        role.ButtonText: "#e8e8e8",
        role.BrightText: "#ffffff",
        role.Light: "#4a4a4a",
        role.Midlight: "#404040",
        role.Mid: "#303030",
        role.Dark: "#1a1a1a",
        role.Shadow: "#000000",
        role.Highlight: "#3d7bd9",
        role.HighlightedText: "#ffffff",
        role.Link: _LINK_DARK,
        role.LinkVisited: "#c58af9",
        role.Accent: "#3d7bd9",
    }
    palette = QPalette()
    for r, colour in colours.items():
        palette.setColor(r, QColor(colour))
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, r, QColor("#7a7a7a"))
    palette.setColor(group.Disabled, role.Base, QColor("#262626"))
    palette.setColor(group.Disabled, role.Button, QColor("#2f2f2f"))
    return palette


# The class whose widgets get `_dark_check_boxes`. PySide6 takes a str here; its stubs say bytes.
_CHECK_BOX: Any = "QCheckBox"


def _dark_check_boxes() -> QPalette:
    """The dark palette for check boxes: Fusion fills the box with Base and outlines it a shade darker than
    Window, which left an unchecked box black on black; a lighter box and outline make it visible."""
    palette = _dark_palette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#4a4a4a"))
    palette.setColor(QPalette.ColorRole.Window, QColor("#6a6a6a"))
    return palette


def _light_palette(app: QApplication) -> QPalette:
    palette = app.style().standardPalette()
    if is_dark(palette):  # a style whose standard palette follows the system's dark scheme
        palette = QPalette(QColor("#efefef"))
    return palette


class ThemeManager(QObject):
    """Applies the chosen scheme to the application and re-applies it when the system's scheme changes."""

    changed = Signal(object)  # the Scheme now applied

    def __init__(self, app: QApplication, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._app = app
        self.scheme = Scheme.SYSTEM
        app.styleHints().colorSchemeChanged.connect(self._on_system_change)

    def apply(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self._app.styleHints().setColorScheme(_QT_SCHEME[scheme])
        if scheme is Scheme.DARK:
            self._app.setPalette(_dark_palette())
            self._app.setPalette(_dark_check_boxes(), _CHECK_BOX)
        elif scheme is Scheme.LIGHT:
            self._app.setPalette(_light_palette(self._app))
            self._app.setPalette(_light_palette(self._app), _CHECK_BOX)
        else:
            self._app.setPalette(QPalette())  # no role set: every role is the platform's, and follows it
            self._app.setPalette(QPalette(), _CHECK_BOX)
        _restyle_style_sheets()
        self.changed.emit(scheme)

    def is_dark(self) -> bool:
        return is_dark(QGuiApplication.palette())

    def _on_system_change(self, _scheme: Qt.ColorScheme) -> None:
        if self.scheme is Scheme.SYSTEM:
            _restyle_style_sheets()
            self.changed.emit(self.scheme)


def _restyle_style_sheets() -> None:
    """A widget with a style sheet keeps the palette it had when the sheet was set (the settings form stayed
    white in the dark): setting the sheet again makes it take the new palette."""
    for widget in QApplication.allWidgets():
        if widget.styleSheet():
            widget.setStyleSheet(widget.styleSheet())
