"""Files cut short, made from real encoded images, with the share of the image their data still covers.

The picture has large coloured bands (so the top of a thumbnail can be compared with the source's) over fine noise
(so every row costs about as many compressed bytes as any other, and a cut at 60% of the data is near 60% of the
rows). The truth is measured from the data itself, never from the code under test.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw

from tests.support.images import cut_before_scan_data, encode

WIDTH, HEIGHT = 320, 240
BANDS = ((220, 40, 40), (40, 160, 60), (40, 70, 200), (230, 200, 40))


def picture() -> Image.Image:
    """Four horizontal colour bands under fine noise."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate(BANDS):
        draw.rectangle((0, i * HEIGHT // 4, WIDTH - 1, (i + 1) * HEIGHT // 4 - 1), fill=colour)
    noise = Image.effect_noise((WIDTH, HEIGHT), 40).convert("RGB")
    return Image.blend(image, noise, 0.25)


@dataclass(frozen=True)
class Cut:
    """`data`: the file cut short; `missing`: the share of the image (0..1) its data no longer covers."""

    data: bytes
    missing: float


def jpeg_cut(share: float = 0.6) -> Cut:
    """A baseline JPEG cut at `share` of its scan data: rows cost about the same, so the missing share of the rows
    is about the missing share of the scan data."""
    whole = encode(picture(), "JPEG", quality=90)
    start = len(cut_before_scan_data(whole))
    scan = len(whole) - 2 - start  # without the end marker
    cut = start + round(scan * share)
    return Cut(whole[:cut], 1 - share)


def jpeg_without_scan_data() -> bytes:
    """A JPEG cut right after its scan header: nothing of the image is there."""
    return cut_before_scan_data(encode(picture(), "JPEG", quality=90))


def png_cut(share: float = 0.6) -> Cut:
    """A PNG cut inside its IDAT chunk; the truth is the rows its compressed data still inflates to."""
    whole = encode(picture(), "PNG")
    idat = whole.index(b"IDAT")
    (length,) = struct.unpack(">I", whole[idat - 4 : idat])
    cut = idat + 4 + round(length * share)
    rows = len(zlib.decompressobj().decompress(whole[idat + 4 : cut])) // (1 + WIDTH * 3)
    return Cut(whole[:cut], 1 - rows / HEIGHT)


def gif_cut(share: float = 0.6) -> Cut:
    """A GIF cut inside its one frame's LZW data: noise codes evenly, so about `share` of the rows are there."""
    whole = encode(picture(), "GIF", interlace=False)  # rows in order, so the missing part is the bottom
    data = gif_frame_data(whole)
    cut = data + round((len(whole) - 1 - data) * share)
    return Cut(whole[:cut], 1 - share)


def gif_frame_data(data: bytes) -> int:
    """Where the first frame's LZW data starts: after the screen descriptor, its colour table, any extensions,
    the image descriptor, its own colour table and the LZW minimum code size."""
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)
    while data[pos] == 0x21:  # an extension: label, then sub-blocks up to an empty one
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    assert data[pos] == 0x2C, "an image descriptor"
    flags = data[pos + 9]
    pos += 10
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)
    return pos + 1
