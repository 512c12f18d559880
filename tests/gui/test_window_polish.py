"""The window on small screens, from the keyboard, in the dark, and when the user is elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QRect, QSettings, Qt
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QStyle, QStyleOptionButton, QWidget

from core.models import Entry, ItemUpdate, Output, Status, Summary
from core.settings import Settings
from gui.about import DECODERS
from gui.main_window import MainWindow
from gui.notify import BatchNotifier, NoticeKind
from gui.settings_store import FolderKind, Scheme, SettingsStore
from gui.theme import is_dark
from tests.gui.conftest import UrlCatcher
from tests.support.window import BATCH_TIMEOUT

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]

ROOT = Path(__file__).resolve().parents[2]


def store_at(tmp_path: Path) -> SettingsStore:
    return SettingsStore(QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))


def new_window(qtbot, tmp_path: Path) -> MainWindow:
    """Another session: a new window on the same settings file."""
    window = MainWindow(store_at(tmp_path))
    qtbot.addWidget(window)
    return window


def global_rect(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


@pytest.fixture(autouse=True)
def system_scheme(qapp):
    """A test that forces a scheme must not leave the application dark for the next one."""
    yield
    app = qapp
    app.styleHints().setColorScheme(Qt.ColorScheme.Unknown)
    app.setPalette(QPalette())


# -- the first window fits the screen -----------------------------------------------------------------------


def test_the_first_window_fits_the_screen_with_its_status_bar(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    available = window.screen().availableGeometry()  # the offscreen screen: 800 x 800
    assert available.contains(window.frameGeometry())
    assert available.contains(global_rect(window.status)) and window.status.isVisible()
    assert window.settings_dock.isVisible() and window.tabs.width() >= 400


def test_growing_counts_never_widen_the_window(window, qtbot):
    """A count gaining a digit (10,000, 100,000 ... while a list loads or a batch runs) widens its filter button:
    that must fit the queue as it is, not widen the whole window (off an 800-px screen, and a 100 ms stall)."""
    window.show()
    qtbot.waitExposed(window)
    first = window.frameGeometry()
    view = window.queue_view
    entries = [Entry(source=f"http://127.0.0.1:9/{i}.jpg", url=f"http://127.0.0.1:9/{i}.jpg") for i in range(100_000)]
    window.model.add_entries(entries)
    window.model.apply_updates([ItemUpdate(e.key, e.source, Status.DONE, url=e.url) for e in entries])
    QApplication.processEvents()
    assert (
        view.filter_buttons["all"].text() == "All (100,000)" and view.filter_buttons["done"].text() == "Done (100,000)"
    )
    assert window.frameGeometry() == first and window.screen().availableGeometry().contains(first)
    for widget in (*view.filter_buttons.values(), view.search_edit, view.remove_finished_button):
        assert widget.isVisible() and widget.width() >= widget.sizeHint().width(), widget
        assert view.rect().contains(QRect(widget.mapTo(view, QPoint(0, 0)), widget.size())), widget


SCREEN_PROBE = """
import json, sys
from PySide6.QtCore import QPoint, QRect, QSettings
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore
w = MainWindow(SettingsStore(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
w.show()
app.processEvents()
rect = lambda r: [r.x(), r.y(), r.width(), r.height()]
status = QRect(w.status.mapToGlobal(QPoint(0, 0)), w.status.size())
print(json.dumps({"available": rect(w.screen().availableGeometry()), "frame": rect(w.frameGeometry()),
                  "status": rect(status), "status_visible": w.status.isVisible(), "queue_width": w.tabs.width()}))
"""


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (800, 600), (1920, 1080)])
def test_the_first_window_fits_screens_of_every_size(tmp_path, width, height):
    """The screen's size is set through the offscreen platform's configuration, in a process of its own."""
    config = tmp_path / "screen.json"
    screen = {"name": "probe", "x": 0, "y": 0, "width": width, "height": height, "logicalDpi": 96, "dpr": 1}
    config.write_text(json.dumps({"screens": [screen]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", SCREEN_PROBE, str(tmp_path / "app.ini")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    available, frame, status = (QRect(*seen[k]) for k in ("available", "frame", "status"))
    assert available == QRect(0, 0, width, height)
    assert available.contains(frame) and available.contains(status) and seen["status_visible"]
    assert frame.width() <= 1280 + 16 and frame.height() <= 800 + 48  # a big screen keeps the usual size
    assert seen["queue_width"] >= 400


def test_a_saved_window_larger_than_the_screen_is_brought_back_on_it(window, qtbot):
    window.setGeometry(-300, -200, 2400, 1600)  # as saved on a larger screen
    window.show()
    qtbot.waitExposed(window)
    available = window.screen().availableGeometry()
    assert available.contains(window.frameGeometry())
    assert available.contains(global_rect(window.status))


# -- 800 x 600, the settings panel and the keyboard ---------------------------------------------------------


def queued_window(qtbot, tmp_path: Path) -> MainWindow:
    window = new_window(qtbot, tmp_path)
    window.settings_panel.set_output_dir(tmp_path / "out")
    window.add_sources([f"https://example.org/photos/{i}.jpg" for i in range(5)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 5 and not window.loader.is_busy)
    window.resize(800, 600)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts go to the active window
    return window


def test_at_800_by_600_the_settings_fold_away_and_every_column_shows(qtbot, tmp_path):
    window = queued_window(qtbot, tmp_path)
    toggle = window.toolbar.widgetForAction(window.settings_toggle_action)
    assert toggle.isVisible()  # not behind the toolbar's overflow arrow: the buttons show icons alone
    assert window.toolbar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
    assert "F9" in window.settings_toggle_action.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert not window.settings_dock.isVisible()
    table = window.queue_view.table
    header = table.horizontalHeader()
    qtbot.waitUntil(lambda: table.viewport().width() > 700)
    for column in range(header.count()):
        left = header.sectionViewportPosition(column)
        assert left >= 0 and left + header.sectionSize(column) <= table.viewport().width(), column
    assert not table.horizontalScrollBar().isVisible()

    window.close()  # the folded panel is remembered for the next session
    again = new_window(qtbot, tmp_path)
    again.show()
    qtbot.waitExposed(again)
    assert not again.settings_dock.isVisible() and not again.settings_toggle_action.isChecked()
    again.settings_toggle_action.trigger()
    assert again.settings_dock.isVisible()
    again.resize(1280, 800)
    assert again.toolbar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonTextBesideIcon  # room for the names


def test_tab_moves_out_of_the_queue_table_to_the_other_panes(qtbot, tmp_path):
    window = queued_window(qtbot, tmp_path)
    table = window.queue_view.table
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    table.setCurrentIndex(table.model().index(0, 0))
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not table
    assert table.currentIndex().column() == 0  # Tab did not walk the cells

    panel = window.settings_panel
    for _ in range(40):  # the settings pane is reached by Tab alone...
        if panel.isAncestorOf(QApplication.focusWidget()):
            break
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert panel.isAncestorOf(QApplication.focusWidget())
    for _ in range(80):  # ...and so is the queue again
        if QApplication.focusWidget() is table:
            break
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is table


# -- inline validation -----------------------------------------------------------------------------------


def test_a_settings_message_does_not_move_the_form_and_speaks_in_words(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    panel = window.settings_panel
    fields = (panel.out_edit, panel.size_edit, panel.user_agent_edit)
    before = [f.mapTo(panel, QPoint(0, 0)) for f in fields]
    panel.size_edit.setText("9000")
    assert not panel.error_label.isHidden()
    assert [f.mapTo(panel, QPoint(0, 0)) for f in fields] == before
    message = panel.error_label.text()
    assert message.startswith("Sizes must be between") and "--" not in message
    assert "--size" in panel.size_edit.toolTip() and "Sizes must be between" in panel.size_edit.toolTip()
    message_top = panel.error_label.mapTo(panel, QPoint(0, 0)).y()
    assert message_top >= panel.form_scroll.mapTo(panel, QPoint(0, panel.form_scroll.height())).y()  # under the form

    panel.size_edit.setText("256")
    assert panel.error_label.isHidden()
    assert [f.mapTo(panel, QPoint(0, 0)) for f in fields] == before
    assert "--size" in panel.size_edit.toolTip()  # the flag stays named for people who script


# -- file dialogs remember their folders --------------------------------------------------------------------


class DialogAnswers:
    """Answers QFileDialog's static functions as a user would, and notes where each dialog opened."""

    def __init__(self, monkeypatch) -> None:
        self.opened_in: list[str] = []
        self.answer = ""
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", self.folder)
        monkeypatch.setattr(QFileDialog, "getOpenFileNames", self.files)
        monkeypatch.setattr(QFileDialog, "getSaveFileName", self.save)

    def folder(self, _parent, _title, start, *_args) -> str:
        self.opened_in.append(start)
        return self.answer

    def files(self, _parent, _title, start, *_args) -> tuple[list[str], str]:
        self.opened_in.append(start)
        return ([self.answer] if self.answer else []), ""

    def save(self, _parent, _title, start, *_args) -> tuple[str, str]:
        self.opened_in.append(start)
        return self.answer, ""


def test_file_dialogs_open_where_they_were_last_left_across_sessions(window, qtbot, tmp_path, monkeypatch):
    dialogs = DialogAnswers(monkeypatch)
    photos, lists, outputs, reports = (tmp_path / n for n in ("photos", "lists", "outputs", "reports"))
    for folder in (photos / "2024", lists, outputs / "small", reports):
        folder.mkdir(parents=True)
    (lists / "urls.txt").write_text("https://example.org/a.jpg\n")

    dialogs.answer = str(photos / "2024")
    window.choose_folder()
    dialogs.answer = str(lists / "urls.txt")
    window.choose_files()
    window.settings_panel.set_output_dir(tmp_path / "not-made-yet")
    dialogs.answer = str(outputs / "small")
    window.settings_panel.browse_button.click()
    assert window.settings_panel.out_edit.text() == str(outputs / "small")
    dialogs.answer = str(reports / "r.csv")
    from gui.summary_dialog import ask_report_file

    assert ask_report_file(window, tmp_path / "out", window.store) == reports / "r.csv"
    qtbot.waitUntil(lambda: not window.loader.is_busy)
    window.close()

    again = new_window(qtbot, tmp_path)
    again.settings_panel.set_output_dir(tmp_path / "not-made-yet")
    dialogs.opened_in.clear()
    dialogs.answer = ""
    again.choose_folder()
    again.choose_files()
    again.settings_panel.browse_button.click()
    ask_report_file(again, tmp_path / "out", again.store)
    # Add folder opens beside the folder added last, so its siblings are one click away.
    assert dialogs.opened_in == [str(photos), str(lists), str(outputs / "small"), str(reports / "report.json")]
    assert again.store.last_folder(FolderKind.REPORT) == reports


# -- the grid's context menu -----------------------------------------------------------------------------


def made_thumbnails(view, tmp_path: Path, urls: list[str | None]) -> list[Path]:
    out = tmp_path / "grid"
    out.mkdir()
    view.set_output_dir(out)
    paths, updates = [], []
    for i, url in enumerate(urls):
        name = f"thumb{i}.jpg"
        Image.new("RGB", (40, 30), "orange").save(out / name)
        paths.append(out / name)
        updates.append(
            ItemUpdate(f"k{i}", url or f"/pics/{i}.jpg", Status.DONE, url=url, outputs=[Output(name, 40, 30, 1)])
        )
    view.add_items(updates)
    return paths


def menu_actions(menu) -> dict[str, QAction]:
    return {a.text().replace("&", ""): a for a in menu.actions() if not a.isSeparator()}


@pytest.fixture
def catch_web_urls():
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("https", catcher, "open")
    yield catcher
    QDesktopServices.unsetUrlHandler("https")


def test_a_thumbnail_menu_opens_shows_copies_and_goes_to_its_url(
    window, qtbot, tmp_path, catch_file_urls, catch_web_urls
):
    view = window.thumbnail_view
    paths = made_thumbnails(view, tmp_path, ["https://example.org/p/0.jpg", None, "https://example.org/p/2.jpg"])
    first = view.model.index(0)
    actions = menu_actions(view.context_menu(first))
    assert list(actions) == ["Open", "Show in folder", "Copy path", "Open URL in the browser"]
    actions["Open"].trigger()
    actions["Show in folder"].trigger()
    assert [u.toLocalFile() for u in catch_file_urls.urls] == [str(paths[0]), str(paths[0].parent)]
    actions["Open URL in the browser"].trigger()
    assert [u.toString() for u in catch_web_urls.urls] == ["https://example.org/p/0.jpg"]
    actions["Copy path"].trigger()
    assert QGuiApplication.clipboard().text() == str(paths[0])

    assert not menu_actions(view.context_menu(view.model.index(1)))["Open URL in the browser"].isEnabled()
    selection = view.grid.selectionModel()
    for row in (0, 2):
        selection.select(view.model.index(row), selection.SelectionFlag.Select)
    copy = menu_actions(view.context_menu(view.model.index(2)))["Copy 2 paths"]
    copy.trigger()
    assert QGuiApplication.clipboard().text() == f"{paths[0]}\n{paths[2]}"


# -- a notification when a batch ends unseen ------------------------------------------------------------


def other_window_active(qtbot) -> QWidget:
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(other.isActiveWindow)
    return other


SUMMARY = Summary(total=3, done=2, failed=1, skipped=0, invalid=0, seconds=4.0)


def test_no_notification_while_the_window_is_in_front(window, qtbot):
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    with qtbot.assertNotEmitted(window.notifier.delivered):
        assert window.notifier.batch_ended(SUMMARY) is None


def test_without_a_system_tray_the_window_asks_for_attention(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    other_window_active(qtbot)
    notice = window.notifier.batch_ended(SUMMARY)
    assert notice is not None and notice.kind is NoticeKind.ALERT
    assert notice.title == "Batch finished" and "2 done, 1 failed" in notice.text


# The offscreen platform has no tray: showing an icon there anyway makes Qt say so, once.
@pytest.mark.qt_log_ignore(r"systemTrayWindowChanged")
def test_with_a_system_tray_a_message_says_the_batch_ended_and_goes_when_the_user_is_back(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    notifier = BatchNotifier(window, tray_available=lambda: True)
    other_window_active(qtbot)
    cancelled = Summary(total=9, done=4, failed=0, skipped=0, invalid=0, seconds=2.0, cancelled=True)
    notice = notifier.batch_ended(cancelled)
    assert notice is not None and notice.kind is NoticeKind.TRAY and notice.title == "Batch cancelled"
    assert notifier.tray is not None and notifier.tray.isVisible()
    window.activateWindow()
    qtbot.waitUntil(lambda: not notifier.tray.isVisible())


def test_a_real_batch_ending_in_the_background_notifies(qtbot, tmp_path):
    window = new_window(qtbot, tmp_path)
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (80, 60), "teal").save(tmp_path / "pics" / "a.jpg")
    window.settings_panel.set_settings(Settings(out=tmp_path / "out", size=(32,), processes=1).validated())
    window.show()
    qtbot.waitExposed(window)
    window.add_sources([str(tmp_path / "pics")])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1 and not window.loader.is_busy)
    other_window_active(qtbot)
    with qtbot.waitSignal(window.notifier.delivered, timeout=BATCH_TIMEOUT) as delivered:
        window.start()
    assert delivered.args[0].kind is NoticeKind.ALERT and "1 done" in delivered.args[0].text


# -- light and dark ---------------------------------------------------------------------------------------


def test_the_colour_scheme_is_chosen_in_the_view_menu_and_remembered(window, qtbot, tmp_path):
    window.show()
    qtbot.waitExposed(window)
    assert window.scheme_actions[Scheme.SYSTEM].isChecked()
    view_menu = {a.text(): a.menu() for a in window.menuBar().actions()}["&View"]
    scheme_menu = next(a.menu() for a in view_menu.actions() if a.menu() is not None)
    assert [a.text() for a in scheme_menu.actions()] == ["&System", "&Light", "&Dark"]

    window.scheme_actions[Scheme.DARK].trigger()
    assert is_dark(QGuiApplication.palette())
    qtbot.waitUntil(lambda: is_dark(window.queue_view.table.palette()))
    window.scheme_actions[Scheme.LIGHT].trigger()
    assert not is_dark(QGuiApplication.palette())
    qtbot.waitUntil(lambda: not is_dark(window.queue_view.table.palette()))
    window.scheme_actions[Scheme.DARK].trigger()
    window.close()

    again = new_window(qtbot, tmp_path)
    assert again.scheme_actions[Scheme.DARK].isChecked() and is_dark(QGuiApplication.palette())
    again.scheme_actions[Scheme.SYSTEM].trigger()
    assert not is_dark(QGuiApplication.palette())  # the offscreen platform's scheme is light


def test_messages_in_red_stay_readable_in_the_dark(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    window.settings_panel.size_edit.setText("oops")
    window.set_scheme(Scheme.DARK)
    label = window.settings_panel.error_label

    def contrast(widget: QWidget) -> int:
        background = window.settings_panel.palette().window().color()
        return widget.palette().windowText().color().lightness() - background.lightness()

    qtbot.waitUntil(lambda: contrast(label) > 100 and contrast(window.status.failed_label) > 100)
    window.set_scheme(Scheme.LIGHT)
    qtbot.waitUntil(lambda: contrast(label) < -100)  # and dark red on light grey again


def test_an_unchecked_box_is_visible_in_the_dark(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    window.set_scheme(Scheme.DARK)
    box = window.settings_panel.upscale_check
    assert not box.isChecked()
    option = QStyleOptionButton()
    box.initStyleOption(option)
    indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    image = box.grab().toImage()
    inside = image.pixelColor(indicator.center()).lightness()
    panel = window.settings_panel.palette().window().color().lightness()
    assert inside - panel > 20  # the box stands out from the panel (it was black on near-black)


# -- Help --------------------------------------------------------------------------------------------------


def test_the_shortcuts_list_is_read_from_the_actions(window, qtbot):
    extra = QAction("Zoom &in", window)
    extra.setShortcut(QKeySequence("Ctrl+="))
    window.addAction(extra)
    window.shortcuts_action.trigger()
    rows = window.shortcuts_dialog.rows()
    native = QKeySequence.SequenceFormat.NativeText
    expected = {
        a.text().replace("&", "").rstrip("…") for a in window.findChildren(QAction) if not a.shortcut().isEmpty()
    }
    assert {what for _where, what, _keys in rows} == expected
    keys = {what: k for _where, what, k in rows}
    assert keys["Start"] == window.start_action.shortcut().toString(native)
    assert keys["Settings panel"] == "F9" and keys["Zoom in"] == QKeySequence("Ctrl+=").toString(native)
    assert ("Queue", "Copy URL") in {(where, what) for where, what, _ in rows}  # a pane's own shortcut
    assert ("Batch", "Start") in {(where, what) for where, what, _ in rows}
    window.shortcuts_dialog.close()


def test_about_lists_the_versions_and_copies_them(window, qtbot):
    import PIL
    import PySide6

    window.about_action.trigger()
    box = window.about_box
    shown = box.versions_label.text()
    for name in ("Python", "Qt", f"PySide6: {PySide6.__version__}", f"Pillow: {PIL.__version__}", *DECODERS):
        assert name in shown
    box.copy_button.click()
    assert QGuiApplication.clipboard().text().strip() == shown.strip()
    assert box.isVisible()  # copying does not close the box
    box.close()


# -- "Report written" links to the file --------------------------------------------------------------------


def test_report_written_links_to_the_report(qtbot, tmp_path, monkeypatch, catch_file_urls):
    window = new_window(qtbot, tmp_path)
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (80, 60), "teal").save(tmp_path / "pics" / "a.jpg")
    window.settings_panel.set_settings(Settings(out=tmp_path / "out", size=(32,), processes=1).validated())
    window.add_sources([str(tmp_path / "pics")])
    window.start_when_loaded()
    qtbot.waitUntil(lambda: window.summary_dialog is not None, timeout=BATCH_TIMEOUT)
    window.summary_dialog.close()
    dialogs = DialogAnswers(monkeypatch)
    dialogs.answer = str(tmp_path / "report.json")
    window.export_action.trigger()
    link = window.status.link_label
    qtbot.waitUntil(lambda: not link.isHidden())
    assert link.text().startswith("Report written: 1 items in <a href=")
    href = link.text().split("href='")[1].split("'")[0]
    link.linkActivated.emit(href)
    assert [u.toLocalFile() for u in catch_file_urls.urls] == [str(tmp_path / "report.json")]
    window.status.showMessage("Added 3 items")  # a newer message: the link goes
    assert link.isHidden()
