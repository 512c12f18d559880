"""Running the real `thumbnailer` command from tests, and waiting on what another process does."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def thumbnailer(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, from the project's folder; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def poll_until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll a condition of another process (no Qt loop to wait on here)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)
