"""A re-run where everything is already done: N items read from a list, checked against the journal, skipped.

The journal is filled through its own API (one finished run with every item done under today's output
settings), so the measured run is exactly what a user's second `thumbnailer urls.txt -o out` does. The
baseline is the floor of that work: reading and parsing the same list with `core.sources` alone.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.throughput import ROOT, python, thumbnailer_command
from core.batch.journal import Journal, RunState
from core.cli import build_parser, settings_from_args
from core.models import Entry, ItemUpdate, Output, Status

BUDGET = 5.0  # seconds for 100,000 items, from the issue


def prepare(folder: Path, items: int, base_url: str) -> Path:
    """A URL list of `items` lines and an output folder whose journal says all of them are done."""
    listing = folder / "urls.txt"
    urls = [f"{base_url}/img/{i:07d}.jpg" for i in range(items)]
    listing.write_text("".join(u + "\n" for u in urls))
    out = folder / "out"
    # The command's own settings, so the fingerprint is whatever its defaults make it.
    settings = settings_from_args(build_parser().parse_args([str(listing), "--out", str(out)]))
    with Journal(out) as journal:
        run = journal.new_run(settings.output_fingerprint(), "normal")
        journal.add_entries((Entry(u, u, str(listing), i + 1) for i, u in enumerate(urls)), run)
        journal.prepare_run(run, settings.output_fingerprint(), "normal")
        done = [
            ItemUpdate(u, u, Status.DONE, url=u, outputs=[Output(f"{i:07d}.jpg", 256, 171, 9000)])
            for i, u in enumerate(urls)
        ]
        for start in range(0, len(done), 10_000):
            journal.record(done[start : start + 10_000], run, settings.output_fingerprint())
        journal.end_run(run, RunState.FINISHED)
    return listing


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])}... exited {proc.returncode}: {proc.stderr[-800:]}")
    return seconds


def measure(items: int, runs: int, log: Callable[[str], None]) -> tuple[list[float], list[float]]:
    """Seconds of the re-run and of the parse-only floor, `runs` times each."""
    ours: list[float] = []
    floor: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-skip-") as tmp:
        listing = prepare(Path(tmp), items, "http://127.0.0.1:9")
        out = Path(tmp) / "out"
        code = f"from core.sources import iter_entries; sum(1 for _ in iter_entries([{str(listing)!r}]))"
        parse = [python(), "-c", code]
        for r in range(runs):
            ours.append(_timed([*thumbnailer_command(), str(listing), "--out", str(out), "--quiet"]))
            floor.append(_timed(parse))
            log(f"  round {r + 1}/{runs}: re-run {ours[-1]:.2f} s, parse only {floor[-1]:.2f} s")
    return ours, floor
