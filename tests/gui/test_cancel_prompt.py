"""Esc never cancels a batch; Cancel asks once, and both answers do what they say."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

import gui.main_window
from core.models import Status
from tests.support.window import make_window, queue, wait_running, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]

QUESTION = re.compile(r"Cancel the batch\? (\d+) images? (?:is|are) not made yet\. They can be finished later\.")


@pytest.fixture(autouse=True)
def _quit_without_asking(monkeypatch):
    """A test that fails mid-batch closes its window without a modal question that nobody would answer."""
    monkeypatch.setattr(gui.main_window, "confirm_close", lambda parent: True)


def button(box: QMessageBox, text: str):
    return next(b for b in box.buttons() if b.text() == text)


def test_escape_never_cancels_a_running_batch(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=1)
    queue(qtbot, window, [http_server.url(f"/img/e{i}.jpg?delay=0.3") for i in range(4)])
    window.show()
    qtbot.waitActive(window)
    window.start()
    wait_running(qtbot, window)

    for target in (window, window.queue_view.table):
        qtbot.keyClick(target, Qt.Key.Key_Escape)
    assert window.batch.is_running and not window.batch.is_cancelling
    assert window.cancel_prompt is None
    dialog = wait_summary(qtbot, window)
    assert not dialog.summary.cancelled and dialog.summary.done == 4


def test_cancel_asks_once_and_keep_running_keeps_it_running(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=1)
    queue(qtbot, window, [http_server.url(f"/img/k{i}.jpg?delay=0.3") for i in range(10)])
    window.start()
    wait_running(qtbot, window)

    window.cancel_action.trigger()
    prompt = window.cancel_prompt
    assert prompt is not None and prompt.isVisible()
    asked = QUESTION.fullmatch(prompt.text())
    assert asked and 0 < int(asked[1]) <= 10, prompt.text()
    window.cancel_action.trigger()  # asked again while the question is open: the same question
    assert window.cancel_prompt is prompt
    first = int(asked[1])  # the batch goes on meanwhile, and the count follows it
    qtbot.waitUntil(lambda: int(QUESTION.fullmatch(prompt.text())[1]) < first, timeout=30_000)
    qtbot.keyClick(prompt, Qt.Key.Key_Escape)  # Esc answers "Keep running"
    assert not prompt.isVisible()
    assert window.batch.is_running and not window.batch.is_cancelling

    window.cancel_action.trigger()
    again = window.cancel_prompt
    assert again is not prompt and again.isVisible()
    button(again, "&Keep running").click()
    dialog = wait_summary(qtbot, window)
    assert not dialog.summary.cancelled and dialog.summary.done == 10


def test_cancel_the_batch_cancels_it(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=1)
    queue(qtbot, window, [http_server.url(f"/img/s{i}.jpg?delay=0.3") for i in range(10)])
    window.start()
    wait_running(qtbot, window)

    window.cancel_action.trigger()
    button(window.cancel_prompt, "&Cancel the batch").click()
    assert window.batch.is_cancelling and not window.cancel_action.isEnabled()  # nothing left to ask
    dialog = wait_summary(qtbot, window)
    assert dialog.summary.cancelled and dialog.summary.not_reached == 10 - dialog.summary.done > 0
    assert window.model.counts()[Status.RUNNING] == 0
