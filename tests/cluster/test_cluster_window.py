"""The window running a batch on a real Dask cluster: chosen in the settings panel, results in the grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from core.models import Status
from core.settings import Settings
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.qt_log_ignore(r"does not support propagateSizeHints")]


def test_the_window_runs_a_batch_on_the_cluster_and_shows_the_thumbnails(
    qtbot, http_server, dask_cluster, tmp_path: Path
) -> None:
    store = SettingsStore(QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.settings_panel.set_settings(Settings(out=tmp_path / "out", retries=0, timeout=10).validated())
    panel = window.settings_panel
    panel.run_on_combo.setCurrentIndex(panel.run_on_combo.findData("cluster"))
    panel.cluster_edit.setText(dask_cluster.address)
    assert panel.is_valid()

    urls = [http_server.url(f"/img/win{i}.jpg?w=320&h=200") for i in range(6)] + [http_server.url("/status/404")]
    window.add_sources(urls)
    qtbot.waitUntil(lambda: window.model.rowCount() == 7 and not window.loader.is_busy)
    assert window.start_action.isEnabled()
    window.start_action.trigger()
    qtbot.waitUntil(lambda: window.summary_dialog is not None, timeout=60_000)

    counts = window.model.counts()
    assert (counts[Status.DONE], counts[Status.FAILED]) == (6, 1)
    assert window.thumbnail_view.count() == 6
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 6
    assert f"cluster={dask_cluster.address}" in (tmp_path / "app.ini").read_text()  # the choice persists


def test_an_unreachable_scheduler_is_said_in_the_window_and_the_queue_is_kept(
    qtbot, http_server, tmp_path: Path, monkeypatch
) -> None:
    import socket

    import core.batch.backends.dask

    monkeypatch.setattr(core.batch.backends.dask, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    store = SettingsStore(QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.settings_panel.set_settings(Settings(out=tmp_path / "out", cluster=address).validated())
    window.add_sources([http_server.url(f"/img/kept{i}.jpg") for i in range(3)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 3 and not window.loader.is_busy)
    window.start_action.trigger()
    qtbot.waitUntil(lambda: window.summary_dialog is not None, timeout=30_000)

    headline = window.summary_dialog.headline.text()
    assert headline.startswith(f"The batch stopped: cannot reach the Dask scheduler at {address}")
    assert window.status.currentMessage().startswith(f"Batch stopped: cannot reach the Dask scheduler at {address}")
    assert window.model.rowCount() == 3 and window.start_action.isEnabled()  # nothing queued is lost
