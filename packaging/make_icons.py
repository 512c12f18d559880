"""Render the app icon for every platform from ONE source, gui/resources/icon.svg.

Qt's SVG renderer (offscreen, no display needed) draws a PNG at each size, so small sizes are drawn
crisply rather than scaled down from a big bitmap; Pillow packs them into a Windows .ico and a macOS .icns.
Usage: python packaging/make_icons.py [--svg icon.svg] [--out build/icons]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_info import APP_ID, ICON_DIR, ICON_SVG

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render_pngs(svg: Path, out_dir: Path, sizes: tuple[int, ...] = PNG_SIZES) -> dict[int, Path]:
    """Draw the SVG into square transparent PNGs named `<APP_ID>-<size>.png`; returns size -> path."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"cannot render the icon: {svg} is missing or not a valid SVG")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[int, Path] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        renderer.setAspectRatioMode(Qt.AspectRatioMode.KeepAspectRatio)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"{APP_ID}-{size}.png"
        if not image.save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")
        written[size] = path
    return written


def _pack(pngs: dict[int, Path], sizes: tuple[int, ...], path: Path, fmt: str) -> Path:
    images = [Image.open(pngs[s]).convert("RGBA") for s in sizes]
    largest = images[-1]
    if fmt == "ICO":
        largest.save(path, fmt, sizes=[(s, s) for s in sizes], append_images=images[:-1])
    else:
        largest.save(path, fmt, append_images=images[:-1])
    return path


def make_icons(svg: Path = ICON_SVG, out_dir: Path = ICON_DIR) -> dict[str, Path]:
    """Write the PNG set, `<APP_ID>.png` (256 px), `.ico` and `.icns`; returns {"png", "ico", "icns"} -> path."""
    pngs = render_pngs(svg, out_dir)
    main_png = out_dir / f"{APP_ID}.png"
    main_png.write_bytes(pngs[256].read_bytes())
    return {
        "png": main_png,
        "ico": _pack(pngs, ICO_SIZES, out_dir / f"{APP_ID}.ico", "ICO"),
        "icns": _pack(pngs, ICNS_SIZES, out_dir / f"{APP_ID}.icns", "ICNS"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=ICON_SVG, help="source SVG (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ICON_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        made = make_icons(args.svg, args.out)
    except (ValueError, OSError) as exc:
        print(f"make_icons: {exc}", file=sys.stderr)
        return 1
    print("icons: " + ", ".join(str(p) for p in made.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
