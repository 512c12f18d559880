"""Identical downloads are decoded once: real downloads from the loopback server, real resizer processes, the real
command and report. Each item still gets its own files; the report's `duplicate_of` names the item decoded."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from core.batch.backends.dedup import Twin, Twins
from core.batch.backends.resize_pool import start_pool
from core.batch.runner import Runner
from core.download.fetch import Downloader, Fetched, content_digest
from core.download.shared_spool import SharedSpool
from core.imaging.jobs import JobOutcome, ResizeJob
from core.imaging.spec import ResizeResult
from core.models import Entry, Output, Progress, Status, Summary
from core.settings import Settings
from tests.support.command import thumbnailer
from tests.support.fetching import FAST, downloader_fixture, never  # noqa: F401 -- the `downloader` fixture
from tests.support.loopback import LoopbackServer, image_bytes


def _blake(data: bytes) -> str:
    return content_digest(data)


def _mirrors(server: LoopbackServer, body: bytes, *paths: str) -> list[str]:
    return [server.add(path, body, {"Content-Type": "image/jpeg"}) for path in paths]


def _run(qtbot, runner: Runner) -> tuple[Summary, dict[str, object]]:
    last: dict[str, object] = {}

    def seen(p: Progress) -> None:
        last.update((u.key, u) for u in p.updates)

    runner.progress.connect(seen)
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    return blocker.args[0], last


def test_identical_downloads_are_decoded_once_and_each_item_gets_its_own_files(
    qtbot, http_server: LoopbackServer, tmp_path: Path
) -> None:
    photo = image_bytes("mirrored", "jpg", 800, 600)
    twins = _mirrors(http_server, photo, "/cdn-a/photo.jpg", "/cdn-b/photo.jpg", "/mirror/copy.jpg", "/feed/again.jpg")
    other = _mirrors(http_server, image_bytes("other", "jpg", 640, 480), "/other.jpg")
    settings = Settings(out=tmp_path / "out", processes=1, threads=4, size=(64, 200)).validated()
    pool = start_pool(settings)
    decoded: list[ResizeJob] = []
    submit = pool.submit

    def counting(job: ResizeJob, callback: Callable[[JobOutcome], None]) -> None:
        decoded.append(job)
        submit(job, callback)

    pool.submit = counting  # type: ignore[method-assign]  # counts the real pool's jobs, which still run
    summary, last = _run(qtbot, Runner(settings, [Entry(u, u) for u in twins + other], pool=pool))

    assert (summary.done, summary.failed) == (5, 0)
    assert len(decoded) == 2  # one decode per distinct content
    (first,) = [last[u] for u in twins if last[u].duplicate_of is None]
    assert {last[u].duplicate_of for u in twins} == {None, first.url}
    assert last[other[0]].duplicate_of is None
    paths = [o.path for u in twins + other for o in last[u].outputs]
    assert len(paths) == len(set(paths)) == 10  # every item has its own two files
    out = settings.out
    for url in twins:
        item = last[url]
        assert (item.status, item.source_width, item.source_height, item.bytes) == (Status.DONE, 800, 600, len(photo))
        for mine, theirs in zip(item.outputs, first.outputs, strict=True):
            assert (out / mine.path).read_bytes() == (out / theirs.path).read_bytes()
            assert (mine.width, mine.height, mine.bytes) == (theirs.width, theirs.height, theirs.bytes)
            with Image.open(out / mine.path) as im:
                assert im.size == (mine.width, mine.height)
    assert not [p for p in out.rglob("*.tmp")]


def _decoded_and_twin(items: dict[str, dict], pair: list[str]) -> bool:
    """One of the two was decoded (whichever download ended first); the other names it in `duplicate_of`."""
    a, b = pair
    return [items[a]["duplicate_of"], items[b]["duplicate_of"]] in ([None, a], [b, None])


def test_the_report_says_duplicate_of_and_a_failure_is_shared_by_its_twins(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    big = image_bytes("big", "png", 1200, 1000)
    too_big = _mirrors(http_server, big, "/a/big.png", "/b/big.png")
    small = _mirrors(http_server, image_bytes("small", "jpg", 300, 200), "/a/small.jpg", "/b/small.jpg")
    out, report = tmp_path / "out", tmp_path / "report.json"
    result = thumbnailer(
        *too_big, *small, "-o", str(out), "--report", str(report), "--max-pixels", "1M", "--processes", "1"
    )
    assert result.returncode == 1, result.stderr
    items = {i["url"]: i for i in json.loads(report.read_text())["items"]}
    assert _decoded_and_twin(items, small) and [items[u]["status"] for u in small] == ["done", "done"]
    assert _decoded_and_twin(items, too_big) and [items[u]["status"] for u in too_big] == ["failed", "failed"]
    assert items[too_big[0]]["error"] == items[too_big[1]]["error"] and "--max-pixels" in items[too_big[0]]["error"]

    csv_report = tmp_path / "report.csv"
    again = thumbnailer(*small, "-o", str(tmp_path / "out2"), "--report", str(csv_report), "--processes", "1")
    assert again.returncode == 0, again.stderr
    with csv_report.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["duplicate_of"] for r in rows) in (["", small[0]], ["", small[1]])


def test_every_download_path_hashes_the_bytes_it_passes(
    http_server: LoopbackServer, tmp_path: Path, downloader: Downloader
) -> None:
    body = image_bytes("hashed", "jpg", 320, 240)
    url = http_server.add("/hashed.jpg", body, {"Content-Type": "image/jpeg"})
    spool = tmp_path / "spool"
    shared = SharedSpool.open(slots=1, slot_bytes=1024 * 1024)
    assert shared is not None
    try:
        in_slot = downloader.fetch(url, spool, FAST, never, shared=shared)  # plain, known length: read into a slot
        assert in_slot.slot is not None and in_slot.digest == _blake(body)
        shared.give_back(in_slot.slot)
    finally:
        shared.close()
    for query in ("", "?nolength=1", "?gzip=1"):  # to a spool file: streamed, chunked, decompressed
        got = downloader.fetch(url + query, spool, FAST, never)
        assert got.spooled and got.digest == _blake(body)
        got.local_path().unlink()
    local = tmp_path / "local.jpg"
    local.write_bytes(body)
    assert downloader.fetch(local.as_uri(), spool, FAST, never).digest is None  # read in place: not hashed


def _fetched(url: str) -> Fetched:
    return Fetched(None, url, 200, 10, spooled=False, digest="d")


def _made() -> JobOutcome:
    return JobOutcome(result=ResizeResult(10, 10, [Output("a.jpg", 10, 10, 100)]))


def test_a_twin_waits_for_its_first_or_takes_its_known_outcome_and_old_contents_are_forgotten() -> None:
    finished: list[tuple[str, str, JobOutcome]] = []
    twins = Twins(lambda twin, first, outcome: finished.append((twin.key, first, outcome)), remembered=2)
    assert twins.claim("d1", Twin("a", "http://a", _fetched("http://a/final")))  # the first: decode it
    assert not twins.claim("d1", Twin("b", "http://b", _fetched("http://b")))  # waits: a is resizing
    assert finished == []
    made = _made()
    twins.settle("d1", made)
    assert finished == [("b", "http://a/final", made)]
    assert not twins.claim("d1", Twin("c", "http://c", _fetched("http://c")))  # a is made: c is finished at once
    assert finished[-1] == ("c", "http://a/final", made)

    for n in (2, 3):
        assert twins.claim(f"d{n}", Twin(f"k{n}", f"http://{n}", _fetched(f"http://{n}")))
        twins.settle(f"d{n}", made)
    assert twins.claim("d1", Twin("e", "http://e", _fetched("http://e")))  # d1 was the oldest: forgotten

    cancelled = JobOutcome(cancelled=True)
    assert twins.claim("d9", Twin("f", "http://f", _fetched("http://f")))
    assert not twins.claim("d9", Twin("g", "http://g", _fetched("http://g")))
    twins.settle("d9", cancelled)
    assert finished[-1] == ("g", "http://f", cancelled)  # the backend makes it Aborted: it stays to do
    assert twins.claim("d9", Twin("h", "http://h", _fetched("http://h")))  # a cancel says nothing of the bytes
