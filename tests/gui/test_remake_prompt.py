"""The window asks before a batch makes done items again under changed settings; Cancel changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from core.batch.journal import STATE_DIR
from core.models import Status
from tests.support.window import make_window, queue, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and STATE_DIR not in p.parts
    }


def _button(box: QMessageBox, role: QMessageBox.ButtonRole):
    (button,) = [b for b in box.buttons() if box.buttonRole(b) == role]
    return button


def test_a_settings_change_asks_with_the_counts_and_cancel_keeps_everything(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    urls = [http_server.url(f"/img/ask{i}.jpg?w={500 + i}&h=300") for i in range(3)]
    queue(qtbot, window, urls)
    assert window.start()  # nothing was made before: no question
    first = wait_summary(qtbot, window)
    assert window.remake_prompt is None
    out = tmp_path / "out"
    made = _files(out)
    assert len(made) == 3

    window.settings_panel.size_edit.setText("128")
    assert not window.start()  # it asks first
    box = window.remake_prompt
    assert box is not None and box.isVisible() and not window.batch.is_running
    assert "3 images" in box.text() and "size 256 → 128" in box.text()
    _button(box, QMessageBox.ButtonRole.RejectRole).click()
    qtbot.waitUntil(lambda: not box.isVisible())
    assert not window.batch.is_running and window.summary_dialog is first
    assert _files(out) == made  # Cancel keeps every file as it was
    assert window.model.counts()[Status.DONE] == 3

    assert not window.start()
    again = window.remake_prompt
    assert again is not box
    _button(again, QMessageBox.ButtonRole.AcceptRole).click()
    summary = wait_summary(qtbot, window, first).summary
    assert (summary.done, summary.failed) == (3, 0)
    remade = _files(out)
    assert set(remade) == set(made) and all(remade[name] != made[name] for name in made)  # replaced, same names


def test_resuming_under_changed_settings_asks_too(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    fast = [http_server.url(f"/img/resume{i}.jpg?w=400&h=300") for i in range(2)]
    queue(qtbot, window, [*fast, http_server.url("/drip/slow.jpg?bps=200")])
    assert window.start()
    qtbot.waitUntil(lambda: window.model.counts()[Status.DONE] == 2, timeout=30_000)
    window.batch.cancel()
    wait_summary(qtbot, window)
    out = tmp_path / "out"
    made = _files(out)

    window.settings_panel.size_edit.setText("100")
    assert not window.resume_unfinished()
    box = window.remake_prompt
    assert box is not None and "2 images" in box.text() and "size 256 → 100" in box.text()
    _button(box, QMessageBox.ButtonRole.RejectRole).click()
    qtbot.waitUntil(lambda: not box.isVisible())
    assert not window.batch.is_running and _files(out) == made
