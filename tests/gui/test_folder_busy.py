"""The window, like the command, stops a batch on a folder another batch writes to, and says who."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from core.batch.journal import Journal
from tests.support.window import make_window, queue, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def test_a_batch_on_a_folder_another_batch_writes_to_stops_naming_it(qtbot, http_server, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    queue(qtbot, window, [http_server.url("/img/w.jpg")])
    who = f"process {os.getpid()} on {socket.gethostname()}"
    with Journal(tmp_path / "out"):  # what a batch running elsewhere holds
        window.start()
        dialog = wait_summary(qtbot, window)
    expected = f"The batch stopped: another batch is writing to the output folder {tmp_path / 'out'} ({who}"
    assert dialog.headline.text().startswith(expected)
    assert window.status.currentMessage().startswith("Batch stopped: another batch is writing")
    assert http_server.hits("/img/w.jpg") == 0
