"""The question before a batch that makes done items again: how many, and which settings changed.

The counts come from `core.batch.remake.remake_plan`, the same plan the command prints as one line. The box
does not block (`open`): Remake starts the batch, Cancel (or Esc) leaves the folder and the queue as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from core.batch.remake import RemakePlan


def ask_remake(parent: QWidget, plan: RemakePlan, out: Path, start: Callable[[], None]) -> QMessageBox:
    """Open the question; `start` runs if the user answers Remake. Returns the box (for tests)."""
    count = f"{plan.total:,} image{'' if plan.total == 1 else 's'}"
    box = QMessageBox(QMessageBox.Icon.Question, "Remake thumbnails?", "", parent=parent)
    box.setText(f"{count} in {out} will be made again: {plan.reasons('→')}.")
    box.setInformativeText(
        "Their old thumbnails are replaced: the old files are removed once the new ones are written."
        " Files you put in the folder yourself are never touched."
    )
    remake = box.addButton("&Remake", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(remake)

    def answered(_result: int) -> None:
        if box.clickedButton() is remake:
            start()

    box.finished.connect(answered)
    box.open()
    return box
