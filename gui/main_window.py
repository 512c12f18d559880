"""The main window: composes the queue, the thumbnail grid, the settings panel and the batch controller.

It holds no batch logic of its own: sources go through `drops.SourceLoader`, batches through
`BatchController`, settings through `SettingsPanel` and `SettingsStore`. What is left here is layout,
actions and the few decisions that need the whole window (drops, closing, resuming).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
    QShowEvent,
    QStatusTipEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QStyle,
    QTabWidget,
    QToolBar,
    QWidget,
)

from core.batch.control import BatchMode
from core.batch.journal import unfinished_batch
from core.batch.remake import remake_plan
from core.models import Entry, Status, Summary
from core.settings import Settings, SettingsError
from gui.about import AboutDialog, app_icon, show_about
from gui.batch_controller import BatchController
from gui.drops import Dropped, SourceLoader, can_accept, read_mime
from gui.help_dialog import ShortcutsDialog
from gui.hosts_view import HostsView
from gui.icons import Glyph, toolbar_icon
from gui.notify import BatchNotifier
from gui.question import Question, ask
from gui.queue_model import QueueModel
from gui.queue_view import QueueView
from gui.remake_prompt import ask_remake
from gui.report_export import ReportExport
from gui.screen_fit import first_geometry, on_screen, settings_width
from gui.settings_panel import SettingsPanel
from gui.settings_store import FolderKind, Scheme, SettingsStore
from gui.status_bar import StatusBar
from gui.summary_dialog import SummaryDialog, ask_report_file
from gui.theme import ThemeManager
from gui.thumbnail_view import ThumbnailView

APP_TITLE = "Batch Thumbnailer"
OPEN_FILTER = (
    "URL lists and images (*.txt *.csv *.tsv *.html *.htm *.jpg *.jpeg *.png *.gif *.webp *.bmp *.tif *.tiff"
    " *.avif *.heic *.heif *.jxl *.svg *.svgz *.pdf);;All files (*)"
)


def confirm_close(parent: QWidget) -> bool:
    """Ask before quitting during a batch (tests replace this function to answer)."""
    answer = QMessageBox.question(
        parent,
        "Stop the batch?",
        "A batch is still running. Quit and stop it?\n\nNothing is lost: the output folder remembers "
        "what is left, and the next start offers to resume.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


CANCEL_SHORTCUT = "Ctrl+."  # not Esc: Esc closes dialogs and the preview, and must never stop a batch


class MainWindow(QMainWindow):
    """The app window. `summary_dialog`, `resume_prompt` and `cancel_prompt` hold the last dialogs shown (for tests,
    too)."""

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.store = store
        self.summary_dialog: SummaryDialog | None = None
        self.resume_prompt: QMessageBox | None = None
        self.remake_prompt: QMessageBox | None = None  # the last "Remake thumbnails?" question
        self.cancel_prompt: QMessageBox | None = None
        self._actions_state: tuple[object, ...] | None = None  # what _update_actions last showed
        self.about_box: AboutDialog | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self._placed_on_screen = False
        self._toolbar_text_width: int | None = None
        self._start_when_loaded = False
        self._asked_pages = False  # whether links that answered with a web page were offered --pages already
        self.pages_prompt: QMessageBox | None = None
        self._closing = False

        self.model = QueueModel(self)
        self.queue_view = QueueView(self.model)
        self.thumbnail_view = ThumbnailView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.queue_view, "Queue")
        self.tabs.addTab(self.thumbnail_view, "Thumbnails")
        self.setCentralWidget(self.tabs)

        self.settings_panel = SettingsPanel()
        self.settings_panel.set_settings(store.load())
        self.settings_dock = QDockWidget("Settings", self)
        self.settings_dock.setObjectName("settings_dock")
        self.settings_dock.setWidget(self.settings_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.settings_dock)

        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.loader = SourceLoader(self)
        self.batch = BatchController(self.model, self.thumbnail_view, self.status, self)
        self.hosts_view = HostsView(self.batch.hosts)
        self.hosts_view.pause_requested.connect(self.batch.pause_hosts)
        self.hosts_view.resume_requested.connect(self.batch.resume_hosts)
        self.tabs.addTab(self.hosts_view, "Hosts")

        self._make_actions()
        self._make_window_polish()
        self._connect()
        self._restore_layout()
        self._update_actions()

    # -- building -----------------------------------------------------------------------------------------

    def _action(
        self,
        text: str,
        slot: Callable[[], object],
        shortcut: str | QKeySequence.StandardKey | None = None,
        icon: QStyle.StandardPixmap | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{text.replace('&', '').rstrip('.…')} ({action.shortcut().toString()})")
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work with the toolbar or menu bar hidden
        return action

    def _make_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.add_files_action = self._action(
            "&Add list or images…", self.choose_files, "Ctrl+O", sp.SP_DialogOpenButton
        )
        self.add_folder_action = self._action("Add &folder…", self.choose_folder, "Ctrl+Shift+O", sp.SP_DirOpenIcon)
        self.add_page_action = self._action("Add &web page…", self.choose_page)
        self.paste_action = self._action("&Paste URLs", self.paste, QKeySequence.StandardKey.Paste)
        self.clear_action = self._action("C&lear queue", self.clear_queue, None, sp.SP_DialogResetButton)
        self.export_action = self._action("&Export report…", self.export_report, "Ctrl+E")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.start_action = self._action("&Start", self.start, "Ctrl+Return", sp.SP_MediaPlay)
        self.pause_action = self._action("&Pause", self.batch.toggle_pause, "Ctrl+P", sp.SP_MediaPause)
        self.cancel_action = self._action("&Cancel", self.ask_cancel, CANCEL_SHORTCUT, sp.SP_MediaStop)
        self.retry_action = self._action("&Retry failed", self.retry_failed, "Ctrl+R", sp.SP_BrowserReload)
        self.queue_tab_action = self._action("&Queue", lambda: self.tabs.setCurrentIndex(0), "Ctrl+1")
        self.thumbs_tab_action = self._action("&Thumbnails", lambda: self.tabs.setCurrentIndex(1), "Ctrl+2")
        self.about_action = self._action("&About Batch Thumbnailer", self.show_about)

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for action in (
            self.add_files_action,
            self.add_folder_action,
            self.add_page_action,
            self.paste_action,
            self.clear_action,
        ):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        batch_menu = menus.addMenu("&Batch")
        for action in (self.start_action, self.pause_action, self.cancel_action, self.retry_action):
            batch_menu.addAction(action)
        self.view_menu = view_menu = menus.addMenu("&View")
        view_menu.addAction(self.queue_tab_action)
        view_menu.addAction(self.thumbs_tab_action)
        view_menu.addSeparator()
        view_menu.addAction(self.settings_dock.toggleViewAction())
        self.help_menu = menus.addMenu("&Help")
        self.help_menu.addAction(self.about_action)

        self.toolbar = toolbar = QToolBar("Toolbar", self)
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.add_files_action, self.add_folder_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        for action in (self.start_action, self.pause_action, self.cancel_action, self.retry_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.clear_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)

    def _connect(self) -> None:
        self.loader.entries_ready.connect(self._add_entries)
        self.loader.busy_changed.connect(self._on_loading)
        self.model.counts_changed.connect(self._update_actions)
        self.settings_panel.validity_changed.connect(self._update_actions)
        self.queue_view.open_requested.connect(self.choose_files)
        self.queue_view.retry_requested.connect(self.retry_items)
        self.batch.state_changed.connect(self._update_actions)
        self.batch.percent_changed.connect(self._show_percent)
        self.batch.percent_changed.connect(self._refresh_cancel_question)
        self.batch.finished.connect(self._on_finished)

    def _restore_layout(self) -> None:
        geometry, state = self.store.load_window()
        if geometry is None or not self.restoreGeometry(geometry):
            self._place_first_window()
        if state is not None:
            self.restoreState(state)

    # -- sources ------------------------------------------------------------------------------------------

    def add_sources(self, sources: list[str]) -> None:
        """Queue command-line style sources (URLs, lists, images, folders), read off the GUI thread."""
        self.loader.load_sources(sources)

    def add_mime(self, mime: QMimeData) -> bool:
        """Queue what a drop or the clipboard holds; False when it holds nothing usable."""
        dropped: Dropped = read_mime(mime)
        if not dropped:
            return False
        self.loader.load_dropped(dropped)
        self.tabs.setCurrentWidget(self.queue_view)
        return True

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not self.add_mime(mime):
            self.status.showMessage("The clipboard holds no URLs, images or paths to add.", 5000)

    def choose_files(self) -> None:
        start = self.store.last_folder(FolderKind.ADD_FILES) or Path.home()
        names, _ = QFileDialog.getOpenFileNames(self, "Add URL lists or images", str(start), OPEN_FILTER)
        if names:
            self.store.set_last_folder(FolderKind.ADD_FILES, Path(names[0]).parent)
        self.add_sources(names)

    def choose_folder(self) -> None:
        start = self.store.last_folder(FolderKind.ADD_FOLDER) or Path.home()
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of images", str(start))
        if folder:
            self.store.set_last_folder(FolderKind.ADD_FOLDER, Path(folder).parent)
            self.add_sources([folder])

    def choose_page(self) -> None:
        """File > Add web page: a page's address, whose images the batch queues (it turns --pages on)."""
        url, ok = QInputDialog.getText(
            self, "Add a web page", "Address of a web page whose images to make thumbnails of:"
        )
        if ok and url.strip():
            self.settings_panel.pages_check.setChecked(True)
            self.add_sources([url.strip()])

    def clear_queue(self) -> None:
        if self.batch.is_running:
            return
        self.loader.cancel()
        self.model.clear()
        self.thumbnail_view.clear()
        self.status.reset()
        self.status.clearMessage()

    def _add_entries(self, entries: list) -> None:
        added = self.model.add_entries(entries)
        invalid = sum(1 for e in entries if e.url is None)
        note = f", {invalid:,} unusable" if invalid else ""
        self.status.showMessage(f"Added {added:,} items{note} ({self.model.rowCount():,} in the queue).", 5000)

    def _on_loading(self, busy: bool) -> None:
        if busy:
            self.status.showMessage("Reading the sources…")
        self._update_actions()
        if not busy and self._start_when_loaded:
            self._start_when_loaded = False
            self.start()

    # -- batches ------------------------------------------------------------------------------------------

    def start(self, mode: str = "normal") -> bool:
        """Start a batch of the queue with the form's settings; False (with a message) when it cannot, or when it
        first asks whether to make done items again under changed settings (`remake_prompt`)."""
        if self.batch.is_running:
            return False
        if self.loader.is_busy:
            self.status.showMessage("Still reading the sources: Start is possible once they are queued.", 5000)
            return False
        settings = self._valid_settings()
        if settings is None:
            return False
        if self.model.rowCount() == 0:
            self.status.showMessage("The queue is empty: drop URL lists, images or folders on the window.", 5000)
            return False
        return self._ask_or_start(settings, self.model.entries(), mode)

    def _ask_or_start(self, settings: Settings, entries: list[Entry] | None, mode: str = "normal") -> bool:
        """Start the batch, unless it would make done items again: then ask first (False). `entries` None resumes."""
        keys = None if entries is None else (e.key for e in entries)
        plan = remake_plan(settings.out, settings, BatchMode(mode), keys)
        if plan.total:
            go = partial(self._start_batch, settings, entries, mode)
            self.remake_prompt = ask_remake(self, plan, settings.out, go)
            return False
        self._start_batch(settings, entries, mode)
        return True

    def _start_batch(self, settings: Settings, entries: list[Entry] | None, mode: str) -> None:
        if self.batch.is_running:  # started meanwhile (the question does not block)
            return
        if entries is not None:  # a new batch keeps the form's settings; a resume, as before, does not
            self.store.save(settings)
        self.queue_view.set_output_dir(settings.out)
        self.batch.start(settings, entries, mode=mode)

    def start_when_loaded(self) -> None:
        """Start as soon as the sources being read are queued (`thumbnailer-gui SOURCES --start`)."""
        if self.loader.is_busy:
            self._start_when_loaded = True
        else:
            self.start()

    def ask_cancel(self) -> QMessageBox | None:
        """Cancel (button, menu, shortcut) asks first, once, without blocking: a batch is long work to lose by a
        slip. While the question is open, asking again returns the same one."""
        if not self.batch.is_running or self.batch.is_cancelling:
            return None
        if self.cancel_prompt is not None and self.cancel_prompt.isVisible():
            return self.cancel_prompt  # window-modal: the window cannot ask again behind it; a call can
        question = Question(
            "Cancel the batch?", self._cancel_question(), "&Cancel the batch", "&Keep running", default_no=True
        )
        self.cancel_prompt = ask(self, question, self.batch.cancel)
        return self.cancel_prompt

    def retry_failed(self) -> bool:
        return self.start(mode="retry_failed")

    def _cancel_question(self) -> str:
        left = self.batch.not_made()
        images = f"{left:,} image is" if left == 1 else f"{left:,} images are"
        return f"Cancel the batch? {images} not made yet. They can be finished later."

    def _refresh_cancel_question(self) -> None:
        """The batch goes on while it asks: the count in the open question follows it."""
        if self.cancel_prompt is not None and self.cancel_prompt.isVisible() and self.batch.is_running:
            self.cancel_prompt.setText(self._cancel_question())

    def retry_items(self, keys: list[str]) -> bool:
        """Make just these rows of the last batch again (the queue's "Retry this"), even if they were done; the
        other rows keep what they show, and the batch stays resumable if it was. False when it cannot start."""
        if self.batch.is_running or self.loader.is_busy or not keys:
            return False
        settings = self._valid_settings()
        if settings is None:
            return False
        self.store.save(settings)
        self.queue_view.set_output_dir(settings.out)
        self.batch.start(settings, None, only=keys)
        return True

    def offer_resume(self) -> QMessageBox | None:
        """If the output folder holds an interrupted batch, ask (without blocking) whether to resume it."""
        settings = self._valid_settings(quiet=True)
        left = unfinished_batch(settings.out) if settings is not None else 0
        if settings is None or left == 0:
            return None
        question = Question(
            title="Resume the unfinished batch?",
            text=f"The output folder {settings.out} has an unfinished batch: {left:,} images are not made yet.",
            details="Resume it now?",
            yes="&Resume",
            no="&Not now",
        )
        self.resume_prompt = ask(self, question, self.resume_unfinished)
        return self.resume_prompt

    def resume_unfinished(self) -> bool:
        settings = self._valid_settings()
        if settings is None or self.batch.is_running:
            return False
        return self._ask_or_start(settings, None)

    def show_about(self) -> None:
        self.about_box = show_about(self)

    def export_report(self) -> None:
        """File > Export report: written in the background, the status bar says when it is done."""
        summary, settings = self.batch.last_summary, self.batch.settings
        if summary is None or settings is None or not summary.run_id:
            return
        dest = ask_report_file(self, settings.out, self.store)
        if dest is None:
            return
        export = ReportExport(settings.out, summary.run_id, dest, self)
        export.done.connect(self._report_written)
        self.status.showMessage(f"Writing the report to {dest}…")
        export.start()

    def _report_written(self, count: int, error: str) -> None:
        export = self.sender()
        if error:
            self.status.clearMessage()
            QMessageBox.warning(self, "Cannot write the report", error)
        elif isinstance(export, ReportExport):
            self.status.show_file_link(f"Report written: {count:,} items in", export.dest)
        if isinstance(export, ReportExport):
            export.deleteLater()

    def _valid_settings(self, quiet: bool = False) -> Settings | None:
        try:
            return self.settings_panel.settings()
        except SettingsError as exc:
            if not quiet:
                self.status.showMessage(f"Check the settings: {exc}", 8000)
            return None

    def _on_finished(self, summary: Summary) -> None:
        if self.cancel_prompt is not None and self.cancel_prompt.isVisible():
            self.cancel_prompt.done(0)  # the batch ended while the user was asked: no question is left open
        if self._closing or self.batch.settings is None:
            return
        if self.summary_dialog is not None:
            self.summary_dialog.deleteLater()
        dialog = SummaryDialog(summary, self.model.failed_sources(), self.batch.settings.out, self)
        dialog.retry_requested.connect(self.retry_failed)
        dialog.folders = self.store
        dialog.finish_requested.connect(self.start)
        self.summary_dialog = dialog
        dialog.show()
        if not self.batch.settings.pages and not self._asked_pages:
            self.offer_pages()

    def offer_pages(self) -> QMessageBox | None:
        """Links dropped or pasted on their own that answered with a web page: ask once (without blocking) whether
        to read such pages for their images (--pages) and retry them."""
        pages = self.model.failed_pages()
        if not pages:
            return None
        self._asked_pages = True
        links = "link opens a web page" if pages == 1 else "links open web pages"
        question = Question(
            title="Read web pages?",
            text=f"{pages:,} {links}, not an image.",
            details="Read such pages for their images (one level deep) and queue them?",
            yes="&Read pages",
            no="&No",
        )
        self.pages_prompt = ask(self, question, self._read_pages)
        return self.pages_prompt

    def _read_pages(self) -> None:
        self.settings_panel.pages_check.setChecked(True)
        self.retry_failed()

    def _show_percent(self, value: int) -> None:
        paused = "Paused, " if self.batch.is_paused else ""
        self.setWindowTitle(APP_TITLE if value < 0 else f"{paused}{value}% – {APP_TITLE}")

    def _update_actions(self) -> None:
        """Enable what applies now. Runs on every progress batch (through `counts_changed`), so it returns early
        when nothing it shows has changed: each Qt call from Python gives up the GIL and may then wait behind the
        download threads to get it back, which made this a source of GUI stalls during a batch."""
        running = self.batch.is_running
        loading = self.loader.is_busy
        queued = self.model.rowCount() > 0
        valid = self.settings_panel.is_valid()
        failed = self.model.counts().get(Status.FAILED, 0) > 0
        summary = self.batch.last_summary
        exportable = not running and summary is not None and summary.run_id > 0
        error = "" if valid else next(iter(self.settings_panel.errors().values()))
        cancellable = running and not self.batch.is_cancelling
        state = (running, loading, queued, valid, self.batch.is_paused, failed, exportable, error, cancellable)
        if state == self._actions_state:
            return
        self._actions_state = state
        self.start_action.setEnabled(not running and not loading and queued and valid)
        self.pause_action.setEnabled(running)
        self.pause_action.setText("Res&ume" if self.batch.is_paused else "&Pause")
        self.cancel_action.setEnabled(cancellable)
        self.retry_action.setEnabled(not running and not loading and failed and valid)
        self.clear_action.setEnabled(not running and (queued or loading))
        self.export_action.setEnabled(exportable)
        self.settings_panel.set_locked(running)
        self.queue_view.set_busy(running or loading)
        if error:
            self.start_action.setToolTip(f"Fix the settings first: {error}")
        else:
            self.start_action.setToolTip("Start the batch (Ctrl+Return)")

    # -- window polish: screen fit, panes, colour scheme, help, notifications --------------------------------

    def _make_window_polish(self) -> None:
        """What makes the window fit small screens, keyboards and the desktop (kept apart from the batch logic)."""
        self._set_up_panes()
        self._set_up_colour_scheme()
        self.shortcuts_action = self._action(
            "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents
        )
        self.help_menu.insertAction(self.about_action, self.shortcuts_action)
        self.help_menu.insertSeparator(self.about_action)
        self.notifier = BatchNotifier(self)
        self.batch.finished.connect(self._notify_batch_end)

    def _set_up_panes(self) -> None:
        """Named panes (the shortcuts list says where a shortcut works), Tab between them, a foldable settings
        panel, toolbar icons that read on light and dark toolbars, and file dialogs that remember."""
        self.queue_view.setAccessibleName("Queue")
        self.thumbnail_view.setAccessibleName("Thumbnails")
        self.queue_view.table.setTabKeyNavigation(False)  # Tab leaves the table for the next pane
        self.settings_panel.folders = self.store

        self.settings_toggle_action = toggle = self.settings_dock.toggleViewAction()
        toggle.setText("&Settings panel")
        toggle.setShortcut(QKeySequence("F9"))
        toggle.setToolTip("Show or hide the settings, to give the queue the whole width (F9)")
        toggle.setIcon(toolbar_icon(Glyph.PANEL))
        for action, glyph in ((self.start_action, Glyph.START), (self.pause_action, Glyph.PAUSE)):
            action.setIcon(toolbar_icon(glyph))
        self.cancel_action.setIcon(toolbar_icon(Glyph.STOP))
        self.addAction(toggle)
        self.toolbar.addSeparator()
        self.toolbar.addAction(toggle)

    def _set_up_colour_scheme(self) -> None:
        self.theme = ThemeManager(QApplication.instance(), self)  # type: ignore[arg-type]
        self.scheme_actions: dict[Scheme, QAction] = {}
        schemes = QActionGroup(self)
        scheme_menu = self.view_menu.addMenu("Colour sc&heme")
        for scheme, text in ((Scheme.SYSTEM, "&System"), (Scheme.LIGHT, "&Light"), (Scheme.DARK, "&Dark")):
            action = scheme_menu.addAction(text)
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, s=scheme: self.set_scheme(s))
            schemes.addAction(action)
            self.scheme_actions[scheme] = action
        self.set_scheme(self.store.scheme(), remember=False)

    def set_scheme(self, scheme: Scheme, remember: bool = True) -> None:
        """View > Colour scheme: System follows the desktop; Light and Dark are kept until changed."""
        self.theme.apply(scheme)
        self.scheme_actions[scheme].setChecked(True)
        if remember:
            self.store.set_scheme(scheme)

    def show_shortcuts(self) -> None:
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.deleteLater()
        self.shortcuts_dialog = ShortcutsDialog(self)
        self.shortcuts_dialog.open()

    def _notify_batch_end(self, summary: Summary) -> None:
        if not self._closing:
            self.notifier.batch_ended(summary)

    def _place_first_window(self) -> None:
        """A first start: the preferred size, or what the screen has room for (frame included), centred."""
        geometry = first_geometry((self.screen() or QGuiApplication.primaryScreen()).availableGeometry())
        self.setGeometry(geometry)
        dock_width = settings_width(geometry.width(), self.settings_dock.minimumSizeHint().width())
        self.resizeDocks([self.settings_dock], [dock_width], Qt.Orientation.Horizontal)

    def event(self, event: QEvent) -> bool:
        """A menu hovered sends empty status tips (no action has one), which would wipe the status bar's message
        ("Batch finished in 0:07: …") for good: they are dropped."""
        if isinstance(event, QStatusTipEvent) and not event.tip():
            return True
        return super().event(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._placed_on_screen:
            self._placed_on_screen = True
            self.keep_on_screen()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_toolbar()

    def _fit_toolbar(self) -> None:
        """Names beside the icons when they all fit; on a narrow window icons alone (names in their tooltips), so
        no button, the settings toggle least of all, hides behind the toolbar's overflow arrow."""
        if self._toolbar_text_width is None:  # measured once, while the names are shown
            self._toolbar_text_width = self.toolbar.sizeHint().width()
        fits = self.width() >= self._toolbar_text_width
        style = Qt.ToolButtonStyle.ToolButtonTextBesideIcon if fits else Qt.ToolButtonStyle.ToolButtonIconOnly
        if self.toolbar.toolButtonStyle() != style:
            self.toolbar.setToolButtonStyle(style)

    def keep_on_screen(self) -> None:
        """Shrink and move the window so all of it, the status bar included, is on its screen's free area (a
        layout saved on a larger screen, or a frame larger than allowed for)."""
        if self.isMaximized() or self.isFullScreen():
            return
        available = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        frame, inner = self.frameGeometry(), self.geometry()
        size, place = on_screen(frame, inner, available)
        if size != inner.size():
            self.resize(size)
        if place != frame.topLeft():
            self.move(place)

    # -- window events ------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.source() is None and can_accept(event.mimeData()):
            event.acceptProposedAction()
            self.tabs.setCurrentWidget(self.queue_view)
            self.queue_view.set_drop_highlight(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.source() is None and can_accept(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self.queue_view.set_drop_highlight(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.queue_view.set_drop_highlight(False)
        if event.source() is None and self.add_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.batch.is_running:
            if not confirm_close(self):
                event.ignore()
                return
            self._closing = True
            self.status.showMessage("Stopping the batch…")
            self.batch.cancel()
            self.batch.wait()
        self._closing = True
        self.loader.cancel()
        self.loader.wait()
        self.thumbnail_view.shutdown()
        settings = self._valid_settings(quiet=True)
        if settings is not None:
            self.store.save(settings)
        self.store.save_window(self.saveGeometry(), self.saveState())
        event.accept()
