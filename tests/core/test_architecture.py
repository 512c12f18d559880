"""The engine stays free of widgets, and the code worker processes import stays free of Qt."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_core_never_imports_gui_or_widgets() -> None:
    offenders = {
        str(p.relative_to(CORE)): sorted(
            m for m in _imported_modules(p) if "QtGui" in m or "QtWidgets" in m or m.startswith("gui")
        )
        for p in CORE.rglob("*.py")
    }
    assert len(offenders) > 20  # the whole tree, sub-packages included
    assert not {k: v for k, v in offenders.items() if v}


def test_imaging_runs_in_worker_processes_so_it_imports_no_settings_and_no_qt() -> None:
    """core.imaging is what resizer processes and Dask tasks run: plain data in, files out."""
    modules = {str(p.relative_to(CORE)): _imported_modules(p) for p in (CORE / "imaging").rglob("*.py")}
    assert "imaging/jobs.py" in modules
    offenders = {
        name: sorted(m for m in imported if m.startswith(("core.settings", "PySide6", "shiboken6", "gui")))
        for name, imported in modules.items()
    }
    assert not {k: v for k, v in offenders.items() if v}
    code = (
        "import sys, core.imaging.jobs, core.imaging.resize, core.imaging.png_inflate, core.imaging.png_deflate;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')) or m == 'core.settings'];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=CORE.parent)


def test_worker_process_modules_import_no_qt_at_all() -> None:
    code = (
        "import sys, core.imaging.resize, core.imaging.jobs, core.batch.backends.resize_pool, core.naming,"
        " core.download.fetch, core.sources, core.batch.backends.dask;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=CORE.parent)


def test_the_command_hands_jobs_out_without_loading_the_decoders() -> None:
    """Only resizer processes need Pillow's plugins, ICC and zlib-ng: about 70 ms of every launch."""
    code = (
        "import sys, core.cli, core.batch.runner, core.batch.backends.resize_pool, core.imaging.jobs;"
        "bad = [m for m in sys.modules if m in ('core.imaging.resize', 'core.imaging.png_inflate',"
        " 'core.imaging.png_deflate', 'zlib_ng', 'PIL.ImageCms')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=CORE.parent)
