"""What `--crop attention` costs: `thumbnailer --fit cover` on the same local JPEGs with `--crop attention` against
`--crop centre`, in the same rounds (the order alternates, so neither side always runs on a warmer cache).

The saliency map is computed once per image on a copy of at most 256 px a side of the image decoded shrunk on
load (`core.imaging.smartcrop`), so the target is within 1.15x of the centre crop.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.throughput import PROCESSES, ROOT, thumbnailer_command

TARGET = 1.15
STRATEGIES = ("attention", "centre")


def _timed(files: Sequence[Path], out: Path, crop: str) -> float:
    cmd = [*thumbnailer_command(), *map(str, files), "-o", str(out), "--fit", "cover", "--crop", crop]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "--processes", str(PROCESSES), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"thumbnailer --crop {crop} exited {proc.returncode}: {proc.stderr[-800:]}")
    if len(list(out.glob("*.jpg"))) != len(files):
        raise RuntimeError(f"thumbnailer --crop {crop} made {len(list(out.glob('*.jpg')))} of {len(files)}")
    return seconds


def measure(files: Sequence[Path], runs: int, log: Callable[[str], None]) -> dict[str, list[float]]:
    """Seconds of each strategy, `runs` rounds, each into a fresh output folder."""
    seconds: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    with tempfile.TemporaryDirectory(prefix="bench-crop-") as tmp:
        for r in range(runs):
            for crop in STRATEGIES if r % 2 == 0 else reversed(STRATEGIES):
                seconds[crop].append(_timed(files, Path(tmp) / f"{crop}-{r}", crop))
            last = ", ".join(f"{crop} {seconds[crop][-1]:.2f} s" for crop in STRATEGIES)
            log(f"  round {r + 1}/{runs}: {last}")
    return seconds
