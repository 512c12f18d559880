"""Batches from the window against the loopback server: start, pause, resume, cancel, retry, close, resume later."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QIcon

import gui.main_window
from core.batch.journal import unfinished_batch
from core.models import Status, Summary
from gui.main_window import APP_TITLE
from gui.queue_model import Column
from gui.status_bar import describe
from tests.support import damaged
from tests.support.window import BATCH_TIMEOUT, make_window, queue, wait_running, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def test_a_batch_runs_from_start_to_summary(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    good = [http_server.url(f"/img/g{i}.jpg?w=320&h=200") for i in range(5)]
    missing = http_server.url("/status/404")
    queue(qtbot, window, [*good, missing, "ftp://127.0.0.1/x.jpg"])
    titles: list[str] = []
    window.windowTitleChanged.connect(titles.append)

    window.start_action.trigger()
    assert window.batch.is_running
    assert not window.start_action.isEnabled() and window.pause_action.isEnabled() and window.cancel_action.isEnabled()
    assert not window.settings_panel.size_edit.isEnabled()
    assert not window.clear_action.isEnabled()

    dialog = wait_summary(qtbot, window)
    counts = window.model.counts()
    assert (counts[Status.DONE], counts[Status.FAILED], counts[Status.INVALID]) == (5, 1, 1)
    assert window.thumbnail_view.count() == 5
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 5
    assert (dialog.summary.done, dialog.summary.failed, dialog.summary.invalid) == (5, 1, 1)
    assert not dialog.retry_button.isHidden() and not dialog.copy_button.isHidden()
    assert not dialog.warned_label.isVisible()  # nothing to warn about: no such line
    assert any(t.endswith(f"% – {APP_TITLE}") for t in titles)
    assert window.windowTitle() == APP_TITLE
    assert window.status.currentMessage().startswith("Batch finished")
    assert window.start_action.isEnabled() and window.retry_action.isEnabled() and window.export_action.isEnabled()
    assert window.settings_panel.size_edit.isEnabled()
    assert str(tmp_path / "out") in (tmp_path / "app.ini").read_text()  # the settings a batch ran with persist


def test_summary_exports_the_report_and_the_failures(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    good, bad = http_server.url("/img/e.jpg"), http_server.url("/status/500")
    queue(qtbot, window, [good, bad])
    window.start()
    dialog = wait_summary(qtbot, window)

    dialog.export_report(tmp_path / "report.json")
    # Waiting on the dialog's own note, not on `done`: the export may finish before a waiter could connect.
    qtbot.waitUntil(lambda: dialog.report_note.text().startswith("Report written"), timeout=10_000)
    assert "2 items" in dialog.report_note.text()
    report = json.loads((tmp_path / "report.json").read_text())
    assert {item["url"]: item["status"] for item in report["items"]} == {good: "done", bad: "failed"}
    dialog.export_failed(tmp_path / "failed.txt")
    assert (tmp_path / "failed.txt").read_text() == f"{bad}\n"
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == f"{bad}\n"


def test_a_file_cut_short_is_done_with_its_warning_in_the_queue_and_the_summary(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    cut = damaged.jpeg_cut()
    truncated = http_server.add("/cut.jpg", cut.data, {"Content-Type": "image/jpeg"})
    queue(qtbot, window, [truncated, http_server.url("/img/fine.jpg")])
    window.start()
    dialog = wait_summary(qtbot, window)

    assert (dialog.summary.done, dialog.summary.warned, dialog.summary.failed) == (2, 1, 0)
    assert window.model.counts()[Status.DONE] == 2
    warning = window.model.data(window.model.index(0, Column.ERROR))
    assert warning.startswith("truncated: about ") and warning.endswith("% of the image is missing")
    assert isinstance(window.model.data(window.model.index(0, Column.ERROR), Qt.ItemDataRole.DecorationRole), QIcon)
    assert window.model.data(window.model.index(1, Column.ERROR)) == ""
    assert dialog.warned_label.isVisible() and dialog.warned_label.text().startswith("1 ")
    assert "2 done (1 with warning)" in window.status.currentMessage()
    assert window.thumbnail_view.count() == 2


def test_retry_failed_redoes_only_the_failures(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    good = [http_server.url(f"/img/ok{i}.jpg") for i in range(3)]
    flaky = http_server.url("/retry/1/flaky.jpg")  # 503 once, then the image
    queue(qtbot, window, [*good, flaky])
    window.start()
    first = wait_summary(qtbot, window)
    assert (first.summary.done, first.summary.failed) == (3, 1)

    first.retry_button.click()
    second = wait_summary(qtbot, window, previous=first)
    assert (second.summary.done, second.summary.failed, second.summary.skipped) == (1, 0, 3)
    assert [http_server.hits(f"/img/ok{i}.jpg") for i in range(3)] == [1, 1, 1]
    assert window.model.counts()[Status.FAILED] == 0
    assert window.thumbnail_view.count() == 4  # earlier thumbnails are shown again
    assert not window.retry_action.isEnabled()


def test_pause_holds_new_downloads_and_resume_finishes(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=1)
    urls = [http_server.url(f"/img/p{i}.jpg?delay=0.3") for i in range(3)]
    queue(qtbot, window, urls)
    window.start()
    wait_running(qtbot, window)

    window.pause_action.trigger()
    assert window.batch.is_paused and window.pause_action.text() == "Res&ume"
    qtbot.waitUntil(lambda: window.batch.last_progress is not None and window.batch.last_progress.paused)
    qtbot.waitUntil(lambda: window.model.counts()[Status.RUNNING] == 0, timeout=BATCH_TIMEOUT)
    qtbot.waitUntil(lambda: window.windowTitle().startswith("Paused"))
    assert window.status.eta_label.text() == "Paused"
    finished_while_paused = window.model.counts()[Status.DONE]
    for _ in range(3):  # several snapshots later nothing new has started
        with qtbot.waitSignal(window.batch.percent_changed):
            pass
    assert window.model.counts()[Status.DONE] == finished_while_paused < 3
    assert sum(http_server.hits(f"/img/p{i}.jpg") for i in range(3)) == finished_while_paused

    window.pause_action.trigger()
    assert not window.batch.is_paused and window.pause_action.text() == "&Pause"
    dialog = wait_summary(qtbot, window)
    assert dialog.summary.done == 3 and dialog.summary.ok


def test_cancel_stops_the_batch_and_leaves_it_resumable(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=2)
    urls = [http_server.url(f"/img/c{i}.jpg?delay=0.5") for i in range(12)]
    queue(qtbot, window, urls)
    window.start()
    wait_running(qtbot, window)

    window.cancel_action.trigger()
    (stop,) = [b for b in window.cancel_prompt.buttons() if b.text() == "&Cancel the batch"]  # Cancel asks first
    stop.click()
    dialog = wait_summary(qtbot, window)
    assert dialog.summary.cancelled
    assert "cancelled" in dialog.headline.text()
    assert dialog.summary.done < 12
    assert unfinished_batch(tmp_path / "out") == 12 - dialog.summary.done
    assert window.start_action.isEnabled() and not window.cancel_action.isEnabled()


def test_closing_during_a_batch_asks_then_cancels_and_the_next_launch_offers_to_resume(
    qtbot, http_server, tmp_path, monkeypatch
):
    window = make_window(qtbot, tmp_path, threads=1)
    urls = [http_server.url(f"/img/r{i}.jpg?delay=0.3") for i in range(6)]
    queue(qtbot, window, urls)
    window.start()
    wait_running(qtbot, window)

    asked: list[bool] = []
    monkeypatch.setattr(gui.main_window, "confirm_close", lambda parent: asked.append(False) or False)
    assert not window.close()
    assert asked and window.batch.is_running

    monkeypatch.setattr(gui.main_window, "confirm_close", lambda parent: True)
    assert window.close()
    assert not window.batch.is_running
    left = unfinished_batch(tmp_path / "out")
    assert 0 < left <= 6
    qtbot.wait(0)  # let the queued end-of-batch signal arrive: a closing window shows no summary
    assert window.summary_dialog is None

    again = make_window(qtbot, tmp_path, threads=4)
    prompt = again.offer_resume()
    assert prompt is again.resume_prompt and prompt is not None
    assert f"{left:,} images are not made yet" in prompt.text()
    (resume,) = [b for b in prompt.buttons() if b.text() == "&Resume"]
    resume.click()
    dialog = wait_summary(qtbot, again)
    assert dialog.summary.done == left and dialog.summary.failed == 0
    assert unfinished_batch(tmp_path / "out") == 0
    assert again.model.counts()[Status.DONE] == left
    assert again.offer_resume() is None


def test_no_resume_offer_for_a_finished_batch(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    queue(qtbot, window, [http_server.url("/img/f.jpg")])
    window.start()
    wait_summary(qtbot, window)
    assert window.offer_resume() is None


def test_the_window_says_why_a_batch_stopped_once() -> None:
    summary = Summary(5, 2, 0, 3, 0, 1.0, fatal="the batch stopped: cannot write thumbnails: No space left: /out")
    assert describe(summary).startswith("Batch stopped: cannot write thumbnails: No space left: /out")
