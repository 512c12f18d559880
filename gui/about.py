"""Version, application icon and the About box."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox, QWidget

from core import __version__

ICON_PATH = Path(__file__).with_name("resources") / "icon.svg"


def app_version() -> str:
    """One version for the window, the command and the packaged app (see core/__init__.py)."""
    return __version__


def app_icon() -> QIcon:
    return QIcon(str(ICON_PATH))


def show_about(parent: QWidget) -> QMessageBox:
    """Open the About box without blocking (window-modal) and return it."""
    box = QMessageBox(parent)
    box.setWindowTitle("About Batch Thumbnailer")
    box.setIconPixmap(app_icon().pixmap(64, 64))
    box.setText(
        f"<h3>Batch Thumbnailer {app_version()}</h3>"
        "<p>Turns long lists of image URLs, local images and folders into thumbnails, "
        "downloading within the limits you set.</p>"
        "<p>Drop URL lists (.txt, .csv, .html), images, folders or links from a browser on the window, "
        "then press Start. An interrupted batch resumes where it stopped.</p>"
        "<p>MIT licence.</p>"
    )
    box.open()
    return box
