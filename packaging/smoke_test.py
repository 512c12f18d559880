"""Smoke-test the packaged app the way a user meets it, after `make package` built it.

1. The frozen window starts offscreen and quits by itself (`batch-thumbnailer --smoke`); where Xvfb is
   installed, also on a virtual X server through Qt's xcb plugin.
2. The frozen `thumbnailer` turns local images (plain paths and file URLs) and loopback URLs (a threaded
   http.server on 127.0.0.1 started here), of every format family the app decodes (JPEG, PNG, WebP, HEIC,
   JPEG XL, PDF, SVG, SVGZ), into thumbnails with 2 resizer processes: outputs exist with the
   right sizes, the report says all done, and no runaway respawn of the frozen executable happened. The
   frozen window runs such a batch too (`--start --smoke`): its engine process and that process's resizers
   make every thumbnail, and none of them outlives the window.
3. The tar.gz: install.sh into a throw-away HOME, start the app from the installed .desktop file's Exec line,
   then uninstall.sh removes it all.
4. The .deb (as root only): dpkg -i, start from /usr/share/applications' Exec line, the /usr/bin launchers,
   then dpkg -r.
Usage: python packaging/smoke_test.py [--app dist/batch-thumbnailer] [--dist dist] [--no-install]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_info import APP_ID, CLI_EXE, DIST_DIR, GUI_EXE, read_version

GUI_SECONDS = 60  # the window quits after ~1 s; a minute covers a cold disk cache on a slow machine
BATCH_SECONDS = 120
PROCESSES = 2
SIZES = (128, 48)
EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""


class SmokeFailure(Exception):
    """A check a user would notice failed; the message says which and what was seen."""


def _env(home: Path, **extra: str) -> dict[str, str]:
    """Offscreen Qt and a throw-away HOME, so the check neither needs a display nor touches real settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "XDG_", "DISPLAY", "WAYLAND_"))}
    env.update({"QT_QPA_PLATFORM": "offscreen", "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"), **extra})
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SmokeFailure(f"{what}: still running after {timeout:.0f} s ({shlex.join(cmd)})") from None
    if done.returncode != 0:
        raise SmokeFailure(
            f"{what}: exit code {done.returncode} after {time.monotonic() - start:.1f} s ({shlex.join(cmd)})\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
    return done


def check_window(exe: Path, home: Path) -> str:
    start = time.monotonic()
    _run([str(exe), "--smoke"], _env(home), GUI_SECONDS, "the window with --smoke")
    return f"window opened offscreen and quit by itself in {time.monotonic() - start:.1f} s"


def check_window_x11(exe: Path, home: Path) -> str:
    """The same on a real (virtual) X server: exercises the xcb plugin and the system X/GL/font libraries."""
    start = time.monotonic()
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", str(exe), "--smoke"]
    _run(command, _env(home, QT_QPA_PLATFORM="xcb"), GUI_SECONDS, "the window on Xvfb")
    return f"window opened on Xvfb (xcb plugin) and quit by itself in {time.monotonic() - start:.1f} s"


def check_window_batch(exe: Path, work: Path) -> str:
    """A whole batch in the frozen window (`--start --smoke` quits when it ends): its engine process and that
    process's resizers start from the frozen program, make every thumbnail, and none of them outlives it."""
    images = _make_images(work / "images")
    out = work / "out"
    with _Server(work / "images") as base:
        served = [f"{base}/{n}" for n in images if n.startswith("served-")]
        local = [str(work / "images" / n) for n in images if not n.startswith("served-")]
        start = time.monotonic()
        _run(
            [str(exe), "--out", str(out), "--start", "--smoke", *local, *served],
            _env(work / "home"),
            BATCH_SECONDS,
            "a batch in the window",
        )
    seconds = time.monotonic() - start
    made = [p for p in out.iterdir() if p.is_file()]
    if len(made) != len(images):
        raise SmokeFailure(f"the window's batch made {len(made)} thumbnails of {len(images)} images in {out}")
    _none_left(exe, "engine or resizer processes outlived the window")
    return f"{len(images)} images (paths, loopback URLs) -> {len(made)} thumbnails in {seconds:.1f} s"


def check_version(exe: Path, home: Path) -> str:
    out = _run([str(exe), "--version"], _env(home), 30, "thumbnailer --version")
    version = read_version()
    if version not in out.stdout + out.stderr:
        raise SmokeFailure(f"thumbnailer --version says {out.stdout.strip()!r}, pyproject.toml says {version}")
    metadata = [
        meta
        for meta in (
            *exe.parent.glob("_internal/*.dist-info/METADATA"),
            *exe.parent.glob("_internal/*.egg-info/PKG-INFO"),
        )
        if f"\nName: {APP_ID}\n" in meta.read_text(encoding="utf-8")
    ]
    if not metadata or f"\nVersion: {version}\n" not in metadata[0].read_text(encoding="utf-8"):
        raise SmokeFailure(
            f"no {APP_ID} {version} package metadata in the bundle: the About box cannot say its version"
        )
    return f"thumbnailer --version: {out.stdout.strip()}; bundled metadata: {metadata[0].parent.name}"


def _make_images(folder: Path) -> dict[str, tuple[int, int]]:
    """A few real images of different kinds, formats and shapes: name -> (width, height)."""
    folder.mkdir(parents=True)
    specs = {
        "wide.jpg": ("RGB", (640, 360), "JPEG"),
        "tall.png": ("RGBA", (240, 480), "PNG"),
        "square.webp": ("RGB", (300, 300), "WEBP"),
        "photo.jpg": ("RGB", (500, 400), "JPEG"),
        "served-a.jpg": ("RGB", (800, 600), "JPEG"),
        "served-b.png": ("RGBA", (200, 100), "PNG"),
        "served-c.jpg": ("RGB", (333, 999), "JPEG"),
    }
    for i, (name, (mode, size, fmt)) in enumerate(specs.items()):
        Image.new(mode, size, (40 * i % 256, 120, 200, 255)[: len(mode)]).save(folder / name, fmt)
    return {name: size for name, (_mode, size, _fmt) in specs.items()} | _make_other_formats(folder)


def _make_other_formats(folder: Path) -> dict[str, tuple[int, int]]:
    """The formats the app decodes through its own libraries (libheif, libjxl, resvg, PDFium), one of each,
    made with the test extra's encoders: name -> (width, height)."""
    from pillow_heif import register_heif_opener  # an encoder the app itself leaves out (x265)
    from pillow_jxl import JpegXLImagePlugin  # noqa: F401 -- registers the JPEG XL encoder

    register_heif_opener()
    Image.new("RGB", (360, 240), (200, 60, 40)).save(folder / "iphone.heic", "HEIF")
    Image.new("RGB", (300, 500), (40, 160, 90)).save(folder / "served-d.jxl", "JXL")
    Image.new("RGB", (420, 300), (90, 40, 200)).save(folder / "served-e.pdf", "PDF", resolution=72.0)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
        '<rect width="{w}" height="{h}" fill="#d08020"/></svg>'
    )
    (folder / "drawing.svg").write_text(svg.format(w=400, h=100), encoding="utf-8")
    (folder / "served-f.svgz").write_bytes(gzip.compress(svg.format(w=120, h=360).encode()))
    return {
        "served-f.svgz": (120, 360),
        "iphone.heic": (360, 240),
        "served-d.jxl": (300, 500),
        "served-e.pdf": (420, 300),
        "drawing.svg": (400, 100),
    }


