"""Handing files and links to the desktop: open a file, show it in its folder, open a web page."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices


def open_file(path: Path) -> bool:
    """Open a file (or folder) with the application the desktop uses for it."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_folder(path: Path) -> bool:
    """Show a file in the file manager: selected where the platform allows it, else its folder is opened."""
    if sys.platform == "win32":
        return QProcess.startDetached("explorer.exe", [f"/select,{path}"])[0]
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(path)])[0]
    return open_file(path.parent)


def open_web_page(url: str) -> bool:
    """Open an http(s) URL in the browser; other schemes (file, data...) are not handed over."""
    link = QUrl(url)
    return link.scheme() in ("http", "https") and QDesktopServices.openUrl(link)
