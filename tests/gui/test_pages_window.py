"""Web pages in the window: File > Add web page, and links dropped on their own that answer with a page."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QInputDialog

from core.models import Status
from tests.support.loopback import LoopbackServer, image_bytes
from tests.support.window import make_window, queue, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def serve_page(server: LoopbackServer) -> str:
    """A page of two images, as a shop's product page."""
    server.add("/a.jpg", image_bytes("a"), {"Content-Type": "image/jpeg"})
    server.add("/b.jpg", image_bytes("b"), {"Content-Type": "image/jpeg"})
    page = b'<!DOCTYPE html><html><body><img data-src="/a.jpg" src="data:,"><img src="/b.jpg"></body></html>'
    return server.add("/product", page, {"Content-Type": "text/html"})


def test_add_web_page_queues_the_page_and_reads_it_for_its_images(qtbot, http_server, tmp_path, monkeypatch):
    window = make_window(qtbot, tmp_path)
    page = serve_page(http_server)
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: (f"  {page} ", True))
    window.add_page_action.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1 and not window.loader.is_busy)
    assert window.settings_panel.pages_check.isChecked()

    window.start()
    dialog = wait_summary(qtbot, window)
    assert (dialog.summary.total, dialog.summary.done, dialog.summary.failed) == (3, 3, 0)
    assert window.model.rowCount() == 3 and window.model.counts()[Status.DONE] == 3  # the page and its images
    assert window.pages_prompt is None


def test_a_link_that_answers_with_a_page_asks_once_to_read_pages(qtbot, http_server, tmp_path):
    window = make_window(qtbot, tmp_path)
    page = serve_page(http_server)
    queue(qtbot, window, [page, http_server.url("/img/c.jpg")])
    window.start()
    first = wait_summary(qtbot, window)
    assert (first.summary.done, first.summary.failed) == (1, 1)

    prompt = window.pages_prompt
    assert prompt is not None and prompt.isVisible()
    assert prompt.text() == "1 link opens a web page, not an image."
    (read,) = [b for b in prompt.buttons() if b.text() == "&Read pages"]
    read.click()
    second = wait_summary(qtbot, window, first)
    assert window.settings_panel.pages_check.isChecked()
    assert (second.summary.done, second.summary.failed) == (3, 0)  # the page, now read, and its two images
    counts = window.model.counts()
    assert (counts[Status.DONE], counts[Status.SKIPPED], counts[Status.FAILED]) == (
        4,
        0,
        0,
    )  # c.jpg, done before, stays done

    window.settings_panel.pages_check.setChecked(False)
    window.model.clear()
    queue(qtbot, window, [http_server.url("/html")])
    window.start()
    wait_summary(qtbot, window, second)
    assert window.pages_prompt is prompt  # asked once
