"""Fast checks of the packaging sources (no PyInstaller build): version, desktop entry, icons, install.sh.

The build itself and the frozen app are checked by `make package` (packaging/smoke_test.py).
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
sys.path[:0] = [str(PACKAGING), str(PACKAGING / "linux")]

import app_info  # noqa: E402
import make_icons  # noqa: E402
import make_packages  # noqa: E402

DESKTOP = PACKAGING / "linux" / "batch-thumbnailer.desktop"


def test_version_is_the_one_in_pyproject() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        assert app_info.read_version() == tomllib.load(f)["project"]["version"]


def test_a_new_version_in_pyproject_reaches_every_package_format(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = "2.3.4rc1"\n', encoding="utf-8")
    version = app_info.read_version(pyproject)
    assert version == "2.3.4rc1"
    assert app_info.version_tuple(version) == (2, 3, 4, 0)
    assert make_packages.debian_version(version) == "2.3.4~rc1"
    assert make_packages.debian_version("1.0.dev3") == "1.0~dev3"
    windows = app_info.windows_version_text(version)
    assert "filevers=(2, 3, 4, 0)" in windows
    assert "StringStruct('ProductVersion', '2.3.4rc1')" in windows
    ast.parse(windows)  # PyInstaller evaluates the version file as a Python expression
    plist = app_info.macos_info_plist(version)
    assert plist["CFBundleShortVersionString"] == "2.3.4rc1"
    assert plist["CFBundleVersion"] == "2.3.4"


def test_version_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="does not start with a number"):
        app_info.version_tuple("next")


def test_macos_bundle_opens_url_lists() -> None:
    kinds = app_info.macos_info_plist("1.0")["CFBundleDocumentTypes"]
    extensions = {ext for kind in kinds for ext in kind.get("CFBundleTypeExtensions", [])}
    assert {"txt", "csv"} <= extensions


def test_spec_builds_two_programs_into_one_folder_with_the_pyproject_version() -> None:
    tree = ast.parse((PACKAGING / "thumbnailer.spec").read_text(encoding="utf-8"))
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert "read_version" in calls
    assert calls.count("COLLECT") == 1 and calls.count("Analysis") == 1
    names = {
        (n.func.id if isinstance(n.func, ast.Name) else "", ast.literal_eval(n.args[0]))
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Constant)
    }
    assert ("_executable", "entry_gui") in names and ("_executable", "entry_cli") in names
    for entry in ("entry_gui.py", "entry_cli.py"):
        source = (PACKAGING / entry).read_text(encoding="utf-8")
        assert source.index("freeze_support()") < source.index(" import main" if "gui" in entry else " import run"), (
            entry
        )


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_opens_images_and_claims_nothing_else() -> None:
    """"Open With" is for images: claiming folders, plain text, CSV or web pages would make the app the default
    handler for them on a desktop with nothing else registered (URL lists are dropped on the window or opened
    from it). text/uri-list is no file type shared-mime-info gives a file, so it is not claimed either."""
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Batch Thumbnailer"
    assert entry["Exec"] == "batch-thumbnailer %F"
    assert entry["Icon"] == "batch-thumbnailer"
    assert entry["Terminal"] == "false"
    assert "Graphics" in entry["Categories"].split(";")
    mime = set(entry["MimeType"].rstrip(";").split(";"))
    assert {"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"} <= mime
    assert all(m.startswith("image/") for m in mime), mime
    known = Path("/usr/share/mime/types")
    if known.exists():  # shared-mime-info: every type is one the desktop can tell
        assert mime <= set(known.read_text(encoding="utf-8").split())


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils not installed")
def test_desktop_entry_passes_desktop_file_validate() -> None:
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_missing_library_gets_debian_package_name() -> None:
    assert make_packages._package_of("libwayland-cursor.so.0") == "libwayland-cursor0"
    assert make_packages._package_of("libfoo2.so.1") == "libfoo2-1"


LIBC = Path(f"/lib/{os.uname().machine}-linux-gnu/libc.so.6")


@pytest.mark.skipif(not shutil.which("dpkg") or not LIBC.exists(), reason="not a Debian system")
def test_installed_library_is_found_in_its_debian_package() -> None:
    assert make_packages._package_of(str(LIBC)) == "libc6"


@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory, qapp: object) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("icons")
    return out, make_icons.make_icons(app_info.ICON_SVG, out)


@pytest.mark.gui
def test_icons_for_every_platform_come_from_the_svg(icons: tuple[Path, dict[str, Path]]) -> None:
    out, made = icons
    for size in make_icons.PNG_SIZES:
        with Image.open(out / f"batch-thumbnailer-{size}.png") as png:
            assert png.size == (size, size) and png.mode == "RGBA"
            alpha = png.getchannel("A")
            assert alpha.getextrema() == (0, 255), f"{size} px: the icon should be drawn on a transparent square"
    with Image.open(made["ico"]) as ico:
        assert ico.format == "ICO"
        assert set(ico.ico.sizes()) == {(s, s) for s in make_icons.ICO_SIZES}
    with Image.open(made["icns"]) as icns:
        assert icns.format == "ICNS"
        assert {(16, 16, 2), (128, 128, 1), (512, 512, 2)} <= set(icns.info["sizes"])
    with Image.open(made["png"]) as png:
        assert png.size == (256, 256)


@pytest.mark.gui
def test_a_broken_svg_is_reported(tmp_path: Path, qapp: object, qtlog: object) -> None:
    bad = tmp_path / "icon.svg"
    bad.write_text("<svg", encoding="utf-8")
    with qtlog.disabled(), pytest.raises(ValueError, match="not a valid SVG"):  # type: ignore[attr-defined]
        make_icons.render_pngs(bad, tmp_path / "out")


def _fake_unpacked_archive(root: Path, icons: Path) -> Path:
    """The tar.gz's layout with tiny stand-in programs: install.sh only copies and links them."""
    root.mkdir()
    for exe in (app_info.GUI_EXE, app_info.CLI_EXE):
        (root / exe).write_text(f'#!/bin/sh\necho "{exe} $*"\n', encoding="utf-8")
        (root / exe).chmod(0o755)
    (root / "_internal").mkdir()
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy(PACKAGING / "linux" / script, root / script)
    make_packages.share_tree(root, icons)
    return root


