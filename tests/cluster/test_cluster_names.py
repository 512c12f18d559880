"""Names on a Dask cluster: the journal's names, the same as on this machine (a folder's tree, clashes, templates)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.batch.runner import Runner
from core.models import Summary
from core.settings import Settings
from core.sources import iter_entries

pytestmark = pytest.mark.slow


def _made(out: Path) -> list[str]:
    return sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".thumbnailer" not in p.parts
    )


def _run(qtbot, out: Path, sources: list[str], cluster: str = "") -> Summary:
    settings = Settings(out=out, cluster=cluster, size=(64, 128), name="{dir}/{stem}_{width}", processes=1)
    runner = Runner(settings.validated(), iter_entries(sources))
    with qtbot.waitSignal(runner.finished, timeout=90_000) as blocker:
        runner.start()
    return blocker.args[0]


def test_the_cluster_names_thumbnails_as_this_machine_does(qtbot, http_server, dask_cluster, tmp_path: Path) -> None:
    src = tmp_path / "SRC"
    for rel in ("2023/summer/IMG_0001.JPG", "2024/IMG_0001.JPG"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (300, 200), "navy").save(src / rel, "JPEG")
    sources = [
        str(src),
        http_server.url("/img/a/IMG_0001.jpg?w=300&h=200"),
        http_server.url("/img/a/IMG_0001.jpg?w=400&h=300"),
    ]

    local = _run(qtbot, tmp_path / "local", sources)
    remote = _run(qtbot, tmp_path / "cluster", sources, dask_cluster.address)
    assert local.done == remote.done == 4
    assert _made(tmp_path / "cluster") == _made(tmp_path / "local") == [
        "2023/summer/IMG_0001_128_128.jpg", "2023/summer/IMG_0001_64_64.jpg",
        "2024/IMG_0001_128_128.jpg", "2024/IMG_0001_64_64.jpg",
        "img/a/IMG_0001_128-2_128.jpg", "img/a/IMG_0001_128_128.jpg",  # a clash's -2 ends the item's name
        "img/a/IMG_0001_64-2_64.jpg", "img/a/IMG_0001_64_64.jpg",
    ]  # fmt: skip
