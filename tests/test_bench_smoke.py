"""The benchmarks still run: `python -m benchmarks --smoke` on a tiny corpus prints every section's ratios.

Benchmarks are not tests: nothing here checks a number, only that each benchmark runs to the end and reports
"ours / baseline = ratio" lines. The real figures come from `make bench` on an otherwise idle machine.
The cluster section runs on its own, skipped where the `cluster` extra (distributed) is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r"^[ ]+(?P<label>[^:\n]+ / [^:\n]+): .* = (?P<ratio>\d+\.\d+)x \[", re.MULTILINE)


def _smoke(tmp_path: Path, *sections: str) -> str:
    """The output of `python -m benchmarks SECTION... --smoke`, which must exit 0."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *sections, "--smoke", "--cache", str(tmp_path / "corpus")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_every_local_benchmark_runs_and_prints_ratios(tmp_path: Path) -> None:
    out = _smoke(tmp_path, "throughput", "skip", "gui", "crop")
    for section in ("== throughput ==", "== skip ==", "== gui ==", "== crop =="):
        assert section in out
    labels = {m["label"] for m in RATIO.finditer(out)}
    assert "thumbnailer / decode floor" in labels
    assert "thumbnailer / textbook" in labels
    assert "re-run / 5 s budget" in labels
    assert "longest gap / 50 ms target" in labels
    assert "queue usable / 10 s target" in labels
    assert "peak RSS / 400 MB target" in labels
    assert "source install (thumbnailer-gui) / bare PySide6 window" in labels
    assert "attention / centre" in labels
    assert all(float(m["ratio"]) >= 0 for m in RATIO.finditer(out))


def test_the_web_benchmark_runs_its_baselines_and_prints_ratios(tmp_path: Path) -> None:
    out = _smoke(tmp_path, "web")
    assert "== web ==" in out
    labels = {m["label"] for m in RATIO.finditer(out)}
    assert {"thumbnailer / network floor", "60 hosts / one host"} <= labels
    if shutil.which("aria2c") and shutil.which("vipsthumbnail"):
        assert {"thumbnailer / aria2c + vipsthumbnail", "thumbnailer / aria2c download alone"} <= labels
    assert all(float(m["ratio"]) >= 0 for m in RATIO.finditer(out))


def test_the_cluster_benchmark_runs_every_item_and_prints_ratios(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="the cluster extra is not installed")
    out = _smoke(tmp_path, "cluster")
    assert "== cluster ==" in out
    assert "INCOMPLETE" not in out, out
    labels = {m["label"] for m in RATIO.finditer(out)}
    assert {"cluster 1 worker / local pool", "cluster 2 workers / local pool"} <= labels
    assert "CPU per file, cluster 2 workers all processes / local pool" in labels
    assert all(float(m["ratio"]) >= 0 for m in RATIO.finditer(out))
