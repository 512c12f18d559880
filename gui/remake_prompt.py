"""The question before a batch that makes done items again: how many, and which settings changed.

The counts come from `core.batch.remake.remake_plan`, the same plan the command prints as one line. The box
does not block (`open`): Remake starts the batch, Cancel (or Esc) leaves the folder and the queue as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from core.batch.remake import RemakePlan
from gui.question import Question, ask


def ask_remake(parent: QWidget, plan: RemakePlan, out: Path, start: Callable[[], None]) -> QMessageBox:
    """Open the question; `start` runs if the user answers Remake. Returns the box (for tests)."""
    count = f"{plan.total:,} image{'' if plan.total == 1 else 's'}"
    question = Question(
        title="Remake thumbnails?",
        text=f"{count} in {out} will be made again: {plan.reasons('→')}.",
        details="Their old thumbnails are replaced: the old files are removed once the new ones are written."
        " Files you put in the folder yourself are never touched.",
        yes="&Remake",
        no="&Cancel",
    )
    return ask(parent, question, start)
