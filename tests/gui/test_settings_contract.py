"""One declaration per setting: every field of Settings is a flag of `thumbnailer` with the same name and
default, and an editor of the settings panel that starts at that default and accepts the declared range.

Adding a field to Settings without a declaration, or without a row in the panel, fails here.
"""

from __future__ import annotations

from dataclasses import fields

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QSpinBox

from core.cli import build_parser, settings_from_args
from core.settings import (
    OPTIONS,
    ChoiceOption,
    FlagOption,
    FloatOption,
    IntOption,
    Option,
    Settings,
    SettingsError,
    flag_of,
)
from gui.settings_panel import SettingsPanel

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]

DEFAULTS = Settings()
NAMES = [f.name for f in fields(Settings)]
# Fields the window leaves out on purpose (none today: the output folder and the cluster are in the panel).
NOT_IN_THE_WINDOW: set[str] = set()
# Fields whose window default differs on purpose: a window has no useful working directory.
WINDOW_DEFAULT_DIFFERS = {"out"}


@pytest.fixture(scope="module")
def parser():
    return build_parser()


@pytest.fixture
def panel(qtbot) -> SettingsPanel:
    widget = SettingsPanel()
    qtbot.addWidget(widget)
    return widget


def test_every_field_is_declared() -> None:
    for f in fields(Settings):
        assert isinstance(f.metadata.get("option"), Option), f"{f.name} has no Option in its metadata"
    assert list(OPTIONS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_field_is_a_flag_with_the_same_name_and_default(parser, name: str) -> None:
    flag = flag_of(name)
    actions = [a for a in parser._actions if flag in a.option_strings]
    assert actions, f"thumbnailer has no {flag}"
    assert {a.dest for a in actions} == {name}
    given = parser.parse_args([])
    assert getattr(settings_from_args(given), name) == getattr(DEFAULTS.validated(), name)
    option = OPTIONS[name]
    if not isinstance(option, FlagOption):  # the flag takes its default written as a user would type it
        again = settings_from_args(parser.parse_args([flag, option.to_text(getattr(DEFAULTS, name))]))
        assert getattr(again, name) == getattr(DEFAULTS.validated(), name)


@pytest.mark.parametrize("name", [n for n in NAMES if isinstance(OPTIONS[n], IntOption | FloatOption)])
def test_a_flag_accepts_its_declared_range_and_nothing_outside(parser, name: str) -> None:
    option = OPTIONS[name]
    assert isinstance(option, IntOption | FloatOption)
    flag = flag_of(name)
    for inside in (option.lo, option.hi):
        assert getattr(settings_from_args(parser.parse_args([flag, str(inside)])), name) == inside
    for outside in (option.lo - 1, option.hi + 1):
        with pytest.raises(SettingsError, match=f"{flag} must be between"):
            settings_from_args(parser.parse_args([flag, str(outside)]))


@pytest.mark.parametrize("name", [n for n in NAMES if isinstance(OPTIONS[n], ChoiceOption)])
def test_a_choice_flag_offers_exactly_the_declared_choices(parser, name: str) -> None:
    option = OPTIONS[name]
    assert isinstance(option, ChoiceOption)
    (action,) = [a for a in parser._actions if flag_of(name) in a.option_strings]
    assert list(action.choices) == [c.value for c in option.choices]


@pytest.mark.parametrize("name", [n for n in NAMES if n not in NOT_IN_THE_WINDOW])
def test_every_field_has_an_editor_in_the_panel_at_its_default(panel, name: str) -> None:
    editor = panel.editors().get(name)
    assert editor is not None, f"the settings panel has no editor for {name}"
    assert panel.isAncestorOf(editor), f"the editor of {name} is not laid out in the panel"
    labelled = isinstance(editor, QCheckBox) or any(label.buddy() is editor for label in panel.findChildren(QLabel))
    assert labelled, f"the editor of {name} has no label"
    if name not in WINDOW_DEFAULT_DIFFERS:
        assert getattr(panel.settings(), name) == getattr(DEFAULTS.validated(), name)


@pytest.mark.parametrize("name", [n for n in NAMES if isinstance(OPTIONS[n], IntOption | FloatOption)])
def test_a_spin_box_has_the_declared_range(panel, name: str) -> None:
    option = OPTIONS[name]
    assert isinstance(option, IntOption | FloatOption)
    spin = panel.editors()[name]
    assert isinstance(spin, QSpinBox | QDoubleSpinBox)
    assert (spin.minimum(), spin.maximum()) == (option.lo, option.hi)


@pytest.mark.parametrize("name", [n for n in NAMES if isinstance(OPTIONS[n], ChoiceOption)])
def test_a_combo_box_offers_exactly_the_declared_choices(panel, name: str) -> None:
    option = OPTIONS[name]
    assert isinstance(option, ChoiceOption)
    combo = panel.editors()[name]
    assert isinstance(combo, QComboBox)
    assert [combo.itemData(i) for i in range(combo.count())] == [c.value for c in option.choices]