class _Server:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving one folder; stopped on exit."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _pids_of(exe: Path) -> set[int]:
    """Running processes whose executable is `exe` (the frozen program and the resizers it spawned). Needs
    Linux's /proc; elsewhere the time limit and the report are what catch a runaway respawn."""
    target, pids = str(exe.resolve()), set()
    if not Path("/proc/self/exe").exists():
        return pids
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "exe") == target:
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _none_left(exe: Path, what: str, seconds: float = 10) -> None:
    """Fail when copies of `exe` are still running `seconds` after the program that started them ended."""
    deadline = time.monotonic() + seconds
    while _pids_of(exe) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left := _pids_of(exe):
        raise SmokeFailure(f"{len(left)} {what}: {sorted(left)}")


def _expected_box(size: tuple[int, int], box: int) -> tuple[int, int]:
    w, h = size
    scale = min(box / w, box / h, 1.0)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _check_report(report: Path, images: dict[str, tuple[int, int]], count: int) -> int:
    data = json.loads(report.read_text(encoding="utf-8"))
    summary = data["summary"]
    if summary["total"] != count or summary["done"] != count:
        raise SmokeFailure(f"the report does not say all {count} items are done: {summary}")
    outputs = 0
    for item in data["items"]:
        name = item["url"].rsplit("/", 1)[-1]
        if item["status"] != "done":
            raise SmokeFailure(f"{item['source']}: {item['status']}: {item['error']}")
        got = {(o["width"], o["height"]) for o in item["outputs"]}
        want = {_expected_box(images[name], box) for box in SIZES}
        if got != want:
            raise SmokeFailure(f"{item['source']}: thumbnails {sorted(got)}, expected {sorted(want)}")
        for out in item["outputs"]:
            path = Path(out["path"])
            if not path.is_absolute():
                path = report.parent / path
            with Image.open(path) as im:
                if im.size != (out["width"], out["height"]):
                    raise SmokeFailure(f"{path}: is {im.size}, the report says {out['width']}x{out['height']}")
            outputs += 1
    return outputs


