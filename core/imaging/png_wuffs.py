"""Faster PNG decoding: Wuffs decodes the common kinds of PNG about twice as fast as Pillow.

A 1600x1200 RGBA photo takes Pillow about 27 ms (19 with `core.imaging.png_inflate`'s zlib-ng inflate), and its
premultiplying for the resize 6 more; Wuffs, a memory-safe decoder library (`pywuffs`), takes about 12.5 ms for
both, with its Adler-32 check on as Pillow's zlib has it. It gives the pixels in the mode Pillow's own path ends
in after `core.imaging.resize`'s normalising: 8-bit RGB and grey exactly, and palettes (any depth) as RGB exactly.
Anything with alpha (RGBA, grey+alpha, a palette with transparency) comes premultiplied, as RGBa: alpha and
every opaque or fully transparent pixel exactly, the colour of partly transparent ones within one level of
Pillow's (Wuffs truncates where Pillow rounds; about 4% of a cut-out's values, invisible in a thumbnail). The
tests compare every kind.

Everything else is left to `core.imaging.png_inflate` and Pillow: 16-bit and 1-4-bit grey, a tRNS colour key on RGB or
grey, APNG, EXIF (the orientation lives there, and Pillow finds it in eXIf or a raw-profile text chunk), chunks
after the image data, and any file Wuffs finds damaged, so Pillow's error message names the problem.

pywuffs and numpy are the optional `fast-png` extra: pip builds pywuffs from source, which needs a C++ compiler.
Where it is not installed, and in the packaged app (which leaves both out to stay within its size budget), this
module declines everything.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import struct

from PIL import Image

try:
    import pywuffs
    from pywuffs.aux import ImageDecoder, ImageDecoderConfig
except ImportError:  # no fast-png extra: Pillow's path (with png_inflate) decodes every PNG
    pywuffs = None

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY, _RGB, _PALETTE, _GREY_ALPHA, _RGBA = 0, 2, 3, 4, 6
#: Metadata keys Pillow reads EXIF from (eXIf, or ImageMagick's raw profile in a text chunk).
_EXIF_KEYS = ("exif", "Raw profile type exif")


def warm_up() -> None:
    """Load now what the first decode would load (numpy, which pywuffs hands the pixels over in: about 70 ms),
    for a resizer process to call while it waits for its first job. numpy's BLAS threads are never used here."""
    if pywuffs is not None:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        with contextlib.suppress(ImportError, MemoryError):  # then the first decode says so, or declines
            importlib.import_module("numpy")


def decoded(im: Image.Image, data: bytes) -> Image.Image | None:
    """The pixels of `im` (a PNG opened, not loaded, from `data`, the file's bytes) decoded by Wuffs, as an
    image in mode L, RGB or RGBa (premultiplied) holding what Pillow's path would hold after normalising; None
    when Wuffs is missing or the file is a kind left to Pillow (see the module's docstring), so the caller
    decodes `im` itself."""
    if pywuffs is None or im.format != "PNG" or any(key in im.info for key in _EXIF_KEYS):
        return None
    mode = _mode_for(data, "transparency" in im.info)
    if mode is None:
        return None
    result = _decoder(mode).decode(data)  # a new decoder each time: no state shared between threads
    if result.error_message or (result.pixcfg.width(), result.pixcfg.height()) != im.size:
        return None
    try:
        pixels = result.pixbuf  # a numpy array
    except ImportError:  # numpy missing: pywuffs does not declare it
        return None
    return Image.frombuffer(mode, im.size, pixels, "raw", mode, 0, 1)


def _mode_for(data: bytes, transparency: bool) -> str | None:
    """The mode Wuffs decodes this PNG into, or None to leave it to Pillow."""
    if not data.startswith(_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    depth, colour = struct.unpack_from(">BB", data, 24)
    if not _image_data_ends_the_file(data):
        return None
    if colour == _PALETTE:
        return "RGBa" if transparency else "RGB"
    if depth != 8 or (transparency and colour in (_GREY, _RGB)):
        return None
    return {_GREY: "L", _RGB: "RGB", _GREY_ALPHA: "RGBa", _RGBA: "RGBa"}.get(colour)


def _image_data_ends_the_file(data: bytes) -> bool:
    """Whether IDAT chunks are followed only by IEND, and the file is no APNG: chunks Pillow reads only while
    decoding (text with EXIF, a late eXIf) or frames beyond the first stay Pillow's."""
    pos, seen_idat = len(_SIGNATURE), False
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"acTL":
            return False
        if kind == b"IDAT":
            seen_idat = True
        elif kind == b"IEND":
            return seen_idat
        elif seen_idat:
            return False
        pos += 12 + length
    return False


def _decoder(mode: str) -> ImageDecoder:
    """A PNG-only decoder into `mode` that verifies the zlib checksum, as Pillow's path does (making one costs
    microseconds)."""
    config = ImageDecoderConfig()
    config.enabled_decoders = [pywuffs.ImageDecoderType.PNG]
    config.pixel_format = {
        "L": pywuffs.PixelFormat.Y,
        "RGB": pywuffs.PixelFormat.RGB,
        "RGBa": pywuffs.PixelFormat.RGBA_PREMUL,
    }[mode]
    config.quirks = {pywuffs.ImageDecoderQuirks.IGNORE_CHECKSUM: 0}
    return ImageDecoder(config)
