"""Real files for the fault suite, made with Pillow (or by hand where Pillow refuses to write them).

Each maker returns bytes. The odd ones (bombs, 48-bit PNG) are assembled chunk by chunk, the way a hostile
or simply unusual encoder would write them.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")  # from Debian's ghostscript


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def marked(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Light grey with a black top-left quarter, so orientation can be read back from a thumbnail."""
    image = Image.new("RGB", (width, height), (200, 200, 200))
    ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=(0, 0, 0))
    return image.convert(mode)


def with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(marked(80, 40), "JPEG", quality=95, exif=exif)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` with a few bytes of data: refused from the header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gif_bomb() -> bytes:
    """A 1x1 GIF whose logical screen says 65535 x 65535."""
    data = bytearray(encode(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def jpeg_bomb() -> bytes:
    """A small JPEG whose frame header says 65500 x 65500."""
    data = bytearray(encode(Image.new("RGB", (8, 8), "red"), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    return bytes(data)


def png_48_bit(width: int = 40, height: int = 30) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow reads these but cannot write them)."""
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    row = b"\0" + struct.pack(">HHH", 65535, 32768, 0) * width  # orange, at 16 bits
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(row * height))
        + png_chunk(b"IEND", b"")
    )


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (48, 32), colour) for colour in ("red", "lime", "blue")]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def multipage_tiff() -> bytes:
    pages = [Image.new("RGB", (48, 32), colour) for colour in ("red", "lime", "blue")]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def palette_with_transparency(fmt: str) -> bytes:
    image = Image.new("P", (40, 40), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    ImageDraw.Draw(image).rectangle((0, 0, 19, 39), fill=0)  # the left half uses the transparent entry
    return encode(image, fmt, transparency=0)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def cut_before_scan_data(jpeg: bytes) -> bytes:
    """A JPEG cut right after its scan header: nothing of the image is there, so nothing can be shown."""
    sos = jpeg.index(b"\xff\xda")
    (length,) = struct.unpack(">H", jpeg[sos + 2 : sos + 4])
    return jpeg[: sos + 2 + length]


def flat_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A large one-colour PNG, written row by row: far quicker to make than with Pillow, as slow to decode."""
    row = b"\0" + bytes(rgb) * width
    compressor = zlib.compressobj(1)
    data = b"".join([compressor.compress(row) for _ in range(height)] + [compressor.flush()])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def salient_disc(size: tuple[int, int], centre: tuple[int, int], radius: int) -> Image.Image:
    """A plain grey frame with one salient thing in it: a saturated red disc speckled with orange (the subject
    a crop must keep)."""
    rng = random.Random(17)
    im = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(im)
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(220, 20, 20))
    for _ in range(radius * 20):
        px, py = x + rng.randint(-radius // 2, radius // 2), y + rng.randint(-radius // 2, radius // 2)
        draw.rectangle((px, py, px + 2, py + 2), fill=(255, rng.randint(0, 140), 0))
    return im


def is_red(pixel: tuple[int, ...]) -> bool:
    """A pixel of `salient_disc`'s disc."""
    r, g, b = pixel[:3]
    return r > 170 and b < 90 and g < 160


def keeps_subject(path: Path) -> bool:
    """A square thumbnail whose left third shows the disc: the crop kept the subject of a wide `salient_disc`."""
    thumb = Image.open(path).convert("RGB")
    s = thumb.width
    return thumb.size == (s, s) and is_red(thumb.getpixel((s // 3, s // 2)))
