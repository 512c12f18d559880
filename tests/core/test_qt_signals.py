"""Guard against Qt bindings that leak or drop references on signal emits: PySide6 6.12.0 dropped one reference
to Python's True per emit, aborting the app after a few hundred progress updates (README.md, "Known issues"). The
reproduction in packaging/ runs against the installed PySide6."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "qt_signal_refcount.py"


def test_signal_emits_keep_reference_counts_stable() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "stable", result.stdout + result.stderr
