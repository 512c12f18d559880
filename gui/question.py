"""A question that does not block: the window goes on (a batch keeps running, progress keeps coming) while it is
open, and the answer arrives as a call. Every yes/no question of the window is one of these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QMessageBox, QWidget


@dataclass(frozen=True)
class Question:
    title: str
    text: str
    yes: str  # the button that does it, with its mnemonic ("&Remake")
    no: str  # the one that leaves things as they are ("&Not now"); Esc answers it
    details: str = ""  # the informative text under `text`
    default_no: bool = False  # Return answers "no" (a question whose "yes" loses work)


def ask(parent: QWidget, question: Question, on_yes: Callable[[], object]) -> QMessageBox:
    """Open `question` window-modal without blocking; `on_yes` runs if the user answers yes. Returns the box."""
    box = QMessageBox(QMessageBox.Icon.Question, question.title, question.text, parent=parent)
    if question.details:
        box.setInformativeText(question.details)
    yes = box.addButton(question.yes, QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton(question.no, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no if question.default_no else yes)
    box.setEscapeButton(no)

    def answered(_result: int) -> None:
        if box.clickedButton() is yes:
            on_yes()

    box.finished.connect(answered)
    box.open()
    return box
