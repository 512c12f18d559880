"""Thumbnail PNGs compressed by zlib-ng hold exactly Pillow's pixels and chunks, in one valid, small IDAT."""

from __future__ import annotations

import io
import random
import zlib

import pytest
from PIL import Image, ImageChops, ImageDraw

from core.imaging.png_deflate import deflated
from tests.support.pngs import chunks


def _graphic() -> Image.Image:
    im = Image.new("RGBA", (256, 192), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    for i in range(30):
        draw.ellipse((i * 6, i * 4, i * 6 + 60, i * 4 + 40), fill=(i * 8, 255 - i * 8, 128, 200))
        draw.text((8, i * 6), "Batch Thumbnailer", fill=(0, 0, 0, 255))
    return im


def _photo(mode: str, size: tuple[int, int], seed: int = 7) -> Image.Image:
    """A gradient with fine grain, the same every run: compressible, as photos are (pure noise is not)."""
    rng = random.Random(seed)
    bands = []
    for i, _band in enumerate(mode):
        base = Image.linear_gradient("L").rotate(90 * i).resize(size)
        grain = Image.frombytes("L", size, rng.randbytes(size[0] * size[1])).point(lambda v: v // 16)
        bands.append(ImageChops.add(base, grain))
    return Image.merge(mode, bands)


IMAGES = {
    "photo-like cut-out": lambda: _photo("RGBA", (256, 192)),
    "flat graphic": _graphic,
    "grey": lambda: _photo("L", (200, 150)),
    "large (several IDAT chunks from Pillow)": lambda: _photo("RGB", (700, 500)),
}


def _png(im: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", **params)
    return out.getvalue()


@pytest.mark.parametrize("kind", list(IMAGES))
def test_pixels_and_chunks_are_pillows_in_one_compressed_idat(kind: str) -> None:
    im = IMAGES[kind]()
    exif = Image.Exif()
    exif[0x010E] = "a thumbnail"  # ImageDescription: a chunk before the image data that must survive
    stored = _png(im, compress_level=0, exif=exif, icc_profile=b"not checked by PNG")
    ours = deflated(stored)
    kinds = [k for k, _ in chunks(ours)]
    assert kinds.count(b"IDAT") == 1
    assert [k for k in kinds if k != b"IDAT"] == [k for k, _ in chunks(stored) if k != b"IDAT"]
    idat = next(body for k, body in chunks(ours) if k == b"IDAT")
    zlib.decompress(idat)  # the system zlib reads what zlib-ng wrote
    with Image.open(io.BytesIO(ours)) as mine, Image.open(io.BytesIO(stored)) as theirs:
        mine.load()  # Pillow checks every chunk's CRC
        assert (mine.mode, mine.size, mine.tobytes()) == (theirs.mode, theirs.size, im.tobytes())
        assert mine.getexif()[0x010E] == "a thumbnail" and mine.info["icc_profile"] == b"not checked by PNG"
    assert len(ours) < len(stored)
    assert len(ours) <= 1.1 * len(_png(im, compress_level=6))  # about Pillow's default in size
