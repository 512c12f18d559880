"""A main window with a private settings file and fast limits, and waits on what a batch shows in it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from core.models import Status
from core.settings import Settings
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore

BATCH_TIMEOUT = 30_000


def make_window(qtbot, tmp_path: Path, **settings) -> MainWindow:
    store = SettingsStore(QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    window = MainWindow(store)
    qtbot.addWidget(window)
    values = {"out": tmp_path / "out", "threads": 4, "retries": 0, "timeout": 10, "processes": 1, **settings}
    window.settings_panel.set_settings(Settings(**values).validated())
    return window


def queue(qtbot, window: MainWindow, sources: list[str]) -> None:
    before = window.model.rowCount()
    window.add_sources(sources)
    qtbot.waitUntil(lambda: window.model.rowCount() == before + len(sources) and not window.loader.is_busy)


def wait_summary(qtbot, window: MainWindow, previous=None):
    qtbot.waitUntil(
        lambda: window.summary_dialog is not None and window.summary_dialog is not previous, timeout=BATCH_TIMEOUT
    )
    return window.summary_dialog


def wait_running(qtbot, window: MainWindow, count: int = 1) -> None:
    qtbot.waitUntil(lambda: window.model.counts()[Status.RUNNING] >= count, timeout=BATCH_TIMEOUT)
