"""Fixtures shared by the window's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QSettings, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget

from gui.main_window import MainWindow
from gui.settings_store import SettingsStore


class UrlCatcher(QObject):
    """Receives what QDesktopServices.openUrl would hand to the desktop, so tests open nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


@pytest.fixture
def catch_file_urls() -> Iterator[UrlCatcher]:
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    yield catcher
    QDesktopServices.unsetUrlHandler("file")


@pytest.fixture
def host(qtbot) -> QWidget:
    """A shown window to embed a widget in, as the main window does. It has no layout, so the offscreen
    platform is never asked to propagate size hints (which it cannot, and warns about)."""
    window = QWidget()
    window.resize(640, 420)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    """The main window with its settings in a private INI file and its output folder in tmp_path."""
    store = SettingsStore(QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    win = MainWindow(store)
    qtbot.addWidget(win)
    win.settings_panel.set_output_dir(tmp_path / "out")
    return win
