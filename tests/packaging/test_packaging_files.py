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
import shell_files  # noqa: E402

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
    """The app is offered in "Open With" for images: claiming folders, plain text, CSV or web pages would make it
    the default handler for them on a desktop with nothing else registered (URL lists are dropped on the window or
    opened from it). text/uri-list is no type shared-mime-info gives a file, so it is not claimed either."""
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
    shell = [
        local / "share" / "bash-completion" / "completions" / "thumbnailer",
        local / "share" / "fish" / "vendor_completions.d" / "thumbnailer.fish",
        local / "share" / "zsh" / "site-functions" / "_thumbnailer",
        local / "share" / "man" / "man1" / "thumbnailer.1.gz",
    ]
    assert all(path.is_file() for path in shell)
    assert "fpath+=" in done.stdout  # zsh's one step left to the user

    done = subprocess.run(["sh", str(opt / "uninstall.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    left = [p for p in local.rglob("*") if "batch-thumbnailer" in p.name or p.name == "thumbnailer"]
    assert left == []
    assert not any(path.exists() for path in shell)


def test_install_sh_refuses_a_folder_without_the_app(tmp_path: Path) -> None:
    shutil.copy(PACKAGING / "linux" / "install.sh", tmp_path / "install.sh")
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"]}
    done = subprocess.run(["sh", str(tmp_path / "install.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "run install.sh from the unpacked archive" in done.stderr
    assert not (tmp_path / "home").exists()


# Shell completion and the man page, generated from the command's parser (shell_files.py).


@pytest.fixture(scope="module")
def shell_share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    share = tmp_path_factory.mktemp("share")
    shell_files.write_shell_files(share, "1.2.3")
    return share


def _every_flag() -> list[str]:
    from core.cli import build_parser

    return [flag for action in build_parser()._actions for flag in action.option_strings]


def test_every_flag_of_the_parser_is_known_here() -> None:
    assert {"--max-bytes", "--out", "-o", "--verbose", "-v", "--resume", "--version"} <= set(_every_flag())


def test_the_deb_and_the_tar_gz_get_completions_and_the_man_page_where_the_shells_look() -> None:
    assert shell_files.COMPLETIONS == {
        "bash": "bash-completion/completions/thumbnailer",
        "zsh": "zsh/vendor-completions/_thumbnailer",
        "fish": "fish/vendor_completions.d/thumbnailer.fish",
    }
    assert shell_files.MAN_PAGE == "man/man1/thumbnailer.1.gz"  # under /usr/share in the .deb
    source = (PACKAGING / "linux" / "make_packages.py").read_text(encoding="utf-8")
    assert 'write_shell_files(dest / "share"' in source  # share_tree: the tar.gz's share/ and the .deb's


BASH_COMPLETE = """
source "$1"; shift
function=$(complete -p thumbnailer | sed 's/.* -F \\([^ ]*\\) .*/\\1/')
COMP_WORDS=(thumbnailer "$@"); COMP_CWORD=$#; COMP_LINE="thumbnailer $*"; COMP_POINT=${#COMP_LINE}
"$function" thumbnailer "${@: -1}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


def _bash_completes(share: Path, *words: str) -> list[str]:
    script = share / "bash-completion" / "completions" / "thumbnailer"
    done = subprocess.run(
        ["bash", "-c", BASH_COMPLETE, "bash", str(script), *words], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_bash_completes_every_flag_their_choices_and_paths(shell_share: Path, tmp_path: Path) -> None:
    assert _bash_completes(shell_share, "-") == _every_flag()
    max_flags = sorted(f for f in _every_flag() if f.startswith("--max"))
    assert "--max-bytes" in max_flags and sorted(_bash_completes(shell_share, "--max")) == max_flags
    assert _bash_completes(shell_share, "--fit", "") == ["contain", "cover", "pad"]
    (tmp_path / "urls.txt").write_text("", encoding="utf-8")
    assert _bash_completes(shell_share, str(tmp_path / "ur")) == [str(tmp_path / "urls.txt")]


def test_fish_completion_has_a_line_per_flag(shell_share: Path) -> None:
    text = (shell_share / "fish" / "vendor_completions.d" / "thumbnailer.fish").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("complete -c thumbnailer -n ")]
    for flag in _every_flag():
        option = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
        assert sum(f" {option} " in line + " " for line in lines) == 1, flag
    (fit,) = [line for line in lines if " -l fit " in line]
    assert '"contain cover pad"' in fit


@pytest.mark.skipif(not shutil.which("fish"), reason="fish not installed")
def test_fish_completes_flags_and_choices(shell_share: Path) -> None:
    script = shell_share / "fish" / "vendor_completions.d" / "thumbnailer.fish"
    line = "complete -C 'thumbnailer --max'; complete -C 'thumbnailer --fit '"
    done = subprocess.run(["fish", "-c", f"source {script}; {line}"], capture_output=True, text=True, check=True)
    offered = [row.split("\t")[0] for row in done.stdout.splitlines()]
    max_flags = sorted(f for f in _every_flag() if f.startswith("--max"))
    assert "--max-bytes" in max_flags and offered == [*max_flags, "contain", "cover", "pad"]


def test_zsh_completion_names_every_flag(shell_share: Path) -> None:
    text = (shell_share / "zsh" / "vendor-completions" / "_thumbnailer").read_text(encoding="utf-8")
    assert text.startswith("#compdef thumbnailer")
    for flag in _every_flag():
        assert f'"{flag}' in text or f"{flag}[" in text or f"{{{flag}," in text or f",{flag}}}" in text, flag
    if shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n", "-c", text], capture_output=True).returncode == 0


def test_the_man_page_lists_every_flag_and_renders(shell_share: Path) -> None:
    import gzip

    with gzip.open(shell_share / "man" / "man1" / "thumbnailer.1.gz", "rt", encoding="utf-8") as f:
        roff = f.read()
    assert roff.startswith('.TH THUMBNAILER "1" ') and '"thumbnailer 1.2.3" "Batch Thumbnailer"' in roff
    if shutil.which("man"):
        env = {**os.environ, "MANWIDTH": "200", "LC_ALL": "C.UTF-8"}
        done = subprocess.run(
            ["man", "--warnings", "-l", str(shell_share / "man" / "man1" / "thumbnailer.1.gz")],
            capture_output=True,
            text=True,
            env=env,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        text = done.stdout
    else:  # the roff itself: flags are written with escaped dashes
        text = roff.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
    assert "thumbnailer - turn image URLs" in text
    for flag in _every_flag():
        if flag not in ("-h", "--help"):  # argparse-manpage leaves out argparse's own help flag
            assert flag in text, flag
    assert "~/.local/state/batch-thumbnailer/log/batch-thumbnailer.log" in " ".join(text.split())
