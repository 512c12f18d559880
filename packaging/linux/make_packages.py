"""Wrap the one-folder build (dist/batch-thumbnailer) into a tar.gz with install.sh and a .deb.

tar.gz: `batch-thumbnailer-<version>-linux-<machine>/` = the app folder + install.sh, uninstall.sh and
share/ (desktop entry, hicolor icons, shell completions, man page); runs in place or installs into ~/.local.
.deb: /opt/batch-thumbnailer, /usr/bin launchers, /usr/share desktop entry, icons, the command's bash, zsh and
fish completions and man page (shell_files.py, generated from its parser). Its Depends are
computed, not guessed: every library the frozen binaries link against that is not bundled is looked up
with `dpkg -S`; libraries only the Wayland plugins need become Recommends.
Usage: python packaging/linux/make_packages.py [--app dist/batch-thumbnailer] [--out dist]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app_info import (
    APP_ID,
    BUILD_DIR,
    CLI_EXE,
    DIST_DIR,
    GUI_EXE,
    ICON_DIR,
    ICON_SVG,
    MAINTAINER,
    SUMMARY,
    read_version,
)
from make_icons import make_icons
from shell_files import write_shell_files

HERE = Path(__file__).resolve().parent
DESKTOP_FILE = HERE / f"{APP_ID}.desktop"
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Data files, not libraries: without them the bundled fontconfig finds no fonts and every label is boxes.
EXTRA_DEPENDS = ("fontconfig-config",)
DESCRIPTION = """\
 Batch Thumbnailer takes lists of image URLs (.txt, .csv, .html, text/uri-list),
 local images and folders, downloads them concurrently within the limits you
 set, and turns each into one or more thumbnails (JPEG, PNG, WebP, AVIF) in
 worker processes. A desktop window (batch-thumbnailer) and a headless command
 (thumbnailer) share one engine; interrupted batches resume.
 .
 This package ships a self-contained build with its own Python and Qt in
 /opt/batch-thumbnailer."""


def share_tree(dest: Path, icons: Path = ICON_DIR) -> Path:
    """`dest/share/applications/<id>.desktop`, `dest/share/icons/hicolor/<size>/apps/<id>.{png,svg}` and the
    command's completions and man page (shell_files.py); `icons` holds make_icons.py's PNGs (rendered there
    first if missing)."""
    if not (icons / f"{APP_ID}-512.png").exists():
        make_icons(ICON_SVG, icons)
    apps = dest / "share" / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DESKTOP_FILE, apps / DESKTOP_FILE.name)
    hicolor = dest / "share" / "icons" / "hicolor"
    for size in HICOLOR_SIZES:
        target = hicolor / f"{size}x{size}" / "apps"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(icons / f"{APP_ID}-{size}.png", target / f"{APP_ID}.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ICON_SVG, hicolor / "scalable" / "apps" / f"{APP_ID}.svg")
    write_shell_files(dest / "share", read_version())
    return dest / "share"


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _link_tree(src: Path, dest: Path) -> None:
    """Hard-link copy (same disk, no bytes copied); falls back to a copy across file systems."""
    try:
        shutil.copytree(src, dest, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest, symlinks=True)


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def make_tarball(app: Path, out_dir: Path, version: str) -> Path:
    """The app folder plus install.sh, uninstall.sh and share/, as one top folder in a .tar.gz."""
    top = f"{APP_ID}-{version}-linux-{platform.machine()}"
    stage = _fresh(BUILD_DIR / "tarball") / top
    _link_tree(app, stage)
    for script in ("install.sh", "uninstall.sh"):
        shutil.copyfile(HERE / script, stage / script)
        (stage / script).chmod(0o755)
    share_tree(stage)
    out = out_dir / f"{top}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(stage, arcname=top, filter=_normalised)
    return out


def debian_version(version: str) -> str:
    """PEP 440 to Debian ordering: pre-releases and dev builds sort before the release ("1.0rc1" -> "1.0~rc1")."""
    return re.sub(r"[.-]?(a|b|rc|dev)(\d*)", r"~\1\2", version).replace("+", "+local.")


def _elf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _needed(elf: Path) -> list[str]:
    dynamic = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)


def system_libraries(app: Path) -> dict[str, set[str]]:
    """Libraries outside the bundle that its binaries link against directly (their own dependencies are the
    Debian packages' business): library path (or soname when missing here) -> bundle files needing it."""
    bundle = app.resolve()
    env = {**os.environ, "LD_LIBRARY_PATH": str(bundle / "_internal")}
    needed: dict[str, set[str]] = {}
    for elf in _elf_files(bundle):
        direct = set(_needed(elf))
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            match = re.match(r"\s*(\S+)\s+=>\s+(not found|\S+)", line)
            if not match or match.group(1) not in direct:
                continue
            name, where = match.groups()
            if where != "not found" and Path(where).resolve().is_relative_to(bundle):
                continue
            needed.setdefault(name if where == "not found" else where, set()).add(str(elf.relative_to(bundle)))
    return needed


def _package_of(library: str) -> str:
    """The Debian package owning a library path; for a library missing here, Debian's naming rule."""
    candidates = [library, str(Path(library).resolve())] if library.startswith("/") else []
    candidates += [c.replace("/usr/lib/", "/lib/", 1) for c in candidates if c.startswith("/usr/lib/")]
    candidates += [c.replace("/lib/", "/usr/lib/", 1) for c in candidates if c.startswith("/lib/")]
    for path in candidates:
        found = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].split(",")[0].strip()
    soname = Path(library).name
    stem, _, number = soname.partition(".so.")
    name = stem.lower() + ("-" if stem[-1:].isdigit() else "") + number.split(".")[0]
    print(f"note: {soname} is not installed here; assuming Debian package {name}", file=sys.stderr)
    return name


