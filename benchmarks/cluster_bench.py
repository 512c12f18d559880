"""Throughput on a Dask cluster: `thumbnailer --cluster` on 1, 2 and 4 local workers against the local process pool.

Each cluster is a `distributed.LocalCluster` of single-threaded worker processes on loopback, started before the
timed command and closed after it, so only the command is timed (launch to exit, connecting included). The
command's CPU comes from `wait4` on its own process (its resizer processes included); the workers' CPU from
psutil on their processes; the scheduler and nannies live in this process, so its CPU while the command runs is
theirs. A run counts only when its `--report` says every item is done and every thumbnail is on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.baselines import BOX, JPEG_QUALITY
from benchmarks.corpus import Corpus
from benchmarks.serve import Served
from benchmarks.stats import ratio_line, spread
from benchmarks.throughput import PROCESSES, ROOT, count_outputs, thumbnailer_command

if TYPE_CHECKING:
    from distributed import LocalCluster

LOCAL = "local pool"


def missing() -> str | None:
    """Why the section cannot run here, or None: it needs the `cluster` extra (psutil comes with it)."""
    try:
        import distributed  # noqa: F401
        import psutil  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'batch-thumbnailer[cluster]')"
    return None


def subset(corpus: Corpus, jpegs: int, pngs: int) -> Corpus:
    """The first `jpegs` JPEGs and `pngs` PNGs of the corpus, in its interleaved order."""
    jpgs = sorted(p for p in corpus.files if p.suffix == ".jpg")[:jpegs]
    keep = {*jpgs, *sorted(p for p in corpus.files if p.suffix == ".png")[:pngs]}
    return Corpus(corpus.folder, tuple(p for p in corpus.files if p in keep))


def machine_note(workers: tuple[int, ...]) -> str:
    """The one sentence that says what the figures can show on this machine."""
    cores = len(os.sched_getaffinity(0))
    note = f"this machine has {cores} cores for the command, the scheduler, every worker and nginx together"
    if max(workers) > cores:
        note += f", so more than {cores} single-threaded workers cannot add speed: those figures show overhead"
    return note


@dataclass
class Run:
    """One timed command. CPU figures are seconds; `problem` says why the run does not count."""

    seconds: float = 0.0
    command_cpu: float = 0.0
    worker_cpu: float = 0.0
    host_cpu: float = 0.0
    problem: str | None = None


@dataclass
class Setup:
    workers: int  # 0: the local process pool
    runs: list[Run] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"cluster {self.workers} worker{'s' if self.workers > 1 else ''}" if self.workers else LOCAL


def _timed(cmd: list[str], stderr: Path, timeout: float) -> tuple[float, float, int | None]:
    """Launch to exit in seconds, the process's CPU seconds (its waited-for children included) and exit code,
    None when it was killed for running past `timeout`.

    `wait4` reads the rusage of this one child, so worker processes started by this process do not count."""
    timed_out = threading.Event()
    with stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

        def kill() -> None:
            timed_out.set()
            proc.kill()

        killer = threading.Timer(timeout, kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: leave no command running
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return seconds, usage.ru_utime + usage.ru_stime, None if timed_out.is_set() else proc.returncode


def _problem(code: int | None, report: Path, out: Path, stderr: Path, n: int, timeout: float) -> str | None:
    """None when every item is done; else what went wrong, in the command's own words where it has some."""
    tail = " | ".join(stderr.read_text(errors="replace").strip().splitlines()[-3:])
    if code is None:
        return f"killed after {timeout:g} s without finishing; stderr: {tail or '(empty)'}"
    if not report.exists():
        return f"exit {code}, no report written; stderr: {tail or '(empty)'}"
    data = json.loads(report.read_text())
    counts = data["summary"]
    made = count_outputs(out)
    if code == 0 and counts["done"] == n and made == n:
        return None
    first = next((f"{i['url'] or i['source']}: {i['error']}" for i in data["items"] if i["error"]), "no item error")
    return (
        f"exit {code}, {counts['done']} of {n} done ({counts['failed']} failed, {counts['invalid']} invalid,"
        f" {counts['skipped']} not finished), {made} thumbnails on disk; first error: {first}"
        + (f"; stderr: {tail}" if tail else "")
    )


def _cpu(pids: list[int]) -> dict[int, float]:
    import psutil

    found = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[pid] = t.user + t.system
    return found


@contextmanager
def local_cluster(workers: int) -> Iterator[LocalCluster]:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        cluster.wait_for_workers(workers, timeout=60)
        yield cluster
    finally:
        cluster.close()


