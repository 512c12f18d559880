"""The settings form: every option of `core.settings.Settings`, checked as the user types.

Each field is validated on its own through `Settings.validated()`, so the window rejects exactly what the
command rejects, with the same words; a bad field gets a red border and the message as its tooltip, and
`validity_changed` lets the window disable Start.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import ImageColor
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.settings import FITS, FORMATS, Settings, SettingsError, parse_bytes, parse_cluster_address, parse_pixels
from gui.settings_store import default_settings

_INVALID_STYLE = "*[invalid='true'] { border: 1px solid #d32f2f; border-radius: 2px; }"

_FIT_LABELS = {
    "contain": "Contain (whole image, inside the box)",
    "cover": "Cover (fill the box, crop the edges)",
    "pad": "Pad (whole image, box filled with background)",
}
_FORMAT_LABELS = {
    "auto": "Auto (like the source)",
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WebP",
    "avif": "AVIF",
}


def parse_sizes(text: str) -> tuple[int, ...]:
    """'256' or '128, 512' -> (256,) / (128, 512)."""
    tokens = [t for t in re.split(r"[,;\s]+", text.strip()) if t]
    if not tokens:
        raise SettingsError("at least one size is needed, e.g. 256 or 128, 512")
    sizes = []
    for token in tokens:
        if not token.isdigit():
            raise SettingsError(f"sizes are whole pixel counts such as 256 or 128, 512; {token!r} is not one")
        sizes.append(int(token))
    return tuple(sizes)


def parse_out(text: str) -> Path:
    if not text.strip():
        raise SettingsError("choose an output folder")
    path = Path(text.strip()).expanduser()
    if not path.is_absolute():
        raise SettingsError(f"the output folder needs a full path (such as {Path.home() / 'Thumbnails'})")
    if path.exists() and not path.is_dir():
        raise SettingsError(f"the output folder {path} is a file, not a folder")
    return path


LOCAL, CLUSTER = "local", "cluster"
_NO_DASK = "Needs the 'distributed' package, which this installation lacks: pip install 'batch-thumbnailer[cluster]'"


def dask_installed() -> bool:
    """Whether the cluster option can work, found without importing Dask (it is slow to import and optional)."""
    return importlib.util.find_spec("distributed") is not None


def _spin(lo: int, hi: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setToolTip(tip)
    return box


class SettingsPanel(QWidget):
    """The form. `settings()` returns validated Settings or raises SettingsError naming the first bad value."""

    changed = Signal()
    validity_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(_INVALID_STYLE)
        self._valid = True
        self._errors: dict[str, str] = {}

        self.out_edit = QLineEdit()
        self.out_edit.setToolTip("Where thumbnails (and the batch journal) are written")
        self.browse_button = QPushButton("Bro&wse…")
        self.open_button = QPushButton("Ope&n folder")
        self.open_button.setToolTip("Show the output folder in the file manager")
        self.size_edit = QLineEdit()
        self.size_edit.setPlaceholderText("256 or 128, 512")
        self.size_edit.setToolTip("Longest side of the box in pixels; several sizes make several thumbnails")
        self.fit_combo = QComboBox()
        for fit in FITS:
            self.fit_combo.addItem(_FIT_LABELS.get(fit, fit), fit)
        self.format_combo = QComboBox()
        for fmt in FORMATS:
            self.format_combo.addItem(_FORMAT_LABELS.get(fmt, fmt), fmt)
        for combo in (self.fit_combo, self.format_combo):  # long item texts must not widen the column
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.quality_spin = _spin(1, 100, "Encoder quality for JPEG, WebP and AVIF")
        self.background_edit = QLineEdit()
        self.background_edit.setToolTip("Fills transparency and padding: a name, #rrggbb or rgb(r, g, b)")
        self.colour_button = QToolButton()
        self.colour_button.setToolTip("Pick the background colour")
        self.colour_button.setAccessibleName("Pick background colour")
        self.upscale_check = QCheckBox("&Upscale images smaller than the box")
        self.metadata_check = QCheckBox("Keep &metadata (EXIF, colour profile)")
        self.threads_spin = _spin(1, 256, "How many downloads run at the same time")
        self.per_host_spin = _spin(1, 256, "How many of those may go to the same server")
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(1, 3600)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setToolTip("Give up on a download after this many seconds")
        self.retries_spin = _spin(0, 20, "Retries after connection errors, 429 and 5xx answers")
        self.max_bytes_edit = QLineEdit()
        self.max_bytes_edit.setToolTip("Largest download accepted, e.g. 50M, 512K or 2G")
        self.max_pixels_edit = QLineEdit()
        self.max_pixels_edit.setToolTip("Largest image decoded, e.g. 100M or 10000x10000 (guards against bombs)")
        self.processes_spin = _spin(1, 64, "Worker processes that decode and resize images")
        self.user_agent_edit = QLineEdit()
        self.user_agent_edit.setToolTip("User-Agent header sent with every download")
        self.run_on_combo = QComboBox()
        self.run_on_combo.addItem("This computer", LOCAL)
        self.run_on_combo.addItem("Dask cluster at…", CLUSTER)
        self.run_on_combo.setToolTip("Where images are downloaded and resized; thumbnails are always written here")
        if not dask_installed():
            self.run_on_combo.model().item(1).setEnabled(False)
            self.run_on_combo.setItemData(1, _NO_DASK, Qt.ItemDataRole.ToolTipRole)
        self.cluster_edit = QLineEdit()
        self.cluster_edit.setPlaceholderText("tcp://scheduler:8786")
        self.cluster_edit.setToolTip("The Dask scheduler's address (start one with `dask scheduler`)")
        self.restore_button = QPushButton("Restore def&aults")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.hide()

        self._fields: dict[str, tuple[QWidget, Callable[[], object]]] = {
            "out": (self.out_edit, lambda: parse_out(self.out_edit.text())),
            "size": (self.size_edit, lambda: parse_sizes(self.size_edit.text())),
            "fit": (self.fit_combo, self.fit_combo.currentData),
            "format": (self.format_combo, self.format_combo.currentData),
            "quality": (self.quality_spin, self.quality_spin.value),
            "background": (self.background_edit, lambda: self.background_edit.text().strip()),
            "upscale": (self.upscale_check, self.upscale_check.isChecked),
            "keep_metadata": (self.metadata_check, self.metadata_check.isChecked),
            "threads": (self.threads_spin, self.threads_spin.value),
            "per_host": (self.per_host_spin, self.per_host_spin.value),
            "timeout": (self.timeout_spin, self.timeout_spin.value),
            "retries": (self.retries_spin, self.retries_spin.value),
            "max_bytes": (self.max_bytes_edit, lambda: parse_bytes(self.max_bytes_edit.text())),
            "max_pixels": (self.max_pixels_edit, lambda: parse_pixels(self.max_pixels_edit.text())),
            "processes": (self.processes_spin, self.processes_spin.value),
            "user_agent": (self.user_agent_edit, self.user_agent_edit.text),
            "cluster": (self.cluster_edit, self._cluster_address),
        }
        self._tooltips = {name: widget.toolTip() for name, (widget, _) in self._fields.items()}
        self._build_layout()
        self._connect()
        self.set_settings(default_settings())

    # -- layout -------------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.browse_button)
        folder_buttons.addWidget(self.open_button)
        folder_buttons.addStretch(1)
        background_row = QHBoxLayout()
        background_row.addWidget(self.background_edit, 1)
        background_row.addWidget(self.colour_button)

        output = QGroupBox("Output")
        form = QFormLayout(output)
        form.addRow("&Output folder:", self.out_edit)
        form.addRow("", folder_buttons)
        form.addRow("&Sizes (px):", self.size_edit)
        form.addRow("Fi&t:", self.fit_combo)
        form.addRow("Fo&rmat:", self.format_combo)
        form.addRow("&Quality:", self.quality_spin)
        form.addRow("Bac&kground:", background_row)
        form.addRow(self.upscale_check)
        form.addRow(self.metadata_check)
        self._set_buddies(form, {"Bac&kground:": self.background_edit})

        downloads = QGroupBox("Downloads")
        form = QFormLayout(downloads)
        form.addRow("&Downloads at once:", self.threads_spin)
        form.addRow("Per-host &limit:", self.per_host_spin)
        form.addRow("Tim&eout:", self.timeout_spin)
        form.addRow("Retr&ies:", self.retries_spin)
        form.addRow("Max download si&ze:", self.max_bytes_edit)
        form.addRow("User a&gent:", self.user_agent_edit)

        processing = QGroupBox("Processing")
        form = QFormLayout(processing)
        form.addRow("Max &pixels:", self.max_pixels_edit)
        form.addRow("Resizer pro&cesses:", self.processes_spin)
        form.addRow("Run o&n:", self.run_on_combo)
        form.addRow("Sc&heduler:", self.cluster_edit)

        layout = QVBoxLayout(self)
        layout.addWidget(self.error_label)
        for box in (output, downloads, processing):
            layout.addWidget(box)
        restore_row = QHBoxLayout()
        restore_row.addStretch(1)
        restore_row.addWidget(self.restore_button)
        layout.addLayout(restore_row)
        layout.addStretch(1)

    @staticmethod
    def _set_buddies(form: QFormLayout, buddies: dict[str, QWidget]) -> None:
        """Rows whose field is a layout get no buddy from QFormLayout; point their mnemonics at the editor."""
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item else None
            if isinstance(label, QLabel) and label.text() in buddies:
                label.setBuddy(buddies[label.text()])

    def _connect(self) -> None:
        for widget, _ in self._fields.values():
            if isinstance(widget, QLineEdit):
                widget.textChanged.connect(self._on_edit)
            elif isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(self._on_edit)
            elif isinstance(widget, QCheckBox):
                widget.toggled.connect(self._on_edit)
            elif isinstance(widget, QSpinBox | QDoubleSpinBox):
                widget.valueChanged.connect(self._on_edit)
        self.browse_button.clicked.connect(self._browse)
        self.open_button.clicked.connect(self._open_folder)
        self.colour_button.clicked.connect(self._pick_colour)
        self.restore_button.clicked.connect(self.restore_defaults)
        self.run_on_combo.currentIndexChanged.connect(self._on_run_on)

    # -- public API ---------------------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The form's settings, validated; raises SettingsError with the first problem."""
        values = {name: getter() for name, (_, getter) in self._fields.items()}
        return Settings(**values).validated()  # type: ignore[arg-type]

    def set_settings(self, settings: Settings) -> None:
        for widget, _ in self._fields.values():
            widget.blockSignals(True)
        self.run_on_combo.blockSignals(True)
        try:
            self.out_edit.setText(str(settings.out))
            self.size_edit.setText(", ".join(str(s) for s in settings.size))
            self.fit_combo.setCurrentIndex(max(0, self.fit_combo.findData(settings.fit)))
            self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(settings.format)))
            self.quality_spin.setValue(settings.quality)
            self.background_edit.setText(settings.background)
            self.upscale_check.setChecked(settings.upscale)
            self.metadata_check.setChecked(settings.keep_metadata)
            self.threads_spin.setValue(settings.threads)
            self.per_host_spin.setValue(settings.per_host)
            self.timeout_spin.setValue(settings.timeout)
            self.retries_spin.setValue(settings.retries)
            self.max_bytes_edit.setText(_bytes_text(settings.max_bytes))
            self.max_pixels_edit.setText(_pixels_text(settings.max_pixels))
            self.processes_spin.setValue(settings.processes)
            self.user_agent_edit.setText(settings.user_agent)
            if settings.cluster:  # going back to this computer keeps the address typed for next time
                self.cluster_edit.setText(settings.cluster)
            self.run_on_combo.setCurrentIndex(1 if settings.cluster else 0)
        finally:
            for widget, _ in self._fields.values():
                widget.blockSignals(False)
            self.run_on_combo.blockSignals(False)
        self._on_run_on()

    def set_output_dir(self, path: Path) -> None:
        self.out_edit.setText(str(path))

    def restore_defaults(self) -> None:
        self.set_settings(default_settings())

    def editors(self) -> dict[str, QWidget]:
        """Settings field name -> the widget that edits it."""
        return {name: widget for name, (widget, _) in self._fields.items()}

    def is_valid(self) -> bool:
        return self._valid

    def errors(self) -> dict[str, str]:
        """Field name -> message, for every field that is wrong right now."""
        return dict(self._errors)

    def set_locked(self, locked: bool) -> None:
        """A running batch keeps the settings it started with; 'Open folder' stays usable."""
        for widget, _ in self._fields.values():
            widget.setEnabled(not locked)
        for widget in (self.browse_button, self.colour_button, self.restore_button, self.run_on_combo):
            widget.setEnabled(not locked)
        if not locked:
            self._enable_for_run_on()

    # -- where the batch runs -----------------------------------------------------------------------------

    def _on_cluster(self) -> bool:
        return self.run_on_combo.currentData() == CLUSTER

    def _cluster_address(self) -> str:
        if not self._on_cluster():
            return ""
        if not self.cluster_edit.text().strip():
            raise SettingsError("enter the Dask scheduler's address, e.g. tcp://scheduler:8786")
        return parse_cluster_address(self.cluster_edit.text())

    def _on_run_on(self) -> None:
        self._enable_for_run_on()
        self._on_edit()

    def _enable_for_run_on(self) -> None:
        """On a cluster the workers' threads do the downloads and resizes: the local counts do not apply."""
        cluster = self._on_cluster()
        self.cluster_edit.setEnabled(cluster)
        for widget in (self.threads_spin, self.processes_spin):
            widget.setEnabled(not cluster)

    # -- validation ---------------------------------------------------------------------------------------

    def _on_edit(self) -> None:
        self._errors = {}
        defaults = Settings()
        for name, (widget, getter) in self._fields.items():
            try:
                value = getter()
                if name != "out":
                    replace(defaults, **{name: value}).validated()
            except SettingsError as exc:
                self._errors[name] = str(exc)
            self._mark(name, widget, self._errors.get(name))
        self._update_colour_swatch()
        first = next(iter(self._errors.values()), None)
        self.error_label.setText(first[:1].upper() + first[1:] if first else "")
        self.error_label.setVisible(first is not None)
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self.changed.emit()

    def _mark(self, name: str, widget: QWidget, error: str | None) -> None:
        widget.setToolTip(error or self._tooltips[name])
        if bool(widget.property("invalid")) != (error is not None):
            widget.setProperty("invalid", error is not None)
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    def _update_colour_swatch(self) -> None:
        try:
            rgb = ImageColor.getrgb(self.background_edit.text().strip())
        except ValueError:
            self.colour_button.setIcon(QIcon())
            self.colour_button.setText("?")
            return
        swatch = QPixmap(16, 16)
        swatch.fill(QColor(*rgb[:3]))
        self.colour_button.setText("")
        self.colour_button.setIcon(QIcon(swatch))

    # -- buttons ------------------------------------------------------------------------------------------

    def _browse(self) -> None:
        start = self.out_edit.text().strip() or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Output folder", start)
        if chosen:
            self.out_edit.setText(chosen)

    def _open_folder(self) -> None:
        try:
            path = parse_out(self.out_edit.text())
            path.mkdir(parents=True, exist_ok=True)
        except (SettingsError, OSError) as exc:
            QMessageBox.warning(self, "Cannot open the output folder", str(exc))
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def _pick_colour(self) -> None:
        try:
            current = QColor(*ImageColor.getrgb(self.background_edit.text().strip())[:3])
        except ValueError:
            current = QColor("white")
        colour = QColorDialog.getColor(current, self, "Background colour")
        if colour.isValid():
            self.background_edit.setText(colour.name())


def _bytes_text(n: int) -> str:
    """50 MiB -> '50M' (what a user would type), else the exact count."""
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _pixels_text(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)
