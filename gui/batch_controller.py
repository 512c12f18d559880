"""One batch at a time: owns the runner and routes its signals to the queue, the grid and the status bar.

The runner does all its work in a process of its own (`core.batch.runner_process`) and sends throttled snapshots;
this object only applies them, so the window stays responsive however long the list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from PySide6.QtCore import QObject, Signal

from core.batch.control import BatchMode
from core.batch.runner_process import RunnerProcess
from core.models import Entry, Progress, Status, Summary
from core.settings import Settings
from gui.hosts_model import HostsModel
from gui.queue_model import QueueModel
from gui.status_bar import StatusBar, percent
from gui.thumbnail_view import ThumbnailView

_HAS_THUMBNAILS = (Status.DONE, Status.SKIPPED)


class BatchController(QObject):
    """start / pause / resume / cancel of the current batch; `finished` carries the Summary."""

    state_changed = Signal()  # started, paused, resumed or ended
    percent_changed = Signal(int)  # 0-100 while a batch runs, -1 when none does
    finished = Signal(object)  # core.models.Summary

    def __init__(
        self, model: QueueModel, thumbnails: ThumbnailView, status: StatusBar, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.thumbnails = thumbnails
        self.status = status
        self.runner: RunnerProcess | None = None
        self.settings: Settings | None = None  # of the running or last batch
        self.last_summary: Summary | None = None
        self.last_progress: Progress | None = None
        self.hosts = HostsModel(self)  # the Hosts tab's table, fed from the snapshots
        self.is_cancelling = False  # cancel was asked: the batch winds down

    @property
    def is_running(self) -> bool:
        return self.runner is not None

    @property
    def is_paused(self) -> bool:
        return self.runner is not None and self.runner.is_paused

    def start(
        self,
        settings: Settings,
        entries: Iterable[Entry] | None,
        mode: str = BatchMode.NORMAL,
        only: Collection[str] | None = None,
    ) -> None:
        """Start a batch: `entries` None resumes the unfinished batch of `settings.out`, or with `only`, makes just
        these keys of its last run again (Retry this): the other rows keep what they show."""
        if self.runner is not None:
            raise RuntimeError("a batch is already running")
        runner = RunnerProcess(settings, entries, mode=mode, only=only, parent=self)
        if only is not None:
            self.model.reset_statuses(only=only)
        elif entries is None:
            self.model.clear()
        elif mode == BatchMode.FORCE:
            self.model.reset_statuses()  # all made again
        else:
            self.model.reset_statuses(keep=_HAS_THUMBNAILS)  # what was made stays done (retry, finish the rest)
        if only is None or runner.settings.out != (self.settings and self.settings.out):
            self.thumbnails.clear()  # a run of a few rows into the same folder keeps the grid
        self.hosts.clear()
        self.thumbnails.set_output_dir(runner.settings.out)
        self.thumbnails.set_settings(runner.settings)
        self.settings = runner.settings
        self.last_summary = None
        self.last_progress = None
        self.is_cancelling = False
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        self.runner = runner
        self.status.show_preparing()
        runner.start()
        self.state_changed.emit()
        self.percent_changed.emit(0)

    def pause(self) -> None:
        if self.runner is not None and not self.runner.is_paused:
            self.runner.pause()
            self.status.showMessage("Paused: downloads in progress finish, no new ones start.")
            self.state_changed.emit()

    def resume(self) -> None:
        if self.runner is not None and self.runner.is_paused:
            self.runner.resume()
            self.status.clearMessage()
            self.state_changed.emit()

    def toggle_pause(self) -> None:
        if self.is_paused:
            self.resume()
        else:
            self.pause()

    def pause_hosts(self, hosts: list[str]) -> None:
        """Start nothing more from these hosts; their images wait (and stay to do if the batch ends first)."""
        for host in hosts:
            if self.runner is not None:
                self.runner.pause_host(host)

    def resume_hosts(self, hosts: list[str]) -> None:
        for host in hosts:
            if self.runner is not None:
                self.runner.resume_host(host)

    def cancel(self) -> None:
        """Stop soon; the journal keeps what is left, so the batch can be resumed later."""
        if self.runner is not None:
            self.runner.cancel()
            self.is_cancelling = True
            self.status.showMessage("Cancelling: waiting for running images to finish…")
            self.state_changed.emit()

    def not_made(self) -> int:
        """Items of the running batch not made yet (to do or in progress), as its last snapshot counts them."""
        progress = self.last_progress
        if progress is None:
            counts = self.model.counts()
            return counts[Status.PENDING] + counts[Status.RUNNING]
        return max(0, progress.total - progress.finished)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the engine has stopped, then drop the batch (shutdown: its summary is not shown)."""
        runner = self.runner
        if runner is None:
            return True
        if not runner.wait(timeout_ms):
            return False
        self.runner = None  # its queued `finished` arrives after this and is ignored
        runner.deleteLater()
        self.percent_changed.emit(-1)
        self.state_changed.emit()
        return True

    def _on_progress(self, progress: Progress) -> None:
        if self.runner is None or self.sender() is not self.runner:
            return
        self.last_progress = progress
        if progress.hosts:
            self.hosts.apply(progress.hosts)
        if progress.updates:
            self.model.apply_updates(progress.updates)
            made = [u for u in progress.updates if u.status in _HAS_THUMBNAILS and u.outputs]
            if made:
                self.thumbnails.add_items(made)
        self.status.show_progress(progress)
        self.percent_changed.emit(percent(progress.finished, progress.total))

    def _on_finished(self, summary: Summary) -> None:
        runner = self.runner
        if runner is None or self.sender() is not runner:
            return
        self.runner = None
        runner.deleteLater()
        self.last_summary = summary
        if summary.cancelled or summary.fatal:
            self.model.mark_not_reached()  # also rows a dead engine left running
        self.status.show_summary(summary)
        self.percent_changed.emit(-1)
        self.state_changed.emit()
        self.finished.emit(summary)
