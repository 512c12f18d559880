"""End-to-end throughput: `thumbnailer` from loopback URLs against vipsthumbnail, the textbook approach and the
decode floor, all on the same files in the same rounds.

Every method runs as its own process(es) and is timed from launch to exit, start-up included, into a fresh
output folder. Rounds rotate the order of the methods so drift of the machine (page cache, thermal) spreads
over all of them.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.baselines import BOX, JPEG_QUALITY, vips_commands
from benchmarks.corpus import Corpus
from benchmarks.serve import Served
from benchmarks.stats import ratio_line, spread

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 2


def python() -> str:
    return sys.executable


def thumbnailer_command() -> list[str]:
    script = Path(sys.executable).parent / "thumbnailer"
    return [str(script)] if script.exists() else [python(), "-m", "core.cli"]


def run_lanes(lanes: list[list[list[str]]], env: dict[str, str] | None = None) -> float:
    """Run lanes in parallel (each a sequence of commands); the wall time in seconds. Raises on a failure."""
    errors: list[str] = []

    def lane(cmds: list[list[str]]) -> None:
        for cmd in cmds:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                name = f"{Path(cmd[0]).name} {' '.join(cmd[1:3])}"
                errors.append(f"{name}... exited {proc.returncode}: {proc.stderr[-800:]}")

    threads = [threading.Thread(target=lane, args=(cmds,)) for cmds in lanes]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError("; ".join(errors))
    return seconds


def count_outputs(out: Path) -> int:
    return sum(1 for p in out.rglob("*") if p.suffix in (".jpg", ".png") and not p.name.startswith("."))


def _children_cpu() -> float:
    """CPU seconds of every waited-for child so far: less sensitive to other load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Method:
    name: str
    lanes: Callable[[Path], list[list[list[str]]]]
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # user + system CPU of its processes per file


def methods(corpus: Corpus, served: Served, work: Path) -> list[Method]:
    urls = work / "urls.txt"
    urls.write_text("".join(served.url(corpus.folder, p) + "\n" for p in corpus.files))
    files = work / "files.txt"
    files.write_text("".join(f"{p}\n" for p in corpus.files))
    ours = [*thumbnailer_command(), str(urls), "--quiet", "--processes", str(PROCESSES)]
    ours += ["--size", str(BOX), "--quality", str(JPEG_QUALITY)]
    found = [
        Method("thumbnailer", lambda out: [[[*ours, "--out", str(out)]]]),
        Method("vipsthumbnail", lambda out: vips_commands(list(corpus.files), out, PROCESSES)),
        Method("textbook", lambda out: [[[python(), "-m", "benchmarks.baselines", "textbook", str(urls), str(out)]]]),
        Method("decode floor", lambda out: [[[python(), "-m", "benchmarks.baselines", "floor", str(files)]]]),
    ]
    return [m for m in found if m.name != "vipsthumbnail" or shutil.which("vipsthumbnail")]


def measure(corpus: Corpus, served: Served, runs: int, log: Callable[[str], None]) -> list[Method]:
    n = len(corpus.files)
    with tempfile.TemporaryDirectory(prefix="bench-tp-") as tmp:
        work = Path(tmp)
        ms = methods(corpus, served, work)
        for r in range(runs):
            order = ms[r % len(ms) :] + ms[: r % len(ms)]
            for m in order:
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                before = _children_cpu()
                seconds = run_lanes(m.lanes(out))
                m.cpu_ms.append((_children_cpu() - before) * 1000 / n)
                made = count_outputs(out)
                if m.name != "decode floor" and made != n:
                    raise RuntimeError(f"{m.name} made {made} thumbnails of {n}")
                m.rates.append(n / seconds)
                log(
                    f"  round {r + 1}/{runs}: {m.name:<14} {n / seconds:6.1f} files/s ({seconds:.1f} s,"
                    f" {m.cpu_ms[-1]:.1f} ms CPU per file)"
                )
        shutil.rmtree(work / "out", ignore_errors=True)
    return ms


TARGETS = (("vipsthumbnail", 1.3), ("decode floor", 0.8), ("textbook", 1.5))


def report(ms: list[Method]) -> list[str]:
    by = {m.name: m for m in ms}
    ours = by["thumbnailer"]
    lines = [f"  {m.name:<14} {spread(m.rates)} files/s, {spread(m.cpu_ms)} ms CPU per file" for m in ms]
    for name, target in TARGETS:
        if name in by:
            lines.append("  " + ratio_line(f"thumbnailer / {name}", ours.rates, by[name].rates, "files/s", target))
        else:
            lines.append(
                f"  thumbnailer / {name}: not measured ({name} is not installed: apt-get install libvips-tools)"
            )
    return lines
