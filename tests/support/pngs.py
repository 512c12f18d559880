"""PNG files for the decoder tests: photo-like noise, hand-made chunks, and what Pillow cannot write."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from core.imaging.resize import ResizeResult, ResizeSpec, make_thumbnails

SIGNATURE = b"\x89PNG\r\n\x1a\n"


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def noise(mode: str, size: tuple[int, int]) -> Image.Image:
    """Photo-like noise in any mode: real filters and real compression, unlike flat colours."""
    bands = [Image.effect_noise(size, 60 + 10 * i).point(lambda v, i=i: (v * (i + 2)) % 256) for i in range(4)]
    rgba = Image.merge("RGBA", bands)
    return rgba if mode == "RGBA" else rgba.convert(mode)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, found = 8, []
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        found.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return found


def interlaced_rgb(im: Image.Image) -> bytes:
    """An Adam7-interlaced PNG (Pillow cannot write one): filter 0 on every row of every pass."""
    w, h = im.size
    px = im.convert("RGB").tobytes()
    raw = bytearray()
    for x0, y0, dx, dy in ADAM7:
        if x0 >= w or y0 >= h:
            continue
        for y in range(y0, h, dy):
            raw.append(0)
            for x in range(x0, w, dx):
                raw += px[(y * w + x) * 3 : (y * w + x) * 3 + 3]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


def same_thumbnails_both_ways(monkeypatch: pytest.MonkeyPatch, module: object, name: str, src: Path) -> ResizeResult:
    """Thumbnails of `src` made through the fast path `module.name` (which must take the file, and its bytes held in
    memory as a download in the shared spool is) and once with it declining everything; asserts all give the same
    result and the same bytes, and returns the result."""
    spec = ResizeSpec(sizes=(64, 256))
    used: list[bool] = []
    real = getattr(module, name)

    def counted(opened: Image.Image, data: bytes) -> Image.Image | None:
        result = real(opened, data)
        used.append(result is not None)
        return result

    monkeypatch.setattr(module, name, counted)
    fast = make_thumbnails(src, src.parent / "fast", src.stem, spec)
    in_memory = make_thumbnails(src.read_bytes(), src.parent / "memory", src.stem, spec)
    assert used == [True, True]
    monkeypatch.setattr(module, name, lambda _im, _data: None)
    slow = make_thumbnails(src, src.parent / "slow", src.stem, spec)
    assert fast == slow == in_memory
    for out in fast.outputs:
        expected = (src.parent / "slow" / out.path).read_bytes()
        assert (src.parent / "fast" / out.path).read_bytes() == expected
        assert (src.parent / "memory" / out.path).read_bytes() == expected
    return fast
