"""Faster PNG decoding: zlib-ng inflates the image data, Pillow does the rest.

Pillow inflates a PNG's image data with the system zlib, which is most of its decode time (about 18 of 29 ms
for a 1600x1200 RGBA photo); zlib-ng inflates the same data about three times faster. Pillow cannot be pointed
at another zlib, so `repacked` inflates the IDAT data with zlib-ng and gives Pillow the same PNG with that
data *stored* (deflate's uncompressed blocks, which zlib only copies). Pillow's own unfiltering, interlacing,
palettes, transparency and metadata then read it, so the pixels are the same, bit for bit.

It applies only where it is safe and pays. Safe: a single-image PNG (not APNG) whose inflated data is at most
`MAX_RAW` bytes and exactly the size its header implies; anything else, damaged data included, goes through
Pillow's own path, which says what is wrong. Pays: only in a process that keeps freed memory for the next
image, as the resizer processes do (`core.batch.backends.resize_pool`), which call `enable()`. Elsewhere (a Dask worker,
which hands memory back to the kernel at once) the two extra image-sized buffers are fresh pages every time,
and faulting them in costs more than the faster inflate saves (measured: 55 against 52 ms a 1600x1200 PNG).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from io import BytesIO
from typing import cast

from PIL import Image
from zlib_ng import zlib_ng

#: Inflated image data above this (16 Mpx of RGBA) is left to Pillow, which streams it in less memory.
MAX_RAW = 64 * 1024**2

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STORED_BLOCK = 65535  # the largest stored deflate block
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type: grey, RGB, palette, grey+alpha, RGBA
#: Adam7 passes: first column, first row, column step, row step.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


_enabled = False


def enable() -> None:
    """Use the fast path in this process from now on (see the module's docstring for when it pays)."""
    global _enabled
    _enabled = True


#: zlib-ng's stubs type its error loosely; it is an Exception subclass, as zlib's is.
_INFLATE_ERROR = cast(type[Exception], zlib_ng.error)


class _NotHere(Exception):
    """The fast path does not apply; Pillow's own path decodes the file."""


def repacked(im: Image.Image, data: bytes) -> Image.Image | None:
    """`im`, a PNG opened but not loaded from `data` (the file's bytes), reopened from a copy whose image data
    zlib-ng inflated; None when the fast path is off or does not apply (then decode `im`)."""
    if not _enabled or im.format != "PNG":
        return None
    try:
        return Image.open(BytesIO(_with_stored_data(data)), formats=["PNG"])
    except (_NotHere, OSError, _INFLATE_ERROR):
        return None


def _with_stored_data(data: bytes) -> bytes:
    """The same PNG with its IDAT chunks replaced by one holding the inflated data, stored."""
    if not data.startswith(_SIGNATURE) or data[12:16] != b"IHDR":
        raise _NotHere
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if colour not in _CHANNELS:
        raise _NotHere
    expected = _raw_size(width, height, depth * _CHANNELS[colour], interlace)
    if expected > MAX_RAW:
        raise _NotHere
    first = last = -1  # offsets of the first IDAT chunk and of the end of the last one
    compressed = []
    for kind, start, end in chunks(data):
        if kind == b"acTL":  # APNG: frames beyond the first live in fdAT chunks; leave it to Pillow
            raise _NotHere
        if kind == b"IDAT":
            if last not in (-1, start):  # IDAT chunks must be consecutive
                raise _NotHere
            first = start if first < 0 else first
            last = end
            compressed.append(data[start + 8 : end - 4])
    if first < 0:
        raise _NotHere
    inflater = zlib_ng.decompressobj()
    raw = inflater.decompress(b"".join(compressed), expected + 1)  # + 1: more than the header implies shows
    if len(raw) != expected or not inflater.eof:
        raise _NotHere
    stored = _stored_zlib_stream(memoryview(raw))
    length = sum(len(part) for part in stored)
    crc = zlib_ng.crc32(b"IDAT")
    for part in stored:
        crc = zlib_ng.crc32(part, crc)
    # One copy of the pixels' bytes, into the result: each copy is also page faults where freed memory is not kept.
    return b"".join((data[:first], struct.pack(">I", length), b"IDAT", *stored, struct.pack(">I", crc), data[last:]))


def _stored_zlib_stream(raw: memoryview) -> list[bytes | memoryview]:
    """`raw` as a zlib stream of stored deflate blocks (header, blocks of at most 65,535 bytes, Adler-32), in
    parts that point into `raw` rather than copy it."""
    parts: list[bytes | memoryview] = [b"\x78\x01"]
    size = len(raw)
    for start in range(0, size, _STORED_BLOCK) if size else [0]:
        block = raw[start : start + _STORED_BLOCK]
        final = start + _STORED_BLOCK >= size
        parts.append(struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF))
        parts.append(block)
    parts.append(struct.pack(">I", zlib_ng.adler32(raw)))
    return parts


def chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each chunk of a PNG up to IEND; a file cut short raises _NotHere."""
    pos = len(_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end
    raise _NotHere


def _raw_size(width: int, height: int, bits_per_pixel: int, interlace: int) -> int:
    """Bytes of inflated image data the header implies: each row of each pass is a filter byte and its pixels."""

    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits_per_pixel + 7) // 8) if w and h else 0

    if not interlace:
        return rows(width, height)
    return sum(rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7)