def check_batch(exe: Path, work: Path) -> str:
    """Local paths, file URLs and loopback URLs (direct and in a .txt list) through 2 resizer processes."""
    images = _make_images(work / "images")
    local = [n for n in images if not n.startswith("served-")]
    served = [n for n in images if n.startswith("served-")]
    peak, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], len(_pids_of(exe)))

    with _Server(work / "images") as base:
        url_list = work / "urls.txt"
        url_list.write_text("# loopback URLs\n" + "".join(f"{base}/{n}\n" for n in served[1:]), encoding="utf-8")
        sources = [
            str(work / "images" / local[0]),
            str(work / "images" / local[1]),
            *((work / "images" / n).as_uri() for n in local[2:]),
            f"{base}/{served[0]}",
            str(url_list),
        ]
        cmd = [str(exe), "--processes", str(PROCESSES), "-o", str(work / "out"), "--report", str(work / "report.json")]
        cmd += [f"--size={s}" for s in SIZES] + sources
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.monotonic()
        try:
            _run(cmd, _env(work / "home"), BATCH_SECONDS, "thumbnailer batch")
        finally:
            stop.set()
            watcher.join()
    seconds = time.monotonic() - start
    limit = PROCESSES + 2  # the command, its resizers and multiprocessing's resource tracker
    if peak[0] > limit:
        raise SmokeFailure(f"runaway respawn: {peak[0]} copies of {exe.name} ran at once (at most {limit} expected)")
    _none_left(exe, "resizer processes outlived the command")
    outputs = _check_report(work / "report.json", images, len(images))
    return (
        f"{len(images)} images (paths, file URLs, loopback URLs) -> {outputs} thumbnails in {seconds:.1f} s, "
        f"at most {peak[0]} processes at once"
    )


def desktop_exec(desktop_file: Path) -> list[str]:
    """The Exec= command of a .desktop file with its field codes (%F, %U, ...) removed."""
    for line in desktop_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            return [arg for arg in shlex.split(line[len("Exec=") :]) if not arg.startswith("%")]
    raise SmokeFailure(f"{desktop_file} has no Exec= line")


def _validate_desktop(path: Path) -> None:
    if shutil.which("desktop-file-validate"):
        done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        if done.returncode != 0 or done.stdout.strip():
            raise SmokeFailure(f"desktop-file-validate {path}:\n{done.stdout}{done.stderr}")


def check_tarball(tarball: Path, work: Path) -> str:
    home = work / "home"
    with tarfile.open(tarball) as tar:
        tar.extractall(work / "unpacked", filter="tar")
    (top,) = (work / "unpacked").iterdir()
    env = _env(home, PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    _run(["sh", str(top / "install.sh")], env, 120, "install.sh")
    local = home / ".local"
    desktop = local / "share" / "applications" / f"{APP_ID}.desktop"
    expected = [
        local / "opt" / APP_ID / GUI_EXE,
        local / "share" / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png",
        local / "share" / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        desktop,
    ]
    if missing := [str(p) for p in expected if not p.exists()]:
        raise SmokeFailure(f"install.sh did not install {missing}")
    _validate_desktop(desktop)
    _run([str(local / "bin" / CLI_EXE), "--version"], env, 30, "~/.local/bin/thumbnailer --version")
    command = [*desktop_exec(desktop), "--smoke"]
    _run(command, env, GUI_SECONDS, "the installed menu entry's Exec line")
    _run(["sh", str(local / "opt" / APP_ID / "uninstall.sh")], env, 60, "uninstall.sh")
    if left := [str(p) for p in [*expected, local / "bin" / CLI_EXE, local / "bin" / GUI_EXE] if p.exists()]:
        raise SmokeFailure(f"uninstall.sh left {left}")
    return f"{tarball.name}: install.sh, started from {desktop.name} Exec ({shlex.join(command)}), uninstall.sh"


def _dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})