def glibc_needed(app: Path) -> str:
    """The newest GLIBC_x.y symbol version any binary in the bundle asks for: the oldest glibc it runs on."""
    versions = {(2, 17)}
    for elf in _elf_files(app):
        symbols = subprocess.run(["objdump", "-T", str(elf)], capture_output=True, text=True).stdout
        versions.update(tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_(\d+\.\d+)\b", symbols))
    return ".".join(map(str, max(versions)))


def debian_dependencies(app: Path) -> tuple[list[str], list[str]]:
    """(Depends, Recommends): what the bundle links against but does not carry. Libraries that only the
    Wayland plugin needs are recommended; X11 and offscreen work without them."""
    depends: set[str] = set(EXTRA_DEPENDS)
    recommends: set[str] = set()
    libc6 = f"libc6 (>= {glibc_needed(app)})"
    for library, users in system_libraries(app).items():
        package = _package_of(library)
        if package == "libc6":
            package = libc6
        wayland_only = all("wayland" in user.lower() for user in users)
        (recommends if wayland_only else depends).add(package)
    return sorted(depends), sorted(recommends - depends)


def _architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def _tree_kib(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir()) // 1024 + 1


def make_deb(app: Path, out_dir: Path, version: str) -> Path:
    """A .deb with the app in /opt/<id>, /usr/bin launchers, the desktop entry and icons."""
    root = _fresh(BUILD_DIR / "deb-root")
    _link_tree(app, root / "opt" / APP_ID)
    (root / "usr" / "bin").mkdir(parents=True)
    for exe in (GUI_EXE, CLI_EXE):
        (root / "usr" / "bin" / exe).symlink_to(f"/opt/{APP_ID}/{exe}")
    share_tree(root / "usr")
    doc = root / "usr" / "share" / "doc" / APP_ID
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {APP_ID}\n\nFiles: *\nLicense: MIT\n",
        encoding="utf-8",
    )
    depends, recommends = debian_dependencies(app)
    arch = _architecture()
    deb_version = debian_version(version)
    control = [
        f"Package: {APP_ID}",
        f"Version: {deb_version}",
        f"Architecture: {arch}",
        f"Maintainer: {MAINTAINER}",
        f"Installed-Size: {_tree_kib(root)}",
        f"Depends: {', '.join(depends)}",
        *([f"Recommends: {', '.join(recommends)}"] if recommends else []),
        "Section: graphics",
        "Priority: optional",
        f"Description: {SUMMARY}",
        DESCRIPTION,
    ]
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n", encoding="utf-8")
    out = out_dir / f"{APP_ID}_{deb_version}_{arch}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--build", str(root), str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def _size(path: Path) -> str:
    size = sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir()) if path.is_dir() else path.stat().st_size
    return f"{size / 1e6:.1f} MB ({size / 2**20:.1f} MiB)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the Linux tar.gz and .deb from the one-folder build.")
    parser.add_argument("--app", type=Path, default=DIST_DIR / APP_ID, help="one-folder build (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DIST_DIR, help="where the packages go (default: %(default)s)")
    parser.add_argument("--no-deb", action="store_true", help="only the tar.gz (no dpkg-deb on this machine)")
    args = parser.parse_args(argv)
    if not (args.app / GUI_EXE).is_file():
        print(f"make_packages: no build in {args.app}; run `make package` (PyInstaller) first", file=sys.stderr)
        return 1
    version = read_version()
    args.out.mkdir(parents=True, exist_ok=True)
    made = [make_tarball(args.app, args.out, version)]
    if not args.no_deb:
        if not shutil.which("dpkg-deb"):
            print("make_packages: dpkg-deb not found (Debian package dpkg); use --no-deb", file=sys.stderr)
            return 1
        made.append(make_deb(args.app, args.out, version))
    print(f"folder  {args.app}  {_size(args.app)}")
    for path in made:
        print(f"package {path}  {_size(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
