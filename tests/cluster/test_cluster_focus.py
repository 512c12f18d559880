"""A crop chosen by hand travels with its item to a Dask worker: the same thumbnails as the local pool makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.batch.journal import Journal
from core.batch.runner import Runner
from core.imaging.focus import FocusPoint
from core.imaging.spec import Fit
from core.models import Entry, Status
from core.settings import Settings
from tests.support.images import is_red, salient_disc

pytestmark = pytest.mark.slow


def _made(qtbot, out: Path, cluster: str, entry: Entry) -> list[Path]:
    settings = Settings(out=out, cluster=cluster, fit=Fit.COVER, size=(64, 160), processes=1, threads=2)
    runner = Runner(settings, [entry])
    with qtbot.waitSignal(runner.finished, timeout=90_000) as blocker:
        runner.start()
    assert blocker.args[0].fatal is None
    with Journal(out, lock=False) as j:
        (item,) = j.items(blocker.args[0].run_id)
    assert item.status == Status.DONE and item.focus == entry.focus
    return [out / o.path for o in item.outputs]


def test_a_point_chosen_by_hand_is_cut_the_same_on_the_cluster(qtbot, dask_cluster, tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    salient_disc((1200, 400), (150, 200), 130).save(wide)
    entry = Entry(wide.as_uri(), wide.as_uri(), focus=FocusPoint(0.1, 0.5))
    local = _made(qtbot, tmp_path / "local", "", entry)
    remote = _made(qtbot, tmp_path / "cluster", dask_cluster.address, entry)
    assert [p.read_bytes() for p in remote] == [p.read_bytes() for p in local]
    for path in remote:
        thumb = Image.open(path).convert("RGB")
        assert is_red(thumb.getpixel((thumb.width // 3, thumb.height // 2)))