def _run_once(setup: Setup, cmd: list[str], work: Path, n: int, timeout: float) -> tuple[Run, str]:
    """One timed command into a fresh folder, on a fresh cluster for a cluster setup; the run and a note."""
    out, report, stderr = work / "out", work / "report.json", work / "stderr.txt"
    shutil.rmtree(out, ignore_errors=True)
    report.unlink(missing_ok=True)
    cmd = [*cmd, "--out", str(out), "--report", str(report)]
    if not setup.workers:
        seconds, cpu, code = _timed(cmd, stderr, timeout)
        return Run(seconds, cpu, problem=_problem(code, report, out, stderr, n, timeout)), ""
    started = time.perf_counter()
    with local_cluster(setup.workers) as cluster:
        start_s = time.perf_counter() - started
        pids = [ws.pid for ws in cluster.scheduler.workers.values()]
        before, host_before = _cpu(pids), time.process_time()
        seconds, cpu, code = _timed([*cmd, "--cluster", cluster.scheduler_address], stderr, timeout)
        host, after = time.process_time() - host_before, _cpu(pids)
    run = Run(seconds, cpu, sum(after[p] - before[p] for p in after), host)
    run.problem = _problem(code, report, out, stderr, n, timeout)
    if len(after) < len(pids) and run.problem is None:
        run.problem = f"{len(pids) - len(after)} worker process(es) ended during the run: their CPU is unknown"
    return run, f"; cluster start {start_s:.1f} s, not timed"


def _round_line(r: int, runs: int, setup: Setup, run: Run, n: int, note: str) -> str:
    head = f"  round {r + 1}/{runs}: {setup.name:<17}"
    if run.problem:
        return f"{head} INCOMPLETE, left out of the figures: {run.problem}"
    cpu = f"command {run.command_cpu * 1000 / n:.1f}"
    if setup.workers:
        cpu += f", workers {run.worker_cpu * 1000 / n:.1f}, scheduler {run.host_cpu * 1000 / n:.1f}"
    return f"{head} {n / run.seconds:6.1f} files/s ({run.seconds:.1f} s; ms CPU per file: {cpu}{note})"


def measure(
    corpus: Corpus, served: Served, runs: int, workers: tuple[int, ...], log: Callable[[str], None]
) -> list[Setup]:
    """`runs` rounds of the local pool and each cluster size; the order rotates from round to round."""
    n = len(corpus.files)
    timeout = 60 + 2 * n
    setups = [Setup(0), *(Setup(w) for w in workers)]
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        work = Path(tmp)
        urls = work / "urls.txt"
        urls.write_text("".join(served.url(corpus.folder, p) + "\n" for p in corpus.files))
        cmd = [*thumbnailer_command(), str(urls), "--quiet", "--processes", str(PROCESSES)]
        cmd += ["--size", str(BOX), "--quality", str(JPEG_QUALITY)]
        for r in range(runs):
            for setup in setups[r % len(setups) :] + setups[: r % len(setups)]:
                run, note = _run_once(setup, cmd, work, n, timeout)
                setup.runs.append(run)
                log(_round_line(r, runs, setup, run, n, note))
    return setups


def report(setups: list[Setup], n: int) -> list[str]:
    """Medians per setup, then each cluster against the local pool over the rounds where both completed."""
    base = setups[0]
    lines = []
    for s in setups:
        ok = [run for run in s.runs if run.problem is None]
        if not ok:
            lines.append(f"  {s.name:<17} no complete run: see the rounds above")
            continue
        line = f"  {s.name:<17} {spread([n / run.seconds for run in ok])} files/s, ms CPU per file:"
        line += f" command {spread([run.command_cpu * 1000 / n for run in ok])}"
        if s.workers:
            line += f", workers {spread([run.worker_cpu * 1000 / n for run in ok])}"
            line += f", scheduler {spread([run.host_cpu * 1000 / n for run in ok])}"
            line += f", all {spread([_total(run) * 1000 / n for run in ok])}"
        lines.append(line)
    for s in setups[1:]:
        pairs = [(c, b) for c, b in zip(s.runs, base.runs, strict=True) if c.problem is None and b.problem is None]
        if not pairs:
            lines.append(f"  {s.name} / {LOCAL}: not measured (no round where both completed)")
            continue
        rates = ([n / c.seconds for c, _ in pairs], [n / b.seconds for _, b in pairs])
        lines.append("  " + ratio_line(f"{s.name} / {LOCAL}", *rates, "files/s"))
        cpu = ([_total(c) * 1000 / n for c, _ in pairs], [b.command_cpu * 1000 / n for _, b in pairs])
        cpu_label = f"CPU per file, {s.name} all processes / {LOCAL}"
        lines.append("  " + ratio_line(cpu_label, *cpu, "ms", higher_is_better=False))
    if any(run.problem for s in setups for run in s.runs):
        lines.append("  WARNING: some runs did not finish every item (INCOMPLETE above); ratios pair complete rounds")
    return lines


def _total(run: Run) -> float:
    return run.command_cpu + run.worker_cpu + run.host_cpu
