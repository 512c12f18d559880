"""Remakes one item with the crop a person chose in the preview, in every size, in an engine process of its own.

The crop is first kept in the output folder's journal (so every later run, `--force` and resume keep it), then
the batch's runner redoes just that item (`RunnerProcess(..., only=[key])`), leaving the rest of its run as it was.
"""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import QObject, Signal

from core.batch.control import BatchMode
from core.batch.folder_lock import OutputFolderError
from core.batch.journal import Journal
from core.batch.runner_process import RunnerProcess
from core.imaging.focus import Focus
from core.models import ItemUpdate, Progress, Summary
from core.settings import Settings


class Refocus(QObject):
    """One remake at a time. `remade(key, update, summary)`: `update` is the item's new state (None when the engine
    never reached it, e.g. another batch writes to that folder: `summary.fatal` says so)."""

    remade = Signal(str, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner: RunnerProcess | None = None
        self._key = ""
        self._update: ItemUpdate | None = None

    @property
    def is_busy(self) -> bool:
        return self._runner is not None

    def remake(self, settings: Settings, key: str, focus: Focus | None) -> str | None:
        """Keep `focus` for `key` and start remaking it; returns why it cannot, in words, or None once started."""
        if self._runner is not None:
            return "the previous crop is still being applied"
        try:  # with the folder's lock: while a batch writes there, nothing is changed (FolderBusy says who writes)
            with Journal(settings.out) as journal:
                if not journal.set_focus(key, focus):
                    return "this item is no longer in the output folder's journal"
        except (OSError, OutputFolderError, sqlite3.Error) as exc:
            return f"cannot change the crop now: {exc}"
        runner = RunnerProcess(settings, None, mode=BatchMode.FORCE, only=[key], parent=self)
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        self._runner, self._key, self._update = runner, key, None
        runner.start()
        return None

    def wait(self, timeout_ms: int = -1) -> bool:
        return self._runner is None or self._runner.wait(timeout_ms)

    def _on_progress(self, progress: Progress) -> None:
        for update in progress.updates:
            if update.key == self._key:
                self._update = update

    def _on_finished(self, summary: Summary) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.deleteLater()
        self.remade.emit(self._key, self._update, summary)
