"""Downloads handed to the resizers in shared memory: which ones take a slot, that nothing is held after a
failure, that a resizer process reads the same bytes, and that a batch leaves no shared memory behind."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from multiprocessing import shared_memory
from pathlib import Path

import pytest
from PIL import Image

from core.batch.backends.resize_pool import ResizePool
from core.batch.runner import Runner
from core.download import shared_spool
from core.download.fetch import Aborted, Downloader, Fetched, FetchError
from core.download.limits import FetchLimits
from core.download.shared_spool import SharedSpool
from core.imaging.jobs import JobOutcome, ResizeJob
from core.imaging.resize import ResizeSpec
from core.models import Entry
from core.settings import Settings, format_bytes
from tests.support.fetching import FAST, downloader_fixture, never  # noqa: F401 -- the `downloader` fixture
from tests.support.harness import wait_until
from tests.support.loopback import LoopbackServer, image_bytes
from tests.support.pngs import noise


@pytest.fixture
def shared() -> Iterator[SharedSpool]:
    spool = SharedSpool.open(slots=2, slot_bytes=256 * 1024)
    assert spool is not None, "no shared memory on this machine"
    yield spool
    spool.close()


def _free_slots(spool: SharedSpool) -> int:
    taken = []
    while (slot := spool.take(1)) is not None:
        taken.append(slot)
    for slot in taken:
        spool.give_back(slot)
    return len(taken)


def test_a_download_of_known_size_lands_in_a_slot_and_reads_back(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    body = image_bytes("photo", "jpg", width=120, height=90)
    url = http_server.add("/photo.jpg", body, {"Content-Type": "image/jpeg"})
    got = downloader.fetch(url, tmp_path / "spool", FAST, never, shared=shared)
    assert got.path is None and got.slot is not None
    assert (got.bytes, got.slot.length) == (len(body), len(body))
    assert shared_spool.read(got.slot) == body
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").iterdir())
    assert _free_slots(shared) == 1
    shared.give_back(got.slot)
    assert _free_slots(shared) == 2


def _large_png(server: LoopbackServer) -> str:
    data = io.BytesIO()
    noise("RGB", (400, 300)).save(data, "PNG")  # about 360 KB of noise: more than a 256 KB slot
    return server.add("/large.png", data.getvalue(), {"Content-Type": "image/png"})


@pytest.mark.parametrize(
    "url",
    [lambda s: s.url("/img/a.png?gzip=1"), lambda s: s.url("/img/a.png?nolength=1"), _large_png],
    ids=["compressed: size unknown", "chunked: size unknown", "larger than a slot"],
)
def test_other_downloads_go_to_a_spool_file(
    http_server: LoopbackServer,
    tmp_path: Path,
    shared: SharedSpool,
    url: Callable[[LoopbackServer], str],
    downloader: Downloader,
) -> None:
    got = downloader.fetch(url(http_server), tmp_path / "spool", FAST, never, shared=shared)
    assert got.slot is None and got.spooled and got.path is not None and got.path.exists()
    with Image.open(got.path) as im:
        assert im.format == "PNG"
    assert _free_slots(shared) == 2


def test_when_every_slot_is_taken_downloads_go_to_spool_files(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    held = [
        downloader.fetch(http_server.url(f"/img/{i}.jpg"), tmp_path / "s", FAST, never, shared=shared) for i in range(3)
    ]
    assert [f.slot is not None for f in held] == [True, True, False]
    assert held[2].path is not None and held[2].path.exists()


def test_a_failed_download_gives_its_slot_back(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    for path in ("/html/login", "/hangup/a.jpg?w=300&h=200"):  # not an image; cut off half way
        with pytest.raises(FetchError):
            downloader.fetch(http_server.url(path), tmp_path / "spool", FAST, never, shared=shared)
    assert _free_slots(shared) == 2


def test_downloads_into_slots_keep_their_connection_alive(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    counted: list[int] = []
    for i in range(5):
        got = downloader.fetch(
            http_server.url(f"/img/k{i}.jpg?w=200&h=150"), tmp_path / "spool", FAST, never, counted.append
        )
        got = downloader.fetch(
            http_server.url(f"/img/s{i}.jpg?w=200&h=150"), tmp_path / "spool", FAST, never, None, shared
        )
        assert got.slot is not None and shared_spool.read(got.slot) == image_bytes(f"s{i}", "jpg", 200, 150)
        shared.give_back(got.slot)
    assert http_server.connections_opened == 1


def test_a_short_answer_that_is_not_an_image_is_refused_as_with_a_spool_file(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    """The sniffers see the body only, not the rest of the slot."""
    url = http_server.add("/error.jpg", b'{"error": "not found"}\n', {"Content-Type": "image/jpeg"})
    messages = []
    for spool in (None, shared):
        with pytest.raises(FetchError) as info:
            downloader.fetch(url, tmp_path / "spool", FAST, never, shared=spool)
        messages.append(info.value.message)
    assert messages[0] == messages[1] and "JSON" in messages[0]
    assert _free_slots(shared) == 2


def test_a_tls_download_lands_in_a_slot(
    https_server: LoopbackServer,
    tls_cert: tuple[Path, Path],
    tmp_path: Path,
    shared: SharedSpool,
    monkeypatch: pytest.MonkeyPatch,
    downloader: Downloader,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    got = downloader.fetch(
        https_server.url("/img/secure.jpg?w=300&h=200"), tmp_path / "spool", FAST, never, shared=shared
    )
    assert got.slot is not None and shared_spool.read(got.slot) == image_bytes("secure", "jpg", 300, 200)


def test_a_hang_up_mid_body_says_the_same_as_with_a_spool_file(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    url = http_server.url("/hangup/half.jpg?w=600&h=600")
    errors = []
    for spool in (None, shared):
        with pytest.raises(FetchError) as info:
            downloader.fetch(url, tmp_path / "spool", FAST, never, shared=spool)
        errors.append((info.value.message, info.value.retryable))
    size = len(image_bytes("half", "jpg", 600, 600))
    assert errors == [(f"connection closed after {format_bytes(size // 2)} of {format_bytes(size)}", True)] * 2
    assert _free_slots(shared) == 2


def test_a_slow_drip_into_a_slot_is_cut_by_the_total_timeout(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    counted: list[int] = []
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        downloader.fetch(
            http_server.url("/drip/slow.jpg?bps=40"),
            tmp_path / "s",
            FetchLimits(timeout=1.5),
            never,
            counted.append,
            shared,
        )
    assert info.value.message.startswith("download took longer than --timeout 1.5 s (got ")
    assert counted and 1.4 < time.monotonic() - started < 3
    assert _free_slots(shared) == 2


def test_cancelling_a_download_into_a_slot_frees_it(
    http_server: LoopbackServer, tmp_path: Path, shared: SharedSpool, downloader: Downloader
) -> None:
    cancel = threading.Event()
    with pytest.raises(Aborted):
        url = http_server.url("/drip/big.png?w=200&h=200&bps=100")
        downloader.fetch(url, tmp_path / "spool", FAST, cancel.is_set, lambda n: cancel.set(), shared)
    assert _free_slots(shared) == 2


def test_a_full_shared_memory_folder_refuses_the_slot_instead_of_crashing(
    http_server: LoopbackServer,
    tmp_path: Path,
    shared: SharedSpool,
    monkeypatch: pytest.MonkeyPatch,
    downloader: Downloader,
) -> None:
    """Writing into unreserved pages of a full /dev/shm would kill the process with SIGBUS."""

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    got = downloader.fetch(http_server.url("/img/a.jpg"), tmp_path / "spool", FAST, never, shared=shared)
    assert got.slot is None and got.path is not None and got.path.exists()
    monkeypatch.undo()
    assert _free_slots(shared) == 2  # and usable once there is room again


def test_a_resizer_process_makes_the_same_thumbnail_from_a_slot(tmp_path: Path, shared: SharedSpool) -> None:
    src = tmp_path / "cut-out.png"
    im = noise("RGBA", (300, 200))
    im.putalpha(Image.radial_gradient("L").resize(im.size))
    im.save(src)
    data = src.read_bytes()
    spool = SharedSpool.open(slots=1, slot_bytes=len(data))
    assert spool is not None
    slot = spool.take(len(data))
    assert slot is not None
    view = spool.view(slot)
    view[: len(data)] = data
    view.release()
    held = shared_spool.Slot(slot.name, slot.offset, slot.capacity, len(data))
    pool = ResizePool(1)
    outcomes: dict[str, JobOutcome] = {}
    both = threading.Event()

    def collect(name: str, outcome: JobOutcome) -> None:
        outcomes[name] = outcome
        if len(outcomes) == 2:
            both.set()

    try:
        for name, source in (("from-slot", held), ("from-file", str(src))):
            pool.submit(ResizeJob(source, str(tmp_path / name), "a", ResizeSpec(sizes=(64,))), partial(collect, name))
        assert both.wait(60)
    finally:
        pool.shutdown()
        spool.close()
    assert all(o.result is not None for o in outcomes.values()), outcomes
    assert (tmp_path / "from-slot" / "a.png").read_bytes() == (tmp_path / "from-file" / "a.png").read_bytes()


def test_closing_frees_the_shared_memory(shared: SharedSpool) -> None:
    name = shared.name
    shared_memory.SharedMemory(name=name).close()  # there while open
    shared.close()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=name)


def test_fetched_without_a_shared_spool_always_has_a_path(
    http_server: LoopbackServer, tmp_path: Path, downloader: Downloader
) -> None:
    got = downloader.fetch(http_server.url("/img/a.jpg"), tmp_path / "spool", FAST, never)
    assert isinstance(got, Fetched) and got.slot is None and got.local_path().exists()


def test_a_batch_hands_downloads_over_in_shared_memory_and_frees_it(
    qtbot, http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[shared_spool.Slot] = []
    real_take = SharedSpool.take

    def take(self: SharedSpool, length: int) -> shared_spool.Slot | None:
        slot = real_take(self, length)
        if slot is not None:
            taken.append(slot)
        return slot

    monkeypatch.setattr(SharedSpool, "take", take)
    urls = [http_server.url(f"/img/p{i}.jpg?w=640&h=480") for i in range(6)] + [http_server.url("/img/c.png?alpha=1")]
    runner = Runner(Settings(out=tmp_path / "out", processes=2, threads=4), (Entry(u, u) for u in urls))
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    summary = blocker.args[0]
    assert (summary.done, summary.failed) == (7, 0)
    assert len(taken) == 7
    made = sorted(p.suffix for p in (tmp_path / "out").iterdir() if p.is_file())
    assert made == [".jpg"] * 6 + [".png"]
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=taken[0].name)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="POSIX shared memory is listed in /dev/shm on Linux only")
def test_a_killed_command_leaves_no_shared_memory(qapp, http_server: LoopbackServer, tmp_path: Path) -> None:
    def segments() -> set[str]:
        return {p.name for p in Path("/dev/shm").glob("psm_*")}

    before = segments()
    listing = tmp_path / "list.txt"
    listing.write_text("".join(http_server.url(f"/drip/d{i}.jpg?bps=2000") + "\n" for i in range(8)))
    command = [sys.executable, "-m", "core.cli", str(listing), "--quiet", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: bool(segments() - before) and http_server.in_flight >= 2, 30, "a batch with shared memory")
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)
    wait_until(
        lambda: not segments() - before, 10, "its shared memory freed"
    )  # Python's resource tracker, left behind, frees it
    assert "Traceback" not in stderr, stderr  # the resizers, finding their program gone, end quietly
