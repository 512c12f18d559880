"""The resizer pool on its own: outcomes per job, and no hang when its processes cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from core.batch.backends.resize_pool import ResizePool
from core.imaging.jobs import JobOutcome, ResizeJob
from core.imaging.resize import ResizeSpec
from core.priority import BACKGROUND_NICENESS, WINDOW_RESIZER_NICENESS
from tests.support.harness import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_jobs_come_back_with_their_own_outcomes(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (300, 100), "red").save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"<html>not an image</html>")
    outcomes: dict[str, JobOutcome] = {}
    all_in = threading.Event()

    def collect(name: str, outcome: JobOutcome) -> None:
        outcomes[name] = outcome
        if len(outcomes) == 2:
            all_in.set()

    pool = ResizePool(2)
    try:
        pool.submit(ResizeJob(str(good), str(tmp_path), "good", ResizeSpec()), lambda o: collect("good", o))
        pool.submit(ResizeJob(str(bad), str(tmp_path), "bad", ResizeSpec()), lambda o: collect("bad", o))
        assert all_in.wait(60)
    finally:
        pool.shutdown()
    assert outcomes["good"].result is not None and outcomes["good"].result.outputs[0].width == 256
    assert outcomes["bad"].result is None and not outcomes["bad"].fatal and outcomes["bad"].error


def test_a_script_without_a_main_guard_gets_an_outcome_not_a_hang(tmp_path: Path) -> None:
    """Spawned workers re-import the main module; without the guard the pool inside them cannot start.
    Whatever happens in there, every submitted job must come back with an outcome."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys, threading\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from core.imaging.resize import ResizeSpec\n"
        "from core.batch.backends.resize_pool import ResizePool\nfrom core.imaging.jobs import ResizeJob\n"
        "done = threading.Event(); got = []\n"
        "pool = ResizePool(1)\n"
        f"job = ResizeJob('x.png', {str(tmp_path)!r}, 'x', ResizeSpec())\n"
        "pool.submit(job, lambda o: (got.append(o), done.set()))\n"
        "assert done.wait(60), 'no outcome'\n"
        "pool.shutdown()\n"
        "print('outcome:', got[0].error)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("outcome: ")


def _minor_faults(pid: int) -> int:
    # /proc/<pid>/stat: the command name is in parentheses; minflt is the 8th field after it.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])


def _resize_one(pool: ResizePool, src: Path, stem: str) -> None:
    outcomes: list[JobOutcome] = []
    finished = threading.Event()
    job = ResizeJob(str(src), str(src.parent), stem, ResizeSpec())
    pool.submit(job, lambda outcome: (outcomes.append(outcome), finished.set()))
    assert finished.wait(60)
    assert outcomes[0].result is not None, outcomes[0].error


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_worker_reuses_the_memory_of_the_previous_image(tmp_path: Path) -> None:
    """Each 1600x1200 RGBA image needs about 15 MB of buffers. Freed to the kernel after every job, they fault
    back in page by page on the next one (some 3,700 faults, 15% of the job's CPU); kept, they are reused."""
    alpha = Image.linear_gradient("L").resize((1600, 1200))
    src = tmp_path / "cutout.png"
    Image.merge("RGBA", (alpha, alpha.transpose(Image.Transpose.ROTATE_180), alpha, alpha)).save(src, compress_level=1)
    pool = ResizePool(1)
    try:
        _resize_one(pool, src, "warm-up")
        (pid,) = pool.worker_pids()
        before = _minor_faults(pid)
        for n in range(3):
            _resize_one(pool, src, f"again-{n}")
        per_job = (_minor_faults(pid) - before) / 3
    finally:
        pool.shutdown()
    assert per_job < 1000, per_job


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="niceness is a POSIX notion")
@pytest.mark.parametrize("niceness", [None, WINDOW_RESIZER_NICENESS], ids=["default", "behind-a-window"])
def test_resizer_processes_run_at_the_priority_they_are_given(qapp, tmp_path: Path, niceness: int | None) -> None:
    """Resizers yield a contended core to the main process's threads (and, behind a window, to everything)."""
    src = tmp_path / "small.png"
    Image.new("RGB", (300, 200), "blue").save(src)
    pool = ResizePool(2) if niceness is None else ResizePool(2, niceness=niceness)
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + (niceness or BACKGROUND_NICENESS))
    try:
        _resize_one(pool, src, "one")
        pids = pool.worker_pids()
        # The second resizer may still be settling in (it sets its priority first) while the first one works.
        wait_until(lambda: [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [expected] * 2, 30, "priority")
    finally:
        pool.shutdown()
    assert len(pids) == 2
