"""The window as a user meets it: layout, actions and shortcuts, Start's guard, the crash dialog, the entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from core.settings import Settings
from gui.about import app_icon, app_version
from gui.app import parse_args
from gui.crash import CrashHandler
from gui.main_window import APP_TITLE
from tests.support.window import make_window

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]

ROOT = Path(__file__).resolve().parents[2]


def image(path: Path) -> Path:
    Image.new("RGB", (80, 60), "teal").save(path)
    return path


def test_window_layout_at_1280_by_800(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    window.resize(1280, 800)  # the first size fits the screen (test_window_polish.py); here, as on a large one
    assert window.windowTitle() == APP_TITLE
    assert (window.width(), window.height()) == (1280, 800)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Queue", "Thumbnails", "Hosts"]
    dock = window.settings_dock
    assert dock.isVisible() and 300 <= dock.width() <= 520
    assert window.tabs.width() >= 700
    assert window.settings_panel.out_edit.text() == str(window.settings_panel.settings().out)
    assert not window.queue_view.empty_page.isHidden()  # the empty queue tells what to do


def test_menus_toolbar_and_shortcuts(window):
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["&File", "&Batch", "&View", "&Help"]
    file_items = [a.text() for a in menus["&File"].actions() if not a.isSeparator()]
    assert file_items[:5] == ["&Add list or images…", "Add &folder…", "Add &web page…", "&Paste URLs", "C&lear queue"]
    assert "&Export report…" in file_items
    batch_items = [a.text() for a in menus["&Batch"].actions()]
    assert batch_items == ["&Start", "&Pause", "&Cancel", "&Retry failed"]
    assert window.add_files_action.shortcut() == QKeySequence("Ctrl+O")
    assert window.paste_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Paste)
    assert window.start_action.shortcut() == QKeySequence("Ctrl+Return")
    assert window.cancel_action.shortcut() == QKeySequence("Ctrl+.")  # never Esc, which closes dialogs
    assert window.settings_dock.toggleViewAction() in menus["&View"].actions()
    idle = (window.start_action, window.pause_action, window.cancel_action, window.retry_action)
    assert [a.isEnabled() for a in idle] == [False, False, False, False]


def test_about_box_names_the_version(window):
    window.about_action.trigger()
    box = window.about_box
    assert box is not None and box.isVisible()
    assert f"Batch Thumbnailer {app_version()}" in box.text()
    assert not box.iconPixmap().isNull()
    box.close()


def test_application_icon_renders(qtbot):
    pixmap = app_icon().pixmap(64, 64)
    assert not pixmap.isNull() and pixmap.width() == 64
    corner, centre = pixmap.toImage().pixelColor(0, 0), pixmap.toImage().pixelColor(32, 32)
    assert corner.alpha() == 0 and centre.alpha() == 255  # drawn, on a transparent background


def test_start_needs_a_queue_and_valid_settings(window, qtbot, tmp_path):
    assert not window.start()
    assert "queue is empty" in window.status.currentMessage()
    window.add_sources([str(image(tmp_path / "a.jpg"))])
    assert not window.start()  # the sources are still being read
    assert "Still reading the sources" in window.status.currentMessage()
    qtbot.waitUntil(window.start_action.isEnabled)

    window.settings_panel.size_edit.setText("huge")
    assert not window.start_action.isEnabled()
    assert "'huge' is not one" in window.start_action.toolTip()
    assert not window.start()
    assert "Check the settings" in window.status.currentMessage()
    assert not window.batch.is_running

    window.settings_panel.size_edit.setText("64")
    assert window.start_action.isEnabled()


def test_local_images_need_no_server(window, qtbot, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        image(folder / name)
    window.settings_panel.set_settings(Settings(out=tmp_path / "out", size=(32,), processes=1).validated())
    window.add_sources([str(folder)])
    window.start_when_loaded()
    qtbot.waitUntil(lambda: window.summary_dialog is not None, timeout=30_000)
    assert window.summary_dialog.summary.done == 2
    assert window.thumbnail_view.count() == 2


def test_crash_hook_shows_a_report_and_writes_a_log(window, qtbot, tmp_path, caplog):
    handler = CrashHandler(log_dir=tmp_path / "logs").install()
    try:

        def broken_slot() -> None:
            raise RuntimeError("the widget fell over")

        QTimer.singleShot(0, broken_slot)
        qtbot.waitUntil(lambda: handler.dialog is not None and handler.dialog.isVisible())
    finally:
        handler.uninstall()
    report = handler.dialog.report_edit.toPlainText()
    assert "RuntimeError: the widget fell over" in report and "broken_slot" in report
    assert "Batch Thumbnailer" in report.splitlines()[0]
    (log,) = (tmp_path / "logs").glob("crash-*.log")
    assert "RuntimeError: the widget fell over" in log.read_text()
    assert str(log) in handler.dialog.message.text()
    assert "RuntimeError: the widget fell over" in caplog.text  # and into the app's log file (core/logs.py)
    handler.dialog.copy_report()
    assert "the widget fell over" in QApplication.clipboard().text()
    window.paste_action.trigger()  # the app keeps working
    handler.dialog.close()


def test_crash_in_a_worker_thread_reaches_the_gui_thread(qtbot, tmp_path):
    import threading

    handler = CrashHandler(log_dir=tmp_path / "logs").install()
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="worker")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: handler.dialog is not None)
    finally:
        handler.uninstall()
    assert "ZeroDivisionError" in handler.dialog.report_edit.toPlainText()
    assert "Thread: worker" in handler.dialog.report_edit.toPlainText()
    handler.dialog.close()


def test_command_line_arguments():
    args = parse_args(["a.txt", "http://127.0.0.1/x.jpg", "--out", "/tmp/o", "--start"])
    assert args.sources == ["a.txt", "http://127.0.0.1/x.jpg"]
    assert (args.out, args.start, args.smoke) == (Path("/tmp/o"), True, False)


# The entry point runs in a child process: once a QApplication has quit, PySide runs no more Python code on
# pool threads in that process, so calling main() here would break every later test.
DRIVER = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from gui.app import main
from gui.main_window import MainWindow

app = QApplication(sys.argv[:1])

def report_when_done():
    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow) and w.summary_dialog is not None:
            s = w.summary_dialog.summary
            print(f"out={w.settings_panel.settings().out} done={s.done} failed={s.failed} queued={w.model.rowCount()}")
            app.quit()

poll = QTimer()
poll.timeout.connect(report_when_done)
poll.start(20)
sys.exit(main(sys.argv[1:]))
"""


