"""Thumbnail PNGs deflated by zlib-ng: Pillow chooses each row's filter, zlib-ng compresses.

Pillow compresses PNGs with the system zlib. Asked for no compression (`compress_level=0`) it still filters
every row (its adaptive choice per row), and stores the result; `deflated` then compresses that image data with
zlib-ng at level 6 into one IDAT chunk. Measured on 256x192 RGBA thumbnails against Pillow's level 4: a noisy
photo cut-out 2.4 instead of 3.8 ms and 5% larger, a flat graphic 1.6 instead of 1.7 ms and 18% smaller. The
pixels and every other chunk (ICC profile, EXIF) are Pillow's.
"""

from __future__ import annotations

import struct

from zlib_ng import zlib_ng

from core.imaging.png_inflate import chunks

LEVEL = 6


def deflated(png: bytes) -> bytes:
    """`png` (as Pillow writes it) with its image data recompressed by zlib-ng at `LEVEL`."""
    first = last = -1
    stored = []
    for kind, start, end in chunks(png):
        if kind == b"IDAT":
            first = start if first < 0 else first
            last = end
            stored.append(png[start + 8 : end - 4])
    data = zlib_ng.compress(zlib_ng.decompress(b"".join(stored)), LEVEL)
    crc = zlib_ng.crc32(data, zlib_ng.crc32(b"IDAT"))
    return b"".join((png[:first], struct.pack(">I", len(data)), b"IDAT", data, struct.pack(">I", crc), png[last:]))