@pytest.mark.gui
def test_install_sh_installs_into_home_and_uninstall_sh_removes_it(
    tmp_path: Path, icons: tuple[Path, dict[str, Path]]
) -> None:
    unpacked = _fake_unpacked_archive(tmp_path / "batch-thumbnailer-1.0-linux", icons[0])
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    done = subprocess.run(["sh", str(unpacked / "install.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    local = home / ".local"
    opt = local / "opt" / "batch-thumbnailer"
    command = subprocess.run([str(local / "bin" / "thumbnailer"), "--version"], capture_output=True, text=True)
    assert command.stdout.strip() == "thumbnailer --version"
    desktop = (local / "share" / "applications" / "batch-thumbnailer.desktop").read_text(encoding="utf-8")
    assert f'Exec="{opt}/batch-thumbnailer" %F' in desktop.splitlines()
    hicolor = local / "share" / "icons" / "hicolor"
    assert (hicolor / "48x48" / "apps" / "batch-thumbnailer.png").is_file()
    assert (hicolor / "scalable" / "apps" / "batch-thumbnailer.svg").is_file()
    assert (opt / "uninstall.sh").stat().st_mode & stat.S_IXUSR

    done = subprocess.run(["sh", str(opt / "uninstall.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    left = [p for p in local.rglob("*") if "batch-thumbnailer" in p.name or p.name == "thumbnailer"]
    assert left == []


def test_install_sh_refuses_a_folder_without_the_app(tmp_path: Path) -> None:
    shutil.copy(PACKAGING / "linux" / "install.sh", tmp_path / "install.sh")
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"]}
    done = subprocess.run(["sh", str(tmp_path / "install.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "run install.sh from the unpacked archive" in done.stderr
    assert not (tmp_path / "home").exists()
