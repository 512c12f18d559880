"""Batches on a real Dask cluster (LocalCluster worker processes) over the loopback HTTP server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import core.batch.backends.dask
from core.batch.journal import Journal
from core.batch.report import write_report
from core.batch.runner import Runner
from core.models import Entry, Status, Summary
from core.settings import Settings
from tests.support import damaged

pytestmark = pytest.mark.slow


def _settings(out: Path, cluster: str = "", **kw) -> Settings:
    kw.setdefault("processes", 2)
    kw.setdefault("threads", 4)
    kw.setdefault("retries", 1)
    kw.setdefault("timeout", 15)
    return Settings(out=out, cluster=cluster, **kw)


def _run(qtbot, runner: Runner, timeout: int = 90_000) -> Summary:
    with qtbot.waitSignal(runner.finished, timeout=timeout) as blocker:
        runner.start()
    return blocker.args[0]


def _report(out: Path, run_id: int) -> list[dict]:
    """The report's items with what is allowed to differ between runs taken out: timing, the folder's name."""
    dest = out.parent / f"{out.name}-report.json"
    write_report(out, run_id, dest)
    items = json.loads(dest.read_text())["items"]
    for item in items:
        item.pop("seconds")
        for o in item["outputs"]:
            o["path"] = str(Path(o["path"]).relative_to(out))
    return sorted(items, key=lambda i: i["source"])


def _thumbnails(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def test_same_list_gives_same_thumbnails_and_report_as_the_local_pool(
    qtbot, http_server, dask_cluster, tmp_path: Path
) -> None:
    photo = tmp_path / "local photo.png"
    Image.new("RGB", (500, 300), "green").save(photo)
    urls = [http_server.url(f"/img/p{i}.jpg?w=640&h=480&exif={1 + i % 8}") for i in range(10)]
    urls += [http_server.url(f"/img/t{i}.png?w=300&h=600&alpha=1") for i in range(3)]
    urls += [http_server.url("/status/404"), http_server.url("/html"), photo.as_uri()]
    urls += [http_server.add("/cut.png", damaged.png_cut().data, {"Content-Type": "image/png"})]  # done, warned
    entries = [Entry(u, u) for u in urls] + [Entry("ftp://nope/x.jpg", None, error="unsupported URL scheme ftp:")]

    local = _run(qtbot, Runner(_settings(tmp_path / "local", size=(64, 200)), entries))
    remote = _run(qtbot, Runner(_settings(tmp_path / "cluster", dask_cluster.address, size=(64, 200)), entries))

    assert remote.fatal is None
    assert (remote.total, remote.done, remote.failed, remote.invalid, remote.warned) == (18, 15, 2, 1, 1)
    assert (local.done, local.failed, local.invalid, local.warned) == (15, 2, 1, 1)
    report = _report(tmp_path / "cluster", remote.run_id)
    assert report == _report(tmp_path / "local", local.run_id)
    assert [i["source"] for i in report if i["warning"]] == [urls[-1]]
    cluster_files = _thumbnails(tmp_path / "cluster")
    assert len(cluster_files) == 30  # two sizes of 15 images
    assert cluster_files == _thumbnails(tmp_path / "local")


def test_a_second_run_on_the_cluster_skips_what_is_done(qtbot, http_server, dask_cluster, tmp_path: Path) -> None:
    urls = [http_server.url(f"/img/again{i}.jpg?w=100&h=100") for i in range(5)]
    first = _run(qtbot, Runner(_settings(tmp_path, dask_cluster.address), [Entry(u, u) for u in urls]))
    hits = http_server.total_hits()
    again = _run(qtbot, Runner(_settings(tmp_path, dask_cluster.address), [Entry(u, u) for u in urls]))
    assert (first.done, again.done, again.skipped) == (5, 0, 5)
    assert http_server.total_hits() == hits


def test_per_host_limit_holds_across_the_cluster_and_concurrent_batches(
    qtbot, http_server, dask_cluster, tmp_path: Path
) -> None:
    """Two batches at once, four worker threads, one host: never more than --per-host downloads from it."""
    http_server.reset()
    runners = []
    for name in ("a", "b"):
        urls = [http_server.url(f"/drip/{name}{i}.jpg?w=32&h=32&bps=4000") for i in range(6)]
        settings = _settings(tmp_path / name, dask_cluster.address, per_host=2)
        runners.append(Runner(settings, [Entry(u, u) for u in urls]))
    with qtbot.waitSignals([r.finished for r in runners], timeout=90_000):
        for r in runners:
            r.start()
    for r in runners:
        r.wait()
    assert http_server.peak_transfers() == 2
    with Journal(tmp_path / "a") as ja, Journal(tmp_path / "b") as jb:
        assert ja.counts(1).done == 6 and jb.counts(1).done == 6


def test_a_worker_killed_mid_batch_has_its_items_done_elsewhere(
    qtbot, http_server, dask_cluster, tmp_path: Path
) -> None:
    urls = [http_server.url(f"/drip/kill{i}.jpg?w=48&h=48&bps=3000") for i in range(8)]
    runner = Runner(_settings(tmp_path, dask_cluster.address, per_host=8), [Entry(u, u) for u in urls])
    with qtbot.waitSignal(runner.finished, timeout=90_000) as blocker:
        runner.start()
        qtbot.waitUntil(lambda: len(dask_cluster.busy_workers()) == 2, timeout=30_000)
        victim = dask_cluster.busy_workers()[0]
        dask_cluster.kill_worker(victim)
    summary: Summary = blocker.args[0]
    assert (summary.done, summary.failed, summary.fatal) == (8, 0, None)
    assert len(list(tmp_path.glob("*.jpg"))) == 8


def test_a_worker_dying_on_an_item_each_time_fails_it_clearly(qtbot, http_server, tmp_path: Path) -> None:
    """With the scheduler allowing no worker deaths per task, the item fails with words, and the cluster goes on."""
    from tests.cluster.conftest import DaskCluster

    cluster = DaskCluster(workers=1, threads=1, **{"distributed.scheduler.allowed-failures": 0})
    try:
        slow = http_server.url("/drip/dies.jpg?w=48&h=48&bps=2000")
        runner = Runner(_settings(tmp_path, cluster.address), [Entry(slow, slow)])
        with qtbot.waitSignal(runner.finished, timeout=90_000) as blocker:
            runner.start()
            qtbot.waitUntil(lambda: http_server.hits("/drip/dies.jpg?w=48&h=48&bps=2000") == 1, timeout=30_000)
            (worker,) = cluster.worker_pids()
            cluster.kill_worker(worker)
        summary: Summary = blocker.args[0]
        fine = http_server.url("/img/after.jpg?w=48&h=48")
        after = _run(qtbot, Runner(_settings(tmp_path / "after", cluster.address), [Entry(fine, fine)]))
    finally:
        cluster.close()
    assert (summary.done, summary.failed, summary.fatal) == (0, 1, None)
    with Journal(tmp_path) as j:
        (failed,) = j.items(summary.run_id)
    assert failed.status == Status.FAILED
    assert "cluster workers died while making this thumbnail" in (failed.error or "")
    assert after.done == 1  # the nanny started a new worker


def test_cancel_cancels_the_tasks_on_the_cluster_and_the_batch_resumes(
    qtbot, http_server, dask_cluster, tmp_path: Path
) -> None:
    urls = [http_server.url(f"/drip/cancel{i}.jpg?w=48&h=48&bps=3000") for i in range(12)]
    runner = Runner(_settings(tmp_path, dask_cluster.address, per_host=12), [Entry(u, u) for u in urls])
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
        qtbot.waitUntil(lambda: dask_cluster.task_count() >= 4, timeout=30_000)
        runner.cancel()
    summary: Summary = blocker.args[0]
    assert summary.cancelled and summary.done < 12
    qtbot.waitUntil(lambda: dask_cluster.task_count() == 0, timeout=30_000)  # nothing left queued on the cluster

    resumed = _run(qtbot, Runner(_settings(tmp_path, dask_cluster.address), None))
    assert resumed.done + summary.done == 12 and resumed.failed == 0


def test_an_unreachable_scheduler_stops_at_once_with_a_clear_error(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(core.batch.backends.dask, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    summary = _run(qtbot, Runner(_settings(tmp_path / "out", f"127.0.0.1:{port}"), [Entry("x", "http://x/a.jpg")]))
    assert time.monotonic() - started < 15
    assert summary.fatal is not None
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in summary.fatal
    assert not (tmp_path / "out" / ".thumbnailer").exists()  # nothing was queued, so nothing is lost


def test_the_command_runs_a_batch_on_the_cluster(http_server, dask_cluster, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(http_server.url(f"/img/cli{i}.jpg?w=300&h=200") + "\n" for i in range(4)))
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "core.cli", str(urls), "-o", str(tmp_path / "out"), "--report", str(report)]
    proc = subprocess.run([*cmd, "--cluster", dask_cluster.address], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["done"] == 4
    assert all(i["outputs"][0]["width"] == 256 for i in data["items"])


def test_a_bad_cluster_address_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "http://x/a.jpg", "-o", str(tmp_path), "--cluster", "not an address"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--cluster is not a Dask scheduler address: 'not an address'" in proc.stderr


def test_without_a_cluster_dask_is_never_imported(http_server, tmp_path: Path) -> None:
    code = (
        "import sys; from core.cli import main;"
        f"rc = main([{http_server.url('/img/plain.jpg')!r}, '-o', {str(tmp_path)!r}, '--quiet']);"
        "assert rc == 0, rc;"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=Path(__file__).resolve().parents[2])


def test_workers_with_another_version_of_the_app_are_refused(
    qtbot, http_server, dask_cluster, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(
        core.batch.backends.dask, "app_version", lambda: "99.0"
    )  # this machine is newer than the workers
    url = http_server.url("/img/version.jpg")
    summary = _run(qtbot, Runner(_settings(tmp_path / "out", dask_cluster.address), [Entry(url, url)]))
    assert summary.fatal is not None
    assert "run Batch Thumbnailer 0.1.0" in summary.fatal and "this is 99.0" in summary.fatal
    assert http_server.hits(url.split(http_server.url(""))[-1]) == 0


def test_losing_the_scheduler_mid_batch_stops_it_resumably(qtbot, http_server, tmp_path: Path) -> None:
    from tests.cluster.conftest import DaskCluster

    cluster = DaskCluster(workers=1, threads=2)
    urls = [http_server.url(f"/drip/lost{i}.jpg?w=48&h=48&bps=2000") for i in range(6)]
    runner = Runner(_settings(tmp_path, cluster.address), [Entry(u, u) for u in urls])
    try:
        with qtbot.waitSignal(runner.finished, timeout=120_000) as blocker:
            runner.start()
            qtbot.waitUntil(lambda: cluster.task_count() >= 2, timeout=30_000)
            cluster.close()
    finally:
        cluster.close()
    summary: Summary = blocker.args[0]
    assert summary.fatal is not None and "lost the Dask scheduler" in summary.fatal
    with Journal(tmp_path) as j:
        counts = j.counts(summary.run_id)
    assert counts.pending + counts.done == 6 and counts.failed == 0


def test_a_scheduler_without_workers_fails_after_a_while_and_cancel_stops_the_wait(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from tests.cluster.conftest import DaskCluster

    cluster = DaskCluster(workers=0, threads=1)
    try:
        monkeypatch.setattr(core.batch.backends.dask, "WORKER_WAIT", 1.0)
        summary = _run(qtbot, Runner(_settings(tmp_path / "a", cluster.address), [Entry("x", "http://x/a.jpg")]))
        assert summary.fatal is not None
        assert f"no Dask worker joined the scheduler at {cluster.address}" in summary.fatal
        assert f"dask worker {cluster.address}" in summary.fatal

        monkeypatch.setattr(core.batch.backends.dask, "WORKER_WAIT", 60.0)
        runner = Runner(_settings(tmp_path / "b", cluster.address), [Entry("x", "http://x/a.jpg")])
        started = time.monotonic()
        with qtbot.waitSignal(runner.finished, timeout=30_000) as blocker:
            runner.start()
            runner.cancel()
        assert blocker.args[0].cancelled and blocker.args[0].fatal is None
        assert time.monotonic() - started < 10
    finally:
        cluster.close()
