"""Version, application icon and the About box (with the versions a bug report needs, and a Copy button)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

import PIL
import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core import __version__

ICON_PATH = Path(__file__).with_name("resources") / "icon.svg"
#: The packages that decode formats Pillow does not (pyproject.toml's dependencies), as pip names them.
DECODERS = ("pi-heif-decoder", "pillow-jxl-plugin", "pypdfium2", "resvg-py", "defusedxml")


def app_version() -> str:
    """One version for the window, the command and the packaged app (see core/__init__.py)."""
    return __version__


def app_icon() -> QIcon:
    return QIcon(str(ICON_PATH))


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """What to paste into a bug report: the app, the platform and every library that reads images."""
    found = {
        "Batch Thumbnailer": app_version(),
        "Python": platform.python_version(),
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "Pillow": PIL.__version__,
    }
    found.update((package, _installed(package)) for package in DECODERS)
    found["System"] = f"{platform.platform()} ({sys.platform})"
    return found


def versions_text() -> str:
    return "\n".join(f"{name}: {version}" for name, version in versions().items())


class AboutDialog(QDialog):
    """What the app does, its versions (selectable) and a button that copies them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Batch Thumbnailer")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text_label = QLabel(
            f"<h3>Batch Thumbnailer {app_version()}</h3>"
            "<p>Turns long lists of image URLs, local images and folders into thumbnails, "
            "downloading within the limits you set.</p>"
            "<p>Drop URL lists (.txt, .csv, .html), images, folders or links from a browser on the window, "
            "then press Start. An interrupted batch resumes where it stopped.</p>"
            "<p>MIT licence.</p>"
        )
        self.text_label.setWordWrap(True)
        self.versions_label = QLabel(versions_text())
        self.versions_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("&Copy versions")
        self.copy_button.setToolTip("Copy the versions above, to paste into a bug report")
        self.copy_button.clicked.connect(self.copy_versions)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        text = QVBoxLayout()
        text.addWidget(self.text_label)
        text.addWidget(self.versions_label)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

    def text(self) -> str:
        return self.text_label.text()

    def iconPixmap(self) -> QPixmap:
        return app_icon().pixmap(64, 64)

    def copy_versions(self) -> None:
        QGuiApplication.clipboard().setText(versions_text() + "\n")


def show_about(parent: QWidget) -> AboutDialog:
    """Open the About box without blocking (window-modal) and return it."""
    box = AboutDialog(parent)
    box.open()
    return box
