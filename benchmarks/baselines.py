"""The baselines the thumbnailer is measured against, each run as its own process so start-up counts for all.

    python -m benchmarks.baselines textbook URLS.txt OUT [--threads N]
    python -m benchmarks.baselines floor FILES.txt [--processes N]

`textbook`: what most people would write first, a thread pool where each thread downloads with requests
(one kept-alive session per thread, to be generous) and calls Pillow's `thumbnail()` itself.
`floor`: Pillow decoding each local file at the smallest shrink-on-load scale that still covers the output
(JPEG `draft` to the aspect-fitted 256 px box; PNG has none), no resize, no encode: nothing that makes a
thumbnail from these files with Pillow can be much faster. vipsthumbnail is run directly (`vips_command`).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

BOX = 256
JPEG_QUALITY = 85


def textbook(urls: list[str], out: Path, threads: int | None) -> int:
    import requests

    local = threading.local()
    out.mkdir(parents=True, exist_ok=True)

    def one(job: tuple[int, str]) -> None:
        index, url = job
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        resp = session.get(url, timeout=30)
        resp.raise_for_status()
        with Image.open(io.BytesIO(resp.content)) as im:
            im.thumbnail((BOX, BOX))
            if im.mode == "RGBA":
                im.save(out / f"{index}.png")
            else:
                im.convert("RGB").save(out / f"{index}.jpg", quality=JPEG_QUALITY)

    with ThreadPoolExecutor(threads) as pool:
        return sum(1 for _ in pool.map(one, enumerate(urls)))


def decode(path: str) -> tuple[int, int]:
    """Decode one file at its shrink-on-load scale; returns the decoded size."""
    with Image.open(path) as im:
        if im.format == "JPEG":
            w, h = im.size
            scale = min(BOX / w, BOX / h, 1.0)
            im.draft(im.mode, (max(1, round(w * scale)), max(1, round(h * scale))))
        im.load()
        return im.size


def floor(files: list[str], processes: int) -> int:
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return sum(1 for _ in pool.imap_unordered(decode, files, chunksize=1))


def vips_commands(files: list[Path], out: Path, invocations: int) -> list[list[list[str]]]:
    """vipsthumbnail command lines: `invocations` parallel lanes, each a JPEG run and a PNG run (to keep alpha)."""
    lanes: list[list[list[str]]] = []
    for lane in range(invocations):
        mine = files[lane::invocations]
        cmds = []
        for suffix, fmt in ((".jpg", f"%s.jpg[Q={JPEG_QUALITY},strip]"), (".png", "%s.png[strip]")):
            group = [str(p) for p in mine if p.suffix == suffix]
            if group:
                cmds.append(["vipsthumbnail", "-s", str(BOX), "-o", str(out / fmt), *group])
        lanes.append(cmds)
    return lanes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.baselines")
    sub = p.add_subparsers(dest="which", required=True)
    t = sub.add_parser("textbook")
    t.add_argument("urls", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--threads", type=int, default=None, help="default: ThreadPoolExecutor's own")
    f = sub.add_parser("floor")
    f.add_argument("files", type=Path)
    f.add_argument("--processes", type=int, default=2)
    args = p.parse_args(argv)
    listing: Path = args.urls if args.which == "textbook" else args.files
    lines = [line for line in listing.read_text().splitlines() if line]
    done = textbook(lines, args.out, args.threads) if args.which == "textbook" else floor(lines, args.processes)
    if done != len(lines):
        print(f"only {done} of {len(lines)} done", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
