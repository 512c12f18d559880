"""Names from the window: the File names field (--name) checked as typed, and a batch named by it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.models import Status
from core.settings import SettingsError
from tests.support.window import make_window, wait_summary

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")]


def _made(out: Path) -> list[str]:
    return sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".thumbnailer" not in p.parts
    )


def test_a_template_that_cannot_be_used_is_marked_as_typed_with_the_command_s_words(qtbot, tmp_path: Path) -> None:
    panel = make_window(qtbot, tmp_path).settings_panel
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        panel.name_edit.setText("../{stem}")
    assert blocker.args == [False]
    assert panel.name_edit.property("invalid") is True
    tip = panel.name_edit.toolTip()
    assert "'../{stem}' cannot be used: '..': a folder or file name cannot start with '.'" in tip
    assert "--name" in tip
    with pytest.raises(SettingsError, match=r"cannot start with '\.'"):
        panel.settings()
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        panel.name_edit.setText("{dir}/{stem}_{size}")
    assert blocker.args == [True]
    assert panel.settings().name == "{dir}/{stem}_{size}"


def test_a_folder_queued_in_the_window_keeps_its_tree_or_takes_the_template_typed(qtbot, tmp_path: Path) -> None:
    src = tmp_path / "SRC"
    for rel in ("2023/summer/IMG_0001.JPG", "2024/winter/IMG_0001.JPG"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (300, 200), (20, 120, 220)).save(src / rel, "JPEG")

    window = make_window(qtbot, tmp_path, size=(64, 128))
    window.add_sources([str(src)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 2 and not window.loader.is_busy)
    window.start_action.trigger()
    wait_summary(qtbot, window)
    assert window.model.counts()[Status.DONE] == 2
    assert _made(tmp_path / "out") == [
        "2023/summer/IMG_0001_128.jpg", "2023/summer/IMG_0001_64.jpg",
        "2024/winter/IMG_0001_128.jpg", "2024/winter/IMG_0001_64.jpg",
    ]  # fmt: skip

    (tmp_path / "second").mkdir()
    named = make_window(qtbot, tmp_path / "second", size=(64, 128))
    named.settings_panel.name_edit.selectAll()
    qtbot.keyClicks(named.settings_panel.name_edit, "{stem}/{size}")
    named.add_sources([str(src)])
    qtbot.waitUntil(lambda: named.model.rowCount() == 2 and not named.loader.is_busy)
    named.start_action.trigger()
    wait_summary(qtbot, named)
    # Both files are IMG_0001: the second one, in input order, gets -2.
    assert _made(tmp_path / "second" / "out") == [
        "IMG_0001/128-2.jpg", "IMG_0001/128.jpg", "IMG_0001/64-2.jpg", "IMG_0001/64.jpg",
    ]  # fmt: skip
