"""The one typed layer over QSettings: the window reads and writes `core.settings.Settings` only here.

Values are stored as plain strings so native and INI back ends read back the same thing. A value that
no longer validates (hand-edited file, older version) falls back to its default instead of losing the
whole set.
"""

from __future__ import annotations

from dataclasses import fields, replace
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from core.settings import Settings, SettingsError

_GROUP = "batch"
_WINDOW_GROUP = "window"
_FOLDERS_GROUP = "folders"


class FolderKind(StrEnum):
    """Each file dialog remembers its own last folder: lists come from one place, reports go to another."""

    ADD_FILES = "add_files"
    ADD_FOLDER = "add_folder"
    OUTPUT = "output"
    REPORT = "report"


class Scheme(StrEnum):
    """The window's colour scheme: the system's, or one forced from the View menu."""

    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


def default_settings() -> Settings:
    """The command's defaults, but with an absolute output folder: a window has no useful working directory."""
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    base = Path(pictures) if pictures else Path.home()
    return replace(Settings(), out=base / "Thumbnails").validated()


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


class SettingsStore:
    """Load and save the batch settings and the window layout. `qsettings` defaults to the app's own."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._qs = qsettings if qsettings is not None else QSettings()

    def load(self) -> Settings:
        """The saved settings; each missing or unusable value is replaced by its default."""
        good: dict[str, object] = {}
        self._qs.beginGroup(_GROUP)
        try:
            for f in fields(Settings):
                raw = self._qs.value(f.name)
                if raw is None:
                    continue
                try:
                    Settings.from_dict({f.name: raw})
                except SettingsError:
                    continue
                good[f.name] = raw
        finally:
            self._qs.endGroup()
        try:
            return Settings.from_dict({**default_settings().to_dict(), **good})
        except SettingsError:
            return default_settings()

    def save(self, settings: Settings) -> None:
        self._qs.beginGroup(_GROUP)
        try:
            for name, value in settings.to_dict().items():
                self._qs.setValue(name, _to_text(value))
        finally:
            self._qs.endGroup()
        self._qs.sync()

    def load_window(self) -> tuple[QByteArray | None, QByteArray | None]:
        """(geometry, dock/toolbar state) as saved by `save_window`, or None for a first start."""
        geometry = self._qs.value(f"{_WINDOW_GROUP}/geometry")
        state = self._qs.value(f"{_WINDOW_GROUP}/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._qs.setValue(f"{_WINDOW_GROUP}/geometry", geometry)
        self._qs.setValue(f"{_WINDOW_GROUP}/state", state)
        self._qs.sync()

    # -- remembered window choices (not batch settings) ---------------------------------------------------

    def last_folder(self, kind: FolderKind) -> Path | None:
        """The folder a file dialog of `kind` was last left in, if it still exists."""
        raw = self._qs.value(f"{_FOLDERS_GROUP}/{kind}")
        path = Path(raw) if isinstance(raw, str) and raw else None
        return path if path is not None and path.is_dir() else None

    def set_last_folder(self, kind: FolderKind, folder: Path) -> None:
        self._qs.setValue(f"{_FOLDERS_GROUP}/{kind}", str(folder))
        self._qs.sync()

    def scheme(self) -> Scheme:
        """The colour scheme chosen in View > Colour scheme (System unless changed)."""
        raw = self._qs.value(f"{_WINDOW_GROUP}/scheme")
        try:
            return Scheme(raw)
        except ValueError:
            return Scheme.SYSTEM

    def set_scheme(self, scheme: Scheme) -> None:
        self._qs.setValue(f"{_WINDOW_GROUP}/scheme", str(scheme))
        self._qs.sync()