def check_deb(deb: Path, work: Path) -> str:
    if _dpkg("-s", APP_ID).returncode == 0:
        return f"skipped: {APP_ID} is already installed on this machine; the check would replace and remove it"
    installed = _dpkg("-i", str(deb))
    try:
        if installed.returncode != 0:
            raise SmokeFailure(
                f"dpkg -i {deb.name} failed (missing Depends? see the control file):\n{installed.stderr}"
            )
        env = _env(work / "home", PATH="/usr/local/bin:/usr/bin:/bin")
        desktop = Path("/usr/share/applications") / f"{APP_ID}.desktop"
        _validate_desktop(desktop)
        _run([f"/usr/bin/{CLI_EXE}", "--version"], env, 30, f"/usr/bin/{CLI_EXE} --version")
        command = [*desktop_exec(desktop), "--smoke"]
        _run(command, env, GUI_SECONDS, f"{desktop}'s Exec line")
    finally:
        removed = _dpkg("-r", APP_ID) if installed.returncode == 0 or _dpkg("-s", APP_ID).returncode == 0 else None
    if removed is not None and removed.returncode != 0:
        raise SmokeFailure(f"dpkg -r {APP_ID} failed:\n{removed.stderr}")
    if left := [p for p in (f"/opt/{APP_ID}", f"/usr/bin/{GUI_EXE}", f"/usr/bin/{CLI_EXE}") if os.path.lexists(p)]:
        raise SmokeFailure(f"dpkg -r left {left}")
    return f"{deb.name}: dpkg -i, started from {desktop} Exec ({shlex.join(command)}), dpkg -r"


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SmokeFailure(f"no {pattern} in {dist}; run packaging/linux/make_packages.py first")
    return found[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test the frozen app and its Linux packages.")
    parser.add_argument("--app", type=Path, default=DIST_DIR / APP_ID, help="one-folder build (default: %(default)s)")
    parser.add_argument("--dist", type=Path, default=DIST_DIR, help="where the packages are (default: %(default)s)")
    parser.add_argument(
        "--no-install", action="store_true", help="only the frozen folder, not the tar.gz and .deb (Linux only)"
    )
    args = parser.parse_args(argv)
    app = args.app.resolve()
    version = read_version()
    checks: list[tuple[str, Callable[[Path], str]]] = [
        ("frozen window", lambda w: check_window(app / f"{GUI_EXE}{EXE_SUFFIX}", w)),
        ("frozen command version", lambda w: check_version(app / f"{CLI_EXE}{EXE_SUFFIX}", w)),
        ("frozen command batch", lambda w: check_batch(app / f"{CLI_EXE}{EXE_SUFFIX}", w)),
        ("frozen window batch", lambda w: check_window_batch(app / f"{GUI_EXE}{EXE_SUFFIX}", w)),
    ]
    if shutil.which("xvfb-run") and shutil.which("xauth"):
        checks.insert(1, ("frozen window on X11", lambda w: check_window_x11(app / GUI_EXE, w)))
    elif sys.platform.startswith("linux"):
        print("skip: window on X11 (needs Debian's xvfb and xauth)")
    if not args.no_install and sys.platform.startswith("linux"):
        checks.append(("tar.gz install", lambda w: check_tarball(_one(args.dist, f"{APP_ID}-{version}-*.tar.gz"), w)))
        if os.geteuid() == 0 and shutil.which("dpkg"):
            checks.append((".deb install", lambda w: check_deb(_one(args.dist, f"{APP_ID}_*.deb"), w)))
        else:
            print("skip: .deb install (needs root and dpkg)")
    failures = 0
    for name, check in checks:
        with tempfile.TemporaryDirectory(prefix="thumbnailer-smoke-") as tmp:
            try:
                print(f"ok:   {name}: {check(Path(tmp))}", flush=True)
            except SmokeFailure as exc:
                failures += 1
                print(f"FAIL: {name}: {exc}", flush=True)
    print(f"smoke test: {len(checks) - failures} of {len(checks)} checks ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
