"""The settings form: every option of `core.settings.Settings`, checked as the user types.

Each editor is made from its setting's declaration (`core.settings.OPTIONS`): the kind of value picks the widget
(spin box, combo box, check box, line edit), and ranges, choices, parsing and display come from it. This module
only says where each editor goes and what the window calls it.

Each field is validated on its own through `Settings.validated()`, so the window rejects exactly what the
command rejects, with the same words; a bad field gets a red border and the message as its tooltip, and
`validity_changed` lets the window disable Start.
"""

from __future__ import annotations

import importlib.util
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from PIL import ImageColor
from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QPalette, QPixmap, QStandardItemModel
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
    QScrollArea,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.settings import (
    OPTIONS,
    ChoiceOption,
    Crop,
    Fit,
    FlagOption,
    FloatOption,
    Format,
    IntOption,
    Option,
    RateOption,
    Settings,
    SettingsError,
    flag_of,
    parse_cluster_address,
)
from gui.settings_store import FolderKind, SettingsStore, default_settings
from gui.theme import error_color

_W = TypeVar("_W", bound=QWidget)
_INVALID_STYLE = "*[invalid='true'] { border: 1px solid #d32f2f; border-radius: 2px; }"

# What the window says about each setting; what it accepts comes from the setting's declaration.
_TOOLTIPS = {
    "out": "Where thumbnails (and the batch journal) are written",
    "size": "Longest side of the box in pixels; several sizes make several thumbnails",
    "fit": "How the image meets the box. Contain: the whole image, inside the box. Cover: fills the box, the"
    " edges cropped. Pad: the whole image in the middle of the exact box, the rest filled with the background",
    "crop": "Where Cover cuts: the centre, what draws the eye (attention: edges, saturated and skin-like colour),"
    " or the busiest part of the image (entropy)",
    "format": "Auto writes PNG where the image has transparency, else JPEG",
    "quality": "Encoder quality for JPEG, WebP and AVIF",
    "name": "How thumbnails are named (--name): {stem} {size} {width} {height} {host} {dir} {n} {hash}, / makes"
    " folders. Empty: the source's own name, a folder's tree kept, _{size} added for several sizes. Names once"
    " given to an item in this output folder are kept",
    "background": "Fills transparency and padding: a name, #rrggbb or rgb(r, g, b)",
    "threads": "At most this many downloads at the same time; fewer while more would not go faster",
    "per_host": "How many of those may go to the same server",
    "timeout": "Give up on a download after this many seconds",
    "retries": "Retries after connection errors, 429 and 5xx answers",
    "max_bytes": "Largest download accepted, e.g. 50M, 512K or 2G",
    "max_rate": "Bytes a second for all downloads together, e.g. 2M or 500K; empty (or 0) for no limit",
    "max_pixels": "Largest image decoded, e.g. 100M or 10000x10000 (guards against bombs)",
    "processes": "Worker processes that decode and resize images",
    "user_agent": "User-Agent header sent with every download",
    "cluster": "The Dask scheduler's address (start one with `dask scheduler`)",
    "pages": "A link that opens a web page queues the page's images (one level deep) instead of failing",
}
_PLACEHOLDERS = {
    "size": "256 or 128, 512",
    "max_rate": "no limit",
    "cluster": "tcp://scheduler:8786",
    "name": "the source's own name, e.g. {host}/{stem}_{size}",
}
_CHECK_TEXTS = {
    "upscale": "&Upscale images smaller than the box",
    "keep_metadata": "Keep &metadata (EXIF, colour profile)",
    "pages": "E&xpand web pages into their images",
}
_CHOICE_LABELS: dict[str, str] = {
    Fit.CONTAIN: "Contain (whole image)",
    Fit.COVER: "Cover (fill, crop)",
    Fit.PAD: "Pad (exact box)",
    Crop.CENTRE: "Centre",
    Crop.ATTENTION: "Attention",
    Crop.ENTROPY: "Entropy (busiest)",
    Format.AUTO: "Auto (JPEG or PNG)",
    Format.JPEG: "JPEG",
    Format.PNG: "PNG",
    Format.WEBP: "WebP",
    Format.AVIF: "AVIF",
}


def parse_out(text: str) -> Path:
    """The window's output folder: unlike the command's, it must be absolute (a window has no useful cwd)."""
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


class _Editor(ABC):
    """The widget that edits one setting, made from the setting's declaration. One subclass per kind of editor;
    `value()` may raise SettingsError (text that is not a value), `set_value` shows a valid value."""

    widget: QWidget

    def __init__(self, name: str, option: Option) -> None:
        self.option = option
        self.widget.setToolTip(_TOOLTIPS.get(name, ""))

    @abstractmethod
    def value(self) -> Any: ...

    @abstractmethod
    def set_value(self, value: Any) -> None: ...

    @abstractmethod
    def on_change(self, slot: Callable[[], None]) -> None: ...


