"""Help > Keyboard shortcuts: read from the window's actions, so the list is never out of date."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(where, what, keys) for every action with a shortcut: the menus' in menu order, then the others the
    window's widgets hold (such as the queue's Copy)."""
    rows: list[tuple[str, str, str]] = []
    seen: set[QAction] = set()

    def add(where: str, action: QAction) -> None:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
        if keys and action not in seen and not action.isSeparator():
            seen.add(action)
            rows.append((where, _plain(action.text()), keys))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            for action in menu.actions():
                add(_plain(top.text()), action)
    for action in window.findChildren(QAction):
        add(_where(action, window), action)
    return rows


def _where(action: QAction, window: QMainWindow) -> str:
    """The named pane (accessible name) an action belongs to, or the window."""
    widget = action.parent()
    while isinstance(widget, QWidget) and widget is not window:
        if widget.accessibleName():
            return widget.accessibleName()
        widget = widget.parentWidget()
    return "Window"


def _plain(text: str) -> str:
    """A menu text as read: no mnemonic ampersand, no trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").rstrip(".")


class ShortcutsDialog(QDialog):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Menu", "Command", "Keys"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(460, min(620, 90 + 26 * len(rows)))

    def rows(self) -> list[tuple[str, str, str]]:
        """(where, what, keys) as shown."""

        def text(r: int, c: int) -> str:
            item = self.table.item(r, c)
            return item.text() if item is not None else ""

        return [(text(r, 0), text(r, 1), text(r, 2)) for r in range(self.table.rowCount())]
