"""The queue tells the truth: after cancel, after a resume, after Retry failed, every row says what happened."""

from __future__ import annotations

import json

import pytest

import gui.main_window
from core.batch.report import write_report
from core.models import Status
from gui.queue_model import STATUS_ROLE, Column
from tests.support.window import BATCH_TIMEOUT, make_window, queue, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


@pytest.fixture(autouse=True)
def _quit_without_asking(monkeypatch):
    """A test that fails mid-batch closes its window without a modal question that nobody would answer."""
    monkeypatch.setattr(gui.main_window, "confirm_close", lambda parent: True)


def statuses(window) -> list[Status]:
    model = window.model
    return [model.data(model.index(row, 0), STATUS_ROLE) for row in range(model.rowCount())]


def status_texts(window) -> list[str]:
    model = window.model
    return [model.data(model.index(row, Column.STATUS)) for row in range(model.rowCount())]


def test_after_cancel_no_row_runs_and_the_rest_is_not_reached(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=2)
    urls = [http_server.url(f"/img/c{i}.jpg?delay=0.5") for i in range(12)]
    queue(qtbot, window, urls)
    window.start()
    qtbot.waitUntil(lambda: window.model.counts()[Status.RUNNING] == 2, timeout=BATCH_TIMEOUT)

    window.batch.cancel()
    dialog = wait_summary(qtbot, window)
    summary = dialog.summary
    done = summary.done
    assert summary.cancelled and done < 12
    assert statuses(window).count(Status.RUNNING) == 0
    assert (summary.not_reached, summary.skipped) == (12 - done, 0)
    assert statuses(window).count(Status.NOT_REACHED) == 12 - done
    assert status_texts(window).count("not reached") == 12 - done
    assert window.model.counts()[Status.SKIPPED] == 0
    counts = dialog.count_labels
    assert counts["Not reached:"].text() == f"{12 - done:,}" and counts["Skipped (already made):"].text() == "0"
    assert "not reached" in window.status.currentMessage()
    assert dialog.retry_button.isHidden() and not dialog.finish_button.isHidden()  # nothing failed; the rest is left

    write_report(tmp_path / "out", summary.run_id, tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    left = [item for item in report["items"] if item["status"] != "done"]
    assert len(left) == 12 - done
    assert {(i["status"], i["error"]) for i in left} == {
        ("skipped", "not reached: the batch was cancelled before this item")
    }
    assert (report["summary"]["not_reached"], report["summary"]["skipped"]) == (12 - done, 0)


def test_a_resumed_batch_lists_every_item_with_what_is_left_pending(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=1)
    urls = [http_server.url(f"/img/r{i}.jpg?delay=0.3") for i in range(6)]
    queue(qtbot, window, urls)
    window.start()
    qtbot.waitUntil(lambda: window.model.counts()[Status.DONE] >= 1, timeout=BATCH_TIMEOUT)
    window.batch.cancel()
    first = wait_summary(qtbot, window).summary
    made = first.done
    assert made < 6

    again = make_window(qtbot, tmp_path, threads=1)
    assert again.resume_unfinished()
    again.batch.pause()  # hold the batch while its queue is read
    qtbot.waitUntil(lambda: again.model.rowCount() == 6, timeout=BATCH_TIMEOUT)
    qtbot.waitUntil(lambda: again.batch.last_progress is not None and again.batch.last_progress.paused)
    qtbot.waitUntil(lambda: again.model.counts()[Status.RUNNING] == 0, timeout=BATCH_TIMEOUT)
    counts = again.model.counts()
    assert counts[Status.DONE] + counts[Status.PENDING] == 6
    assert counts[Status.DONE] >= made
    assert again.queue_view.filter_buttons["all"].text() == "All (6)"
    assert again.status.counts_label.text() == f"{counts[Status.DONE]} / 6"

    again.batch.resume()
    dialog = wait_summary(qtbot, again)
    assert dialog.summary.done == 6  # a resumed run counts what its first part made too
    assert statuses(again) == [Status.DONE] * 6


def test_retry_failed_keeps_the_done_rows_done(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    good = [http_server.url(f"/img/ok{i}.jpg") for i in range(3)]
    flaky = http_server.url("/retry/1/flaky.jpg")  # 503 once, then the image
    queue(qtbot, window, [*good, flaky])
    window.start()
    first = wait_summary(qtbot, window)
    assert statuses(window) == [Status.DONE, Status.DONE, Status.DONE, Status.FAILED]

    first.retry_button.click()
    second = wait_summary(qtbot, window, previous=first)
    assert (second.summary.done, second.summary.failed) == (1, 0)
    assert statuses(window) == [Status.DONE] * 4
    assert status_texts(window) == ["done"] * 4
    assert [http_server.hits(f"/img/ok{i}.jpg") for i in range(3)] == [1, 1, 1]
    assert window.thumbnail_view.count() == 4


def test_finish_the_rest_after_a_cancel_makes_only_what_was_not_reached(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path, threads=2)
    urls = [http_server.url(f"/img/f{i}.jpg?delay=0.3") for i in range(8)]
    queue(qtbot, window, urls)
    window.start()
    qtbot.waitUntil(lambda: window.model.counts()[Status.DONE] >= 2, timeout=BATCH_TIMEOUT)
    window.batch.cancel()
    first = wait_summary(qtbot, window)
    made = first.summary.done

    first.finish_button.click()
    second = wait_summary(qtbot, window, previous=first)
    assert (second.summary.done, second.summary.skipped, second.summary.not_reached) == (8 - made, made, 0)
    assert statuses(window) == [Status.DONE] * 8  # what the first part made stays done, not "skipped"
    assert sum(http_server.hits(f"/img/f{i}.jpg") for i in range(8)) <= 8 + 2  # at most the 2 cut short again