class _TextEditor(_Editor):
    """A line edit: the declaration parses what is typed (sizes, byte and pixel counts, colours...) and writes
    values as a user would type them (50M, 128, 512)."""

    def __init__(self, name: str, option: Option) -> None:
        self.widget = self.edit = QLineEdit()
        self.edit.setPlaceholderText(_PLACEHOLDERS.get(name, ""))
        super().__init__(name, option)

    def value(self) -> Any:
        return self.option.parse_text(self.edit.text())

    def set_value(self, value: Any) -> None:
        self.edit.setText(self.option.to_text(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.edit.textChanged.connect(slot)


class _RateEditor(_TextEditor):
    """A rate where 0 means no limit: shown empty under a "no limit" placeholder, so the field does not read as
    a rate of zero; empty (or 0, as the command takes it) is no limit."""

    def value(self) -> Any:
        return self.option.parse_text(self.edit.text()) if self.edit.text().strip() else 0

    def set_value(self, value: Any) -> None:
        self.edit.setText(self.option.to_text(value) if value else "")


class _OutEditor(_TextEditor):
    def value(self) -> Any:
        return parse_out(self.edit.text())


class _SpinEditor(_Editor):
    """A whole number within the declared range."""

    def __init__(self, name: str, option: Option) -> None:
        assert isinstance(option, IntOption)
        self.widget = self.spin = QSpinBox()
        self.spin.setRange(option.lo, option.hi)
        super().__init__(name, option)

    def value(self) -> Any:
        return self.spin.value()

    def set_value(self, value: Any) -> None:
        self.spin.setValue(int(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class _FloatSpinEditor(_Editor):
    """A number within the declared range, with the declared decimals and unit."""

    def __init__(self, name: str, option: Option) -> None:
        assert isinstance(option, FloatOption)
        self.widget = self.spin = QDoubleSpinBox()
        self.spin.setRange(option.lo, option.hi)
        self.spin.setDecimals(option.decimals)
        if option.unit:
            self.spin.setSuffix(f" {option.unit}")
        super().__init__(name, option)

    def value(self) -> Any:
        return self.spin.value()

    def set_value(self, value: Any) -> None:
        self.spin.setValue(float(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class _ComboEditor(_Editor):
    """One of the declared choices; items hold the choice's string value."""

    def __init__(self, name: str, option: Option) -> None:
        assert isinstance(option, ChoiceOption)
        self.widget = self.combo = QComboBox()
        for choice in option.choices:
            self.combo.addItem(_CHOICE_LABELS.get(choice, str(choice)), str(choice))
        # long item texts must not widen the column
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        super().__init__(name, option)

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        self.combo.setCurrentIndex(max(0, self.combo.findData(str(value))))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.combo.currentIndexChanged.connect(slot)


class _CheckEditor(_Editor):
    def __init__(self, name: str, option: Option) -> None:
        self.widget = self.check = QCheckBox(_CHECK_TEXTS.get(name, name))
        super().__init__(name, option)

    def value(self) -> Any:
        return self.check.isChecked()

    def set_value(self, value: Any) -> None:
        self.check.setChecked(bool(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.check.toggled.connect(slot)


# The editor for each kind of setting (the first match in this order); any other kind is typed as text.
_EDITOR_KINDS: tuple[tuple[type[Option], type[_Editor]], ...] = (
    (IntOption, _SpinEditor),
    (FloatOption, _FloatSpinEditor),
    (ChoiceOption, _ComboEditor),
    (FlagOption, _CheckEditor),
    (RateOption, _RateEditor),
)
_EDITOR_FOR_FIELD: dict[str, type[_Editor]] = {"out": _OutEditor}  # where the window asks more than the command


def _editor(name: str, option: Option) -> _Editor:
    kind = _EDITOR_FOR_FIELD.get(name) or next((e for k, e in _EDITOR_KINDS if isinstance(option, k)), _TextEditor)
    return kind(name, option)


class SettingsPanel(QWidget):
    """The form. `settings()` returns validated Settings or raises SettingsError naming the first bad value."""

    changed = Signal()
    validity_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._valid = True
        self._errors: dict[str, str] = {}

        self._editors = {name: _editor(name, option) for name, option in OPTIONS.items()}
        self.out_edit = self._widget("out", QLineEdit)
        self.size_edit = self._widget("size", QLineEdit)
        self.fit_combo = self._widget("fit", QComboBox)
        self.crop_combo = self._widget("crop", QComboBox)
        self.format_combo = self._widget("format", QComboBox)
        self.quality_spin = self._widget("quality", QSpinBox)
        self.background_edit = self._widget("background", QLineEdit)
        self.upscale_check = self._widget("upscale", QCheckBox)
        self.metadata_check = self._widget("keep_metadata", QCheckBox)
        self.name_edit = self._widget("name", QLineEdit)
        self.threads_spin = self._widget("threads", QSpinBox)
        self.per_host_spin = self._widget("per_host", QSpinBox)
        self.timeout_spin = self._widget("timeout", QDoubleSpinBox)
        self.retries_spin = self._widget("retries", QSpinBox)
        self.max_bytes_edit = self._widget("max_bytes", QLineEdit)
        self.max_rate_edit = self._widget("max_rate", QLineEdit)
        self.max_pixels_edit = self._widget("max_pixels", QLineEdit)
        self.processes_spin = self._widget("processes", QSpinBox)
        self.user_agent_edit = self._widget("user_agent", QLineEdit)
        self.pages_check = self._widget("pages", QCheckBox)
        self.cluster_edit = self._widget("cluster", QLineEdit)
        self.browse_button = QPushButton("Bro&wse…")
        self.open_button = QPushButton("Ope&n folder")
        self.open_button.setToolTip("Show the output folder in the file manager")
        self.colour_button = QToolButton()
        self.colour_button.setToolTip("Pick the background colour")
        self.colour_button.setAccessibleName("Pick background colour")
        self.run_on_combo = QComboBox()
        self.run_on_combo.addItem("This computer", LOCAL)
        self.run_on_combo.addItem("Dask cluster at…", CLUSTER)
        self.run_on_combo.setToolTip("Where images are downloaded and resized; thumbnails are always written here")
        if not dask_installed():
            model = self.run_on_combo.model()
            assert isinstance(model, QStandardItemModel)  # a QComboBox's own model
            model.item(1).setEnabled(False)
            self.run_on_combo.setItemData(1, _NO_DASK, Qt.ItemDataRole.ToolTipRole)
        self.restore_button = QPushButton("Restore def&aults")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName("Settings problem")
        self.error_label.setContentsMargins(6, 4, 6, 4)
        self.error_label.hide()
        self.form_scroll = QScrollArea()

        self._fields: dict[str, tuple[QWidget, Callable[[], Any]]] = {
            name: (editor.widget, editor.value) for name, editor in self._editors.items()
        }
        self._fields["cluster"] = (self.cluster_edit, self._cluster_address)  # '' unless Run on is the cluster
        self._build_layout()
        self._words = self._field_words()
        self._tooltips = {name: self._with_flag(name, widget.toolTip()) for name, (widget, _) in self._fields.items()}
        self._connect()
        self.setStyleSheet(_INVALID_STYLE)  # once the widgets exist: it makes a StyleChange, which colours the message
        self.folders: SettingsStore | None = None  # remembers where Browse was last left (set by the window)
        self.set_settings(default_settings())

    def _widget(self, name: str, kind: type[_W]) -> _W:
        """The editor widget of setting `name`, which its declaration made a `kind`."""
        widget = self._editors[name].widget
        assert isinstance(widget, kind), (name, widget)
        return widget

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
        form.addRow("Crop b&y:", self.crop_combo)
        form.addRow("Fo&rmat:", self.format_combo)
        form.addRow("&Quality:", self.quality_spin)
        form.addRow("Bac&kground:", background_row)
        form.addRow("&File names:", self.name_edit)
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
        form.addRow("Ma&x download rate:", self.max_rate_edit)
        form.addRow("User a&gent:", self.user_agent_edit)
        form.addRow(self.pages_check)

        processing = QGroupBox("Processing")
        form = QFormLayout(processing)
        form.addRow("Max &pixels:", self.max_pixels_edit)
        form.addRow("Resizer pro&cesses:", self.processes_spin)
        form.addRow("Run o&n:", self.run_on_combo)
        form.addRow("Sc&heduler:", self.cluster_edit)

        form_page = QWidget()
        layout = QVBoxLayout(form_page)
        for box in (output, downloads, processing):
            layout.addWidget(box)
        restore_row = QHBoxLayout()
        restore_row.addStretch(1)
        restore_row.addWidget(self.restore_button)
        layout.addLayout(restore_row)
        layout.addStretch(1)

        # The form scrolls; the message has a fixed place under it, so showing it never moves a field.
        scroll = self.form_scroll
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_page)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bar = scroll.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        scroll.setMinimumWidth(form_page.minimumSizeHint().width() + bar + 2 * scroll.frameWidth())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(scroll, 1)
        outer.addWidget(self.error_label)

    @staticmethod
    def _set_buddies(form: QFormLayout, buddies: dict[str, QWidget]) -> None:
        """Rows whose field is a layout get no buddy from QFormLayout; point their mnemonics at the editor."""
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item else None
            if isinstance(label, QLabel) and label.text() in buddies:
                label.setBuddy(buddies[label.text()])

    def _connect(self) -> None:
        for editor in self._editors.values():
            editor.on_change(self._on_edit)
        self.browse_button.clicked.connect(self._browse)
        self.open_button.clicked.connect(self._open_folder)
        self.colour_button.clicked.connect(self._pick_colour)
        self.restore_button.clicked.connect(self.restore_defaults)
        self.run_on_combo.currentIndexChanged.connect(self._on_run_on)

    # -- public API ---------------------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The form's settings, validated; raises SettingsError with the first problem."""
        values = {name: getter() for name, (_, getter) in self._fields.items()}
        return Settings(**values).validated()

    def set_settings(self, settings: Settings) -> None:
        for widget, _ in self._fields.values():
            widget.blockSignals(True)
        self.run_on_combo.blockSignals(True)
        try:
            for name, editor in self._editors.items():
                if name != "cluster":
                    editor.set_value(getattr(settings, name))
            if settings.cluster:  # going back to this computer keeps the address typed for next time
                self._editors["cluster"].set_value(settings.cluster)
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
        """On a cluster the workers' threads do the downloads and resizes: the local counts and rate do not apply."""
        cluster = self._on_cluster()
        self.cluster_edit.setEnabled(cluster)
        for widget in (self.threads_spin, self.processes_spin, self.max_rate_edit):
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
        self._show_first_error()
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self.changed.emit()

    def _mark(self, name: str, widget: QWidget, error: str | None) -> None:
        widget.setToolTip(self._with_flag(name, self.in_words(name, error)) if error else self._tooltips[name])
        if bool(widget.property("invalid")) != (error is not None):
            widget.setProperty("invalid", error is not None)
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    # -- the message line -----------------------------------------------------------------------------------

    def _field_words(self) -> dict[str, str]:
        """Each field's name as its label shows it ("Sizes", "Max download size"), read from the form."""
        by_widget = {
            label.buddy(): re.sub(r"\s*\(.*\)", "", label.text().replace("&", "")).rstrip(":")
            for label in self.findChildren(QLabel)
            if label.buddy() is not None
        }
        return {
            name: by_widget.get(widget, name.replace("_", " ").capitalize())
            for name, (widget, _) in self._fields.items()
        }

    def in_words(self, name: str, error: str) -> str:
        """A field's message for the form: its label's words instead of the command's flag, as a sentence."""
        words = self._words[name]
        flag = flag_of(name)
        text = error.replace(flag, words) if flag in error else f"{words}: {error}"
        return text[:1].upper() + text[1:]

    def _with_flag(self, name: str, text: str) -> str:
        """Tooltips name the command's flag too, so what the window says can be done from a script."""
        return f"{text}\n(the command's {flag_of(name)})" if text else f"The command's {flag_of(name)}"

    def _show_first_error(self) -> None:
        name, error = next(iter(self._errors.items()), ("", ""))
        text = self.in_words(name, error) if error else ""
        self.error_label.setText(text)
        self.error_label.setToolTip(self._with_flag(name, text) if text else "")
        if bool(text) != self.error_label.isVisibleTo(self):
            self.error_label.setVisible(bool(text))
            focused = self.focusWidget()
            if focused is not None and text:  # the form's view is shorter now: keep the field typed in in sight
                self.form_scroll.ensureWidgetVisible(focused)

    def changeEvent(self, event: QEvent) -> None:
        """Keep the message's red readable when the colour scheme changes."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            # Once the change is complete: a style sheet's palette is set after its StyleChange event.
            QTimer.singleShot(0, self, self._colour_message)

    def _colour_message(self) -> None:
        palette = self.error_label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, error_color(self))
        self.error_label.setPalette(palette)

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
        current = Path(self.out_edit.text().strip()).expanduser()
        remembered = self.folders.last_folder(FolderKind.OUTPUT) if self.folders is not None else None
        start = current if current.is_absolute() and current.is_dir() else remembered or Path.home()
        chosen = QFileDialog.getExistingDirectory(self, "Output folder", str(start))
        if chosen:
            self.out_edit.setText(chosen)
            if self.folders is not None:
                self.folders.set_last_folder(FolderKind.OUTPUT, Path(chosen))

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
