"""The settings form and its QSettings store: round trips, validation as typed, defaults, locking."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QStyle, QStyleOptionComboBox

import gui.settings_panel
from core.settings import Fit, Format, Settings, SettingsError
from gui.settings_panel import SettingsPanel
from gui.settings_store import SettingsStore, default_settings

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def ini(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def custom_settings(out: Path) -> Settings:
    return Settings(
        out=out,
        size=(128, 512),
        fit="cover",
        upscale=True,
        format="webp",
        quality=70,
        background="#202020",
        keep_metadata=True,
        threads=4,
        per_host=2,
        timeout=12.0,
        retries=1,
        max_bytes=5 * 1024**2,
        max_pixels=20_000_000,
        processes=1,
        user_agent="Test/1.0",
        cluster="tcp://scheduler.example:8786",
    ).validated()


@pytest.fixture
def panel(qtbot) -> SettingsPanel:
    widget = SettingsPanel()
    qtbot.addWidget(widget)
    return widget


def test_store_round_trip_through_an_ini_file(tmp_path):
    saved = custom_settings(tmp_path / "thumbs")
    SettingsStore(ini(tmp_path / "app.ini")).save(saved)
    assert "user_agent=Test/1.0" in (tmp_path / "app.ini").read_text()
    assert SettingsStore(ini(tmp_path / "app.ini")).load() == saved


def test_store_without_saved_values_gives_defaults_with_an_absolute_folder(tmp_path):
    loaded = SettingsStore(ini(tmp_path / "empty.ini")).load()
    assert loaded == default_settings()
    assert loaded.out.is_absolute()
    assert loaded.size == Settings().size and loaded.threads == Settings().threads


def test_store_replaces_only_the_broken_values_of_a_hand_edited_file(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text("[batch]\nquality=loud\nsize=0\nthreads=3\nfit=cover\n")
    loaded = SettingsStore(ini(path)).load()
    assert loaded.quality == Settings().quality
    assert loaded.size == Settings().size
    assert (loaded.threads, loaded.fit) == (3, "cover")


def test_store_keeps_the_window_layout(tmp_path, qtbot):
    store = SettingsStore(ini(tmp_path / "app.ini"))
    assert store.load_window() == (None, None)
    store.save_window(QByteArray(b"geometry"), QByteArray(b"state"))
    geometry, state = SettingsStore(ini(tmp_path / "app.ini")).load_window()
    assert (bytes(geometry.data()), bytes(state.data())) == (b"geometry", b"state")


def test_panel_shows_and_returns_every_option(panel, tmp_path):
    saved = custom_settings(tmp_path / "thumbs")
    panel.set_settings(saved)
    assert panel.size_edit.text() == "128, 512"
    assert panel.max_bytes_edit.text() == "5M"
    assert panel.max_pixels_edit.text() == "20M"
    assert panel.fit_combo.currentData() == "cover"
    assert panel.settings() == saved
    assert panel.is_valid()


def test_panel_reads_what_a_user_types(panel, qtbot, tmp_path):
    for edit, text in (
        (panel.out_edit, str(tmp_path / "out")),
        (panel.size_edit, "512 128"),
        (panel.max_bytes_edit, "512K"),
        (panel.max_pixels_edit, "4000x3000"),
        (panel.background_edit, "rgb(10, 20, 30)"),
    ):
        edit.selectAll()
        qtbot.keyClicks(edit, text)
    panel.format_combo.setCurrentIndex(panel.format_combo.findData("png"))
    panel.threads_spin.setValue(8)
    panel.upscale_check.setChecked(True)
    got = panel.settings()
    assert got.out == tmp_path / "out"
    assert got.size == (128, 512)
    assert got.max_bytes == 512 * 1024
    assert got.max_pixels == 12_000_000
    assert got.background == "rgb(10, 20, 30)"
    assert (got.format, got.threads, got.upscale) == ("png", 8, True)


@pytest.mark.parametrize(
    ("field", "text", "words"),
    [
        ("size_edit", "big", "'big' is not one"),
        ("size_edit", "9000", "between 1 and 8192"),
        ("size_edit", "", "at least one size"),
        ("background_edit", "not-a-colour", "not a colour"),
        ("max_bytes_edit", "12Q", "not a byte count"),
        ("max_pixels_edit", "lots", "not a pixel count"),
        ("user_agent_edit", "   ", "one non-empty line"),
        ("out_edit", "relative/folder", "full path"),
        ("out_edit", "", "choose an output folder"),
    ],
)
def test_a_bad_value_is_marked_as_typed(panel, qtbot, field, text, words):
    edit: QLineEdit = getattr(panel, field)
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        edit.setText(text)
    assert blocker.args == [False]
    assert edit.property("invalid") is True
    assert words in edit.toolTip()
    assert words.lower() in panel.error_label.text().lower() and not panel.error_label.isHidden()
    with pytest.raises(SettingsError, match=words.replace("(", r"\(")):
        panel.settings()
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        panel.restore_defaults()
    assert blocker.args == [True]
    assert edit.property("invalid") is False
    assert words not in edit.toolTip()
    assert panel.error_label.isHidden()


def test_an_output_path_that_is_a_file_is_refused(panel, tmp_path):
    (tmp_path / "file.jpg").write_bytes(b"x")
    panel.out_edit.setText(str(tmp_path / "file.jpg"))
    assert "is a file, not a folder" in panel.errors()["out"]


def test_restore_defaults_resets_every_field(panel, tmp_path):
    panel.set_settings(custom_settings(tmp_path / "thumbs"))
    panel.restore_button.click()
    assert panel.settings() == default_settings()


def test_background_swatch_follows_the_text(panel):
    panel.background_edit.setText("#ff0000")
    image = panel.colour_button.icon().pixmap(16, 16).toImage()
    assert image.pixelColor(8, 8).name() == "#ff0000"
    panel.background_edit.setText("nope")
    assert panel.colour_button.icon().isNull() and panel.colour_button.text() == "?"


def test_locked_panel_keeps_only_open_folder_usable(panel):
    panel.set_locked(True)
    assert not panel.size_edit.isEnabled()
    assert not panel.threads_spin.isEnabled()
    assert not panel.restore_button.isEnabled()
    assert not panel.browse_button.isEnabled()
    assert panel.open_button.isEnabled()
    panel.set_locked(False)
    assert panel.size_edit.isEnabled() and panel.restore_button.isEnabled()


def test_every_field_is_keyboard_reachable_and_labelled(panel):
    buddies = {label.buddy() for label in panel.findChildren(QLabel) if label.buddy() is not None}
    for name, widget in panel.editors().items():
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus, name
        if isinstance(widget, QCheckBox):  # check boxes carry their own mnemonic
            assert "&" in widget.text(), f"{name} has no mnemonic"
        else:
            assert widget in buddies, f"{name} has no label with a mnemonic"


def test_max_rate_is_typed_like_a_size_and_empty_means_no_limit(panel):
    """No limit shows as an empty field saying so, not as a rate of 0; typing 0, as for --max-rate, still works."""
    assert panel.max_rate_edit.text() == "" and panel.max_rate_edit.placeholderText() == "no limit"
    assert panel.settings().max_rate == 0 and "empty (or 0) for no limit" in panel.max_rate_edit.toolTip()
    panel.max_rate_edit.setText("0")
    assert panel.is_valid() and panel.settings().max_rate == 0
    panel.max_rate_edit.setText("2M")
    assert panel.settings().max_rate == 2 * 1024**2
    panel.max_rate_edit.setText("fast")
    assert not panel.is_valid() and "max_rate" in panel.errors()


def test_run_on_a_cluster_needs_an_address_and_checks_it(panel, qtbot):
    assert panel.settings().cluster == "" and not panel.cluster_edit.isEnabled()
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        panel.run_on_combo.setCurrentIndex(panel.run_on_combo.findData("cluster"))
    assert blocker.args == [False]
    assert panel.cluster_edit.isEnabled() and not panel.threads_spin.isEnabled()
    assert not panel.max_rate_edit.isEnabled()  # a cluster's downloads are not this computer's
    assert "enter the Dask scheduler's address" in panel.errors()["cluster"]
    panel.cluster_edit.setText("tcp://sched uler:8786")
    assert "not a Dask scheduler address" in panel.errors()["cluster"]
    assert panel.cluster_edit.property("invalid") is True
    panel.cluster_edit.setText("sched:8786")
    assert panel.is_valid() and panel.settings().cluster == "tcp://sched:8786"
    panel.run_on_combo.setCurrentIndex(panel.run_on_combo.findData("local"))
    assert panel.settings().cluster == "" and panel.threads_spin.isEnabled()
    assert panel.cluster_edit.text() == "sched:8786"  # kept for the next time the cluster is chosen


def test_without_dask_the_cluster_choice_is_offered_but_disabled_with_the_reason(qtbot, monkeypatch):
    monkeypatch.setattr(gui.settings_panel, "dask_installed", lambda: False)
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    index = panel.run_on_combo.findData("cluster")
    assert not panel.run_on_combo.model().item(index).isEnabled()
    assert "batch-thumbnailer[cluster]" in panel.run_on_combo.itemData(index, Qt.ItemDataRole.ToolTipRole)


def test_the_auto_format_says_what_it_writes(panel):
    """Auto is not "like the source": a transparent image becomes PNG, anything else JPEG (the tooltip says which)."""
    auto = panel.format_combo.findData(Format.AUTO)
    assert panel.format_combo.itemText(auto) == "Auto (JPEG or PNG)"
    assert "PNG where the image has transparency, else JPEG" in panel.format_combo.toolTip()


@pytest.mark.parametrize("name", ["fit_combo", "crop_combo", "format_combo"])
def test_the_choices_are_whole_in_their_combo_at_the_window_s_default_size(window, qtbot, name):
    """Short labels, not cut off in the settings panel as the window first opens; the tooltips explain."""
    window.show()
    qtbot.waitExposed(window)
    combo = getattr(window.settings_panel, name)
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, combo
    )
    for i in range(combo.count()):
        assert combo.fontMetrics().horizontalAdvance(combo.itemText(i)) <= field.width(), combo.itemText(i)


def test_the_fit_tooltip_explains_each_choice(panel):
    assert [panel.fit_combo.itemData(i) for i in range(3)] == [Fit.CONTAIN, Fit.COVER, Fit.PAD]
    assert [panel.fit_combo.itemText(i) for i in range(3)] == [
        "Contain (whole image)",
        "Cover (fill, crop)",
        "Pad (exact box)",
    ]
    for words in (
        "Contain: the whole image, inside the box",
        "Cover: fills the box, the edges cropped",
        "Pad: the whole image in the middle of the exact box",
    ):
        assert words in panel.fit_combo.toolTip()