def run_app(tmp_path: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_sources_out_and_start_from_the_command_line(tmp_path):
    """`thumbnailer-gui SOURCES --out DIR --start` queues, starts, and the window shows the result."""
    pictures = tmp_path / "pics"
    pictures.mkdir()
    image(pictures / "one.jpg")
    image(pictures / "two.jpg")
    done = run_app(tmp_path, DRIVER, str(pictures), "--out", str(tmp_path / "thumbs"), "--start")
    assert done.returncode == 0, done.stderr
    assert f"out={tmp_path / 'thumbs'} done=2 failed=0 queued=2" in done.stdout
    assert len(list((tmp_path / "thumbs").glob("*.jpg"))) == 2
    (config,) = (tmp_path / "config").rglob("*.conf")
    assert str(tmp_path / "thumbs") in config.read_text()  # closing saved the settings


def test_smoke_flag_shows_the_window_and_exits_cleanly(tmp_path):
    done = run_app(tmp_path, "import sys; from gui.app import main; sys.exit(main())", "--smoke")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_smoke_with_start_runs_the_batch_and_quits_when_it_ends(tmp_path):
    """The packaging test's check of a whole window batch: its engine and resizer processes start and finish."""
    pictures = tmp_path / "pics"
    pictures.mkdir()
    image(pictures / "one.jpg")
    image(pictures / "two.png")
    code = "import sys; from gui.app import main; sys.exit(main())"
    done = run_app(tmp_path, code, str(pictures), "--out", str(tmp_path / "thumbs"), "--start", "--smoke")
    assert done.returncode == 0, done.stderr
    assert sorted(p.suffix for p in (tmp_path / "thumbs").iterdir() if p.is_file()) == [".jpg", ".jpg"]


def test_files_opened_with_the_app_on_macos_are_queued(window, qtbot, tmp_path):
    from PySide6.QtGui import QFileOpenEvent

    from gui.file_open import FileOpenForwarder

    picture = image(tmp_path / "opened.png")
    forwarder = FileOpenForwarder(window.add_sources, parent=window)
    QApplication.instance().installEventFilter(forwarder)
    try:
        QApplication.sendEvent(QApplication.instance(), QFileOpenEvent(str(picture)))
        qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    finally:
        QApplication.instance().removeEventFilter(forwarder)
    assert window.model.entries()[0].url == picture.as_uri()


def test_version_and_a_verbose_window_logging_with_its_engine(tmp_path):
    import core

    done = run_app(tmp_path, "import sys; from gui.app import main; sys.exit(main())", "--version")
    assert (done.returncode, done.stdout) == (0, f"thumbnailer-gui {core.__version__}\n")
    pictures = tmp_path / "pics"
    pictures.mkdir()
    image(pictures / "one.jpg")
    code = "import sys; from gui.app import main; sys.exit(main())"
    done = run_app(tmp_path, code, str(pictures), "--out", str(tmp_path / "thumbs"), "--start", "--smoke", "-v")
    assert done.returncode == 0, done.stderr
    log = tmp_path / "state" / "batch-thumbnailer" / "log" / "batch-thumbnailer.log"
    text = log.read_text(encoding="utf-8")
    assert "thumbnailer-gui started:" in text and "thumbnailer-gui-engine started:" in text


@pytest.mark.qt_log_ignore(r"This plugin does not support")  # offscreen: no raise, no keyboard grab for a menu
def test_hovering_a_menu_keeps_the_status_bar_message(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    window.status.showMessage("Batch finished in 0:07: 8 done.")
    menu = window.view_menu
    menu.popup(window.mapToGlobal(window.rect().center()))
    qtbot.waitExposed(menu)
    for action in menu.actions()[:2]:  # hovering an action sends its (empty) status tip to the window
        qtbot.mouseMove(menu, menu.actionGeometry(action).center())
        qtbot.waitUntil(lambda a=action: menu.activeAction() is a)
    menu.close()
    assert window.status.currentMessage() == "Batch finished in 0:07: 8 done."
