"""PNGs inflated by zlib-ng decode to exactly Pillow's pixels, and anything unusual is left to Pillow."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from core.imaging import png_inflate
from core.imaging.resize import ResizeSpec, make_thumbnails
from tests.support.pngs import SIGNATURE, chunk, chunks, interlaced_rgb, noise, same_thumbnails_both_ways

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fast_path_on(monkeypatch) -> None:
    """On as in a resizer process (off by default in any other)."""
    monkeypatch.setattr(png_inflate, "_enabled", True)


def _decoded(im: Image.Image) -> tuple[str, tuple[int, int], bytes, dict]:
    im.load()
    return im.mode, im.size, im.tobytes(), im.info


def _both(path: Path) -> tuple[tuple, tuple]:
    with Image.open(path) as original:
        fast = png_inflate.repacked(original, path.read_bytes())
        assert fast is not None, "the fast path declined a plain PNG"
        mine = _decoded(fast)
    with Image.open(path) as im:
        return mine, _decoded(im)


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("RGBA", {}),
        ("RGB", {}),
        ("L", {}),
        ("LA", {}),
        ("1", {}),
        ("I;16", {}),
        ("P", {"transparency": 3}),
        ("RGB", {"dpi": (300, 300), "icc_profile": b""}),
    ],
)
def test_pixels_and_info_are_pillows_own(tmp_path: Path, mode: str, extra: dict) -> None:
    path = tmp_path / "a.png"
    im = noise("RGB", (301, 203)).quantize(64) if mode == "P" else noise(mode, (301, 203))
    im.save(path, **{k: v for k, v in extra.items() if v != b""})
    mine, pillows = _both(path)
    assert mine == pillows


def test_many_idat_chunks_become_one(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    noise("RGBA", (900, 700)).save(path)
    assert [k for k, _ in chunks(path.read_bytes())].count(b"IDAT") > 1  # what Pillow writes for this size
    mine, pillows = _both(path)
    assert mine == pillows


def test_interlaced_png(tmp_path: Path) -> None:
    path = tmp_path / "adam7.png"
    path.write_bytes(interlaced_rgb(noise("RGB", (37, 29))))
    mine, pillows = _both(path)
    assert mine == pillows and mine[1] == (37, 29)


def test_chunks_after_the_image_data_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "late.png"
    noise("RGB", (64, 48)).save(path)
    data = path.read_bytes()
    iend = data.rindex(b"IEND") - 4
    path.write_bytes(data[:iend] + chunk(b"tEXt", b"Comment\x00written after IDAT") + data[iend:])
    mine, pillows = _both(path)
    assert mine == pillows


def _declined(path: Path) -> bool:
    with Image.open(path) as im:
        return png_inflate.repacked(im, path.read_bytes()) is None


def test_animated_png_is_left_to_pillow(tmp_path: Path) -> None:
    path = tmp_path / "anim.png"
    frames = [noise("RGB", (40, 30)), noise("RGB", (40, 30)).rotate(90)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert _declined(path)


def test_damaged_data_is_left_to_pillow(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    noise("RGB", (200, 150)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert _declined(path)
    made = make_thumbnails(path, tmp_path / "out", "cut", ResizeSpec())  # what decoded (tests/core/test_damaged.py)
    assert made.warning is not None and made.warning.startswith("truncated: about ")

    flipped = tmp_path / "flipped.png"
    idat = data.index(b"IDAT") + 40
    flipped.write_bytes(data[:idat] + bytes(b ^ 0x5A for b in data[idat : idat + 64]) + data[idat + 64 :])
    assert _declined(flipped)


def test_more_data_than_the_header_says_is_not_inflated(tmp_path: Path) -> None:
    """A 10x10 header over data that inflates to 50 MB: declined after at most the header's size + 1 byte."""
    ihdr = struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)
    bomb = zlib.compress(b"\x00" * 50_000_000, 9)
    path = tmp_path / "bomb.png"
    path.write_bytes(SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bomb) + chunk(b"IEND", b""))
    assert _declined(path)


def test_images_over_the_size_limit_are_left_to_pillow(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "large.png"
    noise("RGBA", (100, 100)).save(path)
    monkeypatch.setattr(png_inflate, "MAX_RAW", 100 * (1 + 400) - 1)
    assert _declined(path)
    monkeypatch.setattr(png_inflate, "MAX_RAW", 100 * (1 + 400))
    assert not _declined(path)


def test_thumbnails_are_the_same_bytes_and_made_through_the_fast_path(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "cutout.png"
    im = noise("RGBA", (1200, 900))
    im.putalpha(Image.radial_gradient("L").resize(im.size))
    im.save(src)
    same_thumbnails_both_ways(monkeypatch, png_inflate, "repacked", src)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_resizer_processes_turn_it_on_and_other_processes_leave_it_off() -> None:
    code = (
        "from core.imaging import jobs, png_inflate\n"
        "before = png_inflate._enabled\n"
        "jobs.settle_in(None, None)\n"
        "print(before, png_inflate._enabled)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False", "True"]
