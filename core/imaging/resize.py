"""The resize engine: one source image in, one thumbnail per requested size out.

Plain Pillow, run in worker processes: this module imports no Qt, directly or indirectly (from the project it
imports only `core.models`, `core.naming`, `core.imaging.spec`, `core.imaging.smartcrop`, `core.imaging.focus` and the
PNG helpers `core.imaging.png_inflate` and `core.imaging.png_deflate`), which `tests/core/test_architecture.py` checks.

One call decodes the source once and writes every size from that decode:

1. Identify the file (lazy: header only) against an allow-list of raster formats (with the HEIF and JPEG XL
   plugins). A document (SVG, PDF) is rendered once at the thumbnail's scale instead (`documents`). Empty
   files, HTML and the like are refused with a message that says what they look like.
2. Refuse more than `max_pixels` before any pixel is decoded: Pillow's decompression-bomb check, which
   it runs on the header's size and again on what it allocates later (GIF frames, TIFF tiles, ICO
   entries), reads the calling thread's limit (see `_checked_size`) and refuses over it, never warns.
3. JPEG shrink-on-load: `draft()` to the aspect-fitted size of the largest output, so libjpeg decodes
   at the smallest of 1/2, 1/4 or 1/8 scale that still covers it (its scaled IDCT filters as it shrinks;
   libvips' shrink-on-load does the same); a Lanczos resize finishes the job.
4. First frame (animations), first page (TIFF) or primary image (HEIF); EXIF orientation applied (HEIF and
   JPEG XL come upright from their decoders, whose own orientation wins over EXIF); any colour mode made
   L, RGB, RGBa or CMYK (16-bit and float scaled, palettes expanded, alpha dropped when fully opaque,
   premultiplied once when not, which every size's resize needs).
5. Per size: resize (with an exact crop for `cover`, placed by `--crop` or by the item's hand-chosen focus),
   convert to sRGB through the embedded ICC profile (CMYK without one: Pillow's plain conversion), flatten alpha
   onto the background for formats without alpha, pad, and save to a temporary name that is renamed into place
   (PNG's image data compressed by zlib-ng, `core.imaging.png_deflate`).

Thread-safe: the pixel limit is the calling thread's (a Dask worker decodes several images at once);
`PIL.Image.MAX_IMAGE_PIXELS` and the warning filters are never touched.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from pi_heif.as_plugin import register_heif_opener
from PIL import GifImagePlugin, Image, ImageChops, ImageCms, ImageFile, UnidentifiedImageError, features
from pillow_jxl import JpegXLImagePlugin

from core.imaging import documents, png_deflate, png_inflate, smartcrop
from core.imaging.focus import Focus
from core.imaging.focus import geometry as _geometry
from core.imaging.spec import Crop, Fit, ResizeError, ResizeResult, ResizeSpec, background_rgb, too_large
from core.models import Output
from core.naming import output_filename, safe_join

#: Formats we open: every raster format Pillow decodes in this process, with the HEIF and JPEG XL plugins this
#: module registers, so whatever Pillow reads gets a thumbnail. Refused: EPS (Pillow hands it to Ghostscript, an
#: interpreter we never run on untrusted data), IPTC (not an image; its loader re-opens embedded data with any
#: plugin), WMF (vector, needs a platform renderer) and the stubs without a decoder (MPEG, BUFR, GRIB, HDF5).
#: Order matters: formats with a signature first; those Pillow can only try by parsing a header (TGA, PCD,
#: SPIDER, IM, IMT) come last.
_OPEN_FORMATS_WANTED = (
    "JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "HEIF", "JXL", "BMP", "DIB", "TIFF", "ICO", "CUR", "PPM", "QOI",
    "JPEG2000", "PSD", "PCX", "DCX", "SGI", "DDS", "ICNS", "BLP", "FTEX", "GBR", "FLI", "MCIDAS", "MSP", "PIXAR",
    "SUN", "FITS", "XBM", "XPM", "XVTHUMB", "TGA", "PCD", "SPIDER", "IM", "IMT",
)  # fmt: skip
_JPEG_FORMATS = ("JPEG", "MPO")
_HEAD_BYTES = 2048  # what tells a file's format: a raster signature, or a document's first tags

#: What a viewer does to the stored pixels for each EXIF orientation (same table as ImageOps).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = (5, 6, 7, 8)

#: Output format -> (Pillow format name, file extension, modes it can store).
_WRITERS = {
    "jpeg": ("JPEG", "jpg", ("L", "RGB")),
    "png": ("PNG", "png", ("L", "RGB", "RGBA")),
    "webp": ("WEBP", "webp", ("RGB", "RGBA")),
    "avif": ("AVIF", "avif", ("RGB", "RGBA")),
}
_MAX_JPEG_MARKER = 65533  # bytes of payload one JPEG APPn segment can carry
_WEBP_METHOD = 4
#: Shrinking more than 1.5x, reduce() by a whole factor first (a box average) so Lanczos works on at most 1.5
#: times the output size. Against Lanczos all the way: 47-48 dB on photo-like 3000x2000 images and 53+ dB on
#: RGBA cut-outs, above the 44 dB of JPEG shrink-on-load; 30% less resize time than Pillow's own gap of 2.
_REDUCING_GAP = 1.5

# Errors Pillow raises for broken data while decoding (beyond OSError, which covers truncation).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)


@dataclass
class _Source:
    """A decoded first frame, ready to be resized; made by `_load`."""

    image: Image.Image  # upright; mode L, RGB, RGBa (premultiplied alpha) or CMYK; reduced by draft for JPEG
    width: int  # upright full-resolution size, which all geometry is computed in
    height: int
    transparent: bool  # image.mode == "RGBa", only when some alpha is below 255
    icc: bytes | None  # a usable RGB or CMYK profile for image.mode, else None
    exif: bytes | None  # only kept when keep_metadata
    warning: str | None = None  # the image decoded only in part (`_salvage`)
    # Where cover's crop sits, as the share of the spare width and height left of and above it (`_focused`).
    focus: tuple[float, float] = (0.5, 0.5)
    hand: Focus | None = None  # the item's crop chosen by hand: under cover it replaces `focus`


# --------------------------------------------------------------------------------------------------
# public entry point


def make_thumbnails(
    src: str | Path | bytes, out_dir: str | Path, stem: str, spec: ResizeSpec, focus: Focus | None = None
) -> ResizeResult:
    """Decode `src` (a file, or a whole file's bytes) once and write one thumbnail per size in `spec` into `out_dir`.

    Names come from `naming.output_filename(stem, size, ext, several_sizes, width, height)` (`stem` is the item's
    name, which may hold {size}, {width} and {height}); subfolders in it are created. Each file is written to
    `.{name}.{pid}.tmp` in its folder and renamed into place, so a crash never leaves half a thumbnail, and the
    temporary file is removed on any error.

    Raises ResizeError for anything about the image (unreadable, too large, corrupt, unsupported
    output format). OSErrors from writing (disk full, permissions) propagate unchanged.

    `focus`: this item's crop chosen by hand (`core.imaging.focus`); under cover it wins over `spec.crop`.
    """
    if spec.format == "avif" and not features.check("avif"):
        raise ResizeError("AVIF output is not supported by this Pillow build")
    out_dir = Path(out_dir)
    with _decode(src if isinstance(src, bytes) else Path(src), spec, focus) as source:
        fmt = spec.format if spec.format != "auto" else ("png" if source.transparent else "jpeg")
        outputs = []
        for size in spec.sizes:
            thumb = _render(source, size, spec, fmt)
            name = output_filename(stem, size, _WRITERS[fmt][1], len(spec.sizes) > 1, thumb.width, thumb.height)
            outputs.append(_write(thumb, out_dir, name, fmt, spec, source))
    return ResizeResult(source.width, source.height, outputs, source.warning)


@dataclass(frozen=True)
class Shown:
    """An image as the window's preview shows it under its crop boxes (`for_preview`): `image` upright sRGB RGB,
    at most the asked size a side; `width` x `height` the source's full size; `shares` where `--crop` puts cover's
    region (the share of the spare width and height left of and above it), for `core.imaging.focus.geometry`."""

    image: Image.Image
    width: int
    height: int
    shares: tuple[float, float]


def for_preview(src: bytes, spec: ResizeSpec, longest: int) -> Shown:
    """Decode `src` as `make_thumbnails` would for `spec` (same formats, limits, orientation and automatic crop),
    shrunk to fit `longest` pixels a side. Raises ResizeError."""
    shown = replace(spec, sizes=(longest,), fit=Fit.CONTAIN, upscale=False)
    with _decode(src, shown) as source:
        shares = _focused(source, spec, None).focus
        image = _to_srgb(source.image.convert("RGBA") if source.image.mode == "RGBa" else source.image, source.icc)
        image = image.convert("RGB")
        if max(image.size) > longest:
            image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        return Shown(image, source.width, source.height, shares)


# --------------------------------------------------------------------------------------------------
# opening, limits, decoding


@functools.cache
def _open_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in _OPEN_FORMATS_WANTED if f in Image.OPEN)


#: What is decoded: a file, or a download held in memory (`core.download.shared_spool`).
Source = Path | bytes


def _readable(src: Source) -> Path | io.BytesIO:
    """What `Image.open` takes: a fresh reader over in-memory bytes (it shares them, no copy)."""
    return io.BytesIO(src) if isinstance(src, bytes) else src


def _identify(src: Source) -> Image.Image:
    """`Image.open` with the allow-list, trying first the plugins Pillow always loads (JPEG, PNG, GIF, BMP, PPM:
    signatures no other allowed format shares, so the answer is the same): loading every other plugin costs a
    fresh worker some 30 ms of CPU, only worth paying for a file none of those reads."""
    Image.preinit()
    loaded = [f for f in _OPEN_FORMATS_WANTED if f in Image.OPEN]
    try:
        return Image.open(_readable(src), formats=loaded)
    except UnidentifiedImageError:
        everything = _open_formats()
        if len(everything) == len(loaded):
            raise
        return Image.open(_readable(src), formats=everything)


#: Formats whose Pillow plugin reads only the header when opened, so their size can be read safely with
#: no pixel limit (ICO, for one, decodes its largest entry while opening).
_LAZY_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF")

#: The calling thread's pixel limit while it decodes: None outside `make_thumbnails`, where Pillow's own check
#: (at `Image.MAX_IMAGE_PIXELS`) applies unchanged.
_max_pixels: ContextVar[int | None] = ContextVar("max_pixels", default=None)
_ANY_SIZE = sys.maxsize  # for `_header_size`, which reads a size from a header and decodes nothing


class _OverLimit(Image.DecompressionBombError):
    """Raised by Pillow's size checks, wherever Pillow runs them, when an image is over the thread's limit; a
    DecompressionBombError, so that Pillow's code lets it through as it does its own."""

    def __init__(self, size: tuple[int, int], pixels: int) -> None:
        super().__init__(f"image size {size[0]}x{size[1]} ({pixels} pixels) is over the limit")
        self.pixels = pixels


def _checked_size(size: tuple[int, int], *, error_only: bool = False) -> None:
    """Stands in for `PIL.Image._decompression_bomb_check`, which Pillow calls on every size it is about to
    allocate: on opening, and inside its plugins (GIF frames, TIFF tiles, an ICO's entries, a WebP canvas).
    Inside `make_thumbnails` it refuses anything over that call's limit (never a warning); elsewhere it is
    Pillow's own check."""
    limit = _max_pixels.get()
    if limit is None:
        _pillow_check(size, error_only=error_only)
        return
    pixels = max(1, size[0]) * max(1, size[1])
    if pixels > limit:
        raise _OverLimit(size, pixels)


# Pillow's check reads one process-wide number (`Image.MAX_IMAGE_PIXELS`), which a call setting it to its own
# limit would change under every other thread's decode (a Dask worker runs several at once). The limit is kept
# per thread in `_max_pixels` instead, and Pillow's check is replaced, once, by one that reads it.
_pillow_check = Image._decompression_bomb_check
Image._decompression_bomb_check = _checked_size


# --------------------------------------------------------------------------------------------------
# HEIF and JPEG XL: Pillow plugins registered here, on import, so every process that decodes (resizer processes
# and Dask workers, which both import this module) reads them; the command's own process never imports it.

#: JPEG XL's SizeHeader: a width given as a ratio of the height (index 0: the width is stored).
_JXL_RATIOS = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))
_JXL_CODESTREAM = b"\xff\x0a"
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


class _Bits:
    """JPEG XL's bit reader: least significant bit first."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "little")
        self._left = 8 * len(data)
        self._pos = 0

    def read(self, n: int) -> int:
        if n > self._left - self._pos:
            raise SyntaxError("JPEG XL header is truncated")
        value = (self._value >> self._pos) & ((1 << n) - 1)
        self._pos += n
        return value

    def u32(self, bits: tuple[int, int, int, int]) -> int:
        """The spec's U32(1 + u(9), 1 + u(13), 1 + u(18), 1 + u(30)): a 2-bit selector, then that many bits."""
        return 1 + self.read(bits[self.read(2)])


def _jxl_codestream(data: bytes) -> bytes:
    """The start of the codestream: the file itself, or in the ISO BMFF container the first jxlc or jxlp box."""
    if data.startswith(_JXL_CODESTREAM):
        return data
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > len(data):
                break
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = len(data) - pos
        if kind == b"jxlc":
            return data[pos + header : pos + size]
        if kind == b"jxlp":
            return data[pos + header + 4 : pos + size]  # after the part's 4-byte index
        if size < header:
            break
        pos += size
    raise SyntaxError("JPEG XL container has no codestream")


def _jxl_size(data: bytes) -> tuple[int, int]:
    """A JPEG XL's width and height from its SizeHeader, read before libjxl decodes anything."""
    codestream = _jxl_codestream(data)
    if not codestream.startswith(_JXL_CODESTREAM):
        raise SyntaxError("not a JPEG XL codestream")
    bits = _Bits(codestream[2:14])  # the SizeHeader takes at most 2 + 1 + 32 + 3 + 32 bits
    widths = (9, 13, 18, 30)
    small = bits.read(1)
    height = 8 * (bits.read(5) + 1) if small else bits.u32(widths)
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio - 1]
        return height * num // den, height
    width = 8 * (bits.read(5) + 1) if small else bits.u32(widths)
    return width, height


class _JxlFile(JpegXLImagePlugin.JXLImageFile):
    """pillow-jxl-plugin's image, whose plugin decodes every pixel while opening: the size in the header is checked
    first (by Pillow's check, which reads this thread's --max-pixels), so a hostile header is refused undecoded."""

    def _open(self) -> None:
        assert self.fp is not None, "Pillow opens a file before calling _open"
        data = self.fp.read()
        _checked_size(_jxl_size(data))
        self.fp.seek(0)
        try:
            super()._open()  # type: ignore[no-untyped-call]
        except RuntimeError:  # libjxl's only error, "Generic Error", says nothing more
            raise OSError("libjxl cannot decode it") from None


def _register_plugins() -> None:
    """HEIF through libheif (pi-heif-decoder: decode only, no encoder in the wheel) without the thumbnails, depth
    and auxiliary images it could list (a gain map is one: the primary image is its base image, which we show);
    JPEG XL through libjxl (pillow-jxl-plugin), opened by `_JxlFile`, on the calling thread only: the pool runs a
    resizer per core already, and libjxl's own thread per core in each would multiply the threads (and their stacks
    under the resizer's address-space limit) by the number of cores, for 20 ms on a 3 Mpx image."""
    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    JpegXLImagePlugin.DECODE_THREADS = 0  # the plugin's "no parallelism"
    Image.register_open(_JxlFile.format, _JxlFile, JpegXLImagePlugin._accept)


_register_plugins()


@contextmanager
def _pixel_limit(src: Source, limit: int) -> Iterator[None]:
    """Run with `limit` as this thread's pixel limit, wherever Pillow checks a size, and a refusal turned into a
    ResizeError that names --max-pixels. Other threads keep their own limits."""
    token = _max_pixels.set(limit)
    try:
        yield
    except _OverLimit as exc:
        raise too_large(exc.pixels, limit, _header_size(src, exc.pixels)) from None
    finally:
        _max_pixels.reset(token)


def _header_size(src: Source, pixels: int) -> tuple[int, int] | None:
    """The size in the header, for a refusal message; None when it cannot be read without decoding."""
    token = _max_pixels.set(_ANY_SIZE)
    try:
        with Image.open(_readable(src), formats=[f for f in _open_formats() if f in _LAZY_FORMATS]) as im:
            return im.size if im.size[0] * im.size[1] == pixels else None
    except Exception:  # only decorates a message that is raised anyway
        return None
    finally:
        _max_pixels.reset(token)


@contextmanager
def _decode(src: Source, spec: ResizeSpec, hand: Focus | None = None) -> Iterator[_Source]:
    """The decoded source, with the pixel limit in force until the block ends."""
    head = _head(src)
    document = documents.find(head)
    with _pixel_limit(src, spec.max_pixels):
        if document is not None:
            yield _focused(_render_document(document, src, spec, hand), spec, hand)
        else:
            with _open(src, head) as im:
                yield _focused(_load(im, spec, src, hand), spec, hand)


def _focused(source: _Source, spec: ResizeSpec, hand: Focus | None) -> _Source:
    """The source with cover's crop placed by hand, else by `spec.crop`: chosen once, at the largest size, kept for
    every size."""
    if spec.fit != Fit.COVER:
        return source
    if hand is not None:
        return replace(source, hand=hand)
    if spec.crop == Crop.CENTRE:
        return source
    _, _, region, _ = _geometry(source.width, source.height, spec.sizes[-1], spec.fit, spec.upscale)
    base = source.image
    width = round((region[2] - region[0]) * base.width / source.width)
    height = round((region[3] - region[1]) * base.height / source.height)
    left, top, _, _ = smartcrop.crop_box(base, width, height, spec.crop)
    spare_x, spare_y = base.width - width, base.height - height
    return replace(source, focus=(left / spare_x if spare_x > 0 else 0.5, top / spare_y if spare_y > 0 else 0.5))


def _head(src: Source) -> bytes:
    """The first bytes, which tell what the file is."""
    if isinstance(src, bytes):
        head = src[:_HEAD_BYTES]
    else:
        try:
            with open(src, "rb") as f:
                head = f.read(_HEAD_BYTES)
        except OSError as exc:
            raise ResizeError(f"cannot read {src.name}: {exc.strerror or exc}") from None
    if not head:
        raise ResizeError("empty file (0 bytes)")
    return head


def _render_document(document: documents.Document, src: Source, spec: ResizeSpec, hand: Focus | None) -> _Source:
    """A document rendered once, at the scale of the largest thumbnail (never at its declared size)."""
    data = src if isinstance(src, bytes) else _whole(src)
    if data is None:
        raise ResizeError(f"cannot read this {document.name}")
    page = document.open(data, spec.max_pixels)
    w, h = page.size
    rw, _, region, _ = _geometry(w, h, spec.sizes[-1], spec.fit, spec.upscale, hand=hand)
    scale = rw / (region[2] - region[0])
    image = _normalise_mode(page.render((max(1, round(w * scale)), max(1, round(h * scale)))))
    return _Source(image, w, h, image.mode == "RGBa", None, None)


def _open(src: Source, head: bytes) -> Image.Image:
    """Identify `src` from its header; call inside `_pixel_limit`, which refuses too many pixels.

    Nothing is decoded (except by plugins that do so while opening, like ICO, which Pillow's check,
    reading the limit `_pixel_limit` set, then guards)."""
    try:
        im = _identify(src)
    except UnidentifiedImageError:
        raise ResizeError(_describe_unreadable(head)) from None
    except NotImplementedError as exc:  # a variant the plugin knows of but does not decode
        raise ResizeError(f"unsupported kind of {_magic_name(head) or 'image'}: {exc}") from None
    except _DECODE_ERRORS as exc:
        name = _magic_name(head)
        what = f"truncated or corrupt {name}" if name else "corrupt image header"
        raise ResizeError(f"{what}: {_in_words(exc)}") from None
    w, h = im.size  # within max_pixels: Image.open ran Pillow's check, which reads this thread's limit
    if w < 1 or h < 1:
        im.close()
        raise ResizeError(f"image has no pixels ({w}x{h})")
    return im


def _load(im: Image.Image, spec: ResizeSpec, src: Source, hand: Focus | None) -> _Source:
    """Decode the first frame of an opened image (from `src`), shrinking on load when the format allows it.

    A JPEG, PNG or GIF whose file ends early and fails to decode is decoded again in part (`_salvage`)."""
    fmt = "JPEG" if im.format in _JPEG_FORMATS else (im.format or "image")
    icc = im.info.get("icc_profile") or None
    warning = None
    try:
        try:
            if im.format in _JPEG_FORMATS:
                orientation, w, h = _jpeg_decode(im, spec, hand)
            else:
                png = _whole(src) if im.format == "PNG" else None  # the PNG fast path takes the file's bytes
                if png is not None:  # the same pixels, decoded faster where possible; `_decode` closes the original
                    im = png_inflate.repacked(im, png) or im
                im.load()  # first frame / first page (a HEIF's primary image): a freshly opened image is there
                orientation = 1 if _oriented_by_decoder(im) else _orientation(im)
                w, h = _upright(im.size, orientation)
        except _DECODE_ERRORS:
            salvaged = _salvage(im.format, src, spec, hand)
            if salvaged is None:
                raise
            im, orientation, w, h, warning = salvaged
        exif = _exif_bytes(im) if spec.keep_metadata else None
        image = _normalise_mode(im)
        if orientation in _TRANSPOSE:
            image = image.transpose(_TRANSPOSE[orientation])
    except ResizeError:
        raise
    except MemoryError as exc:  # the cause tells the pool to name the memory limit
        raise ResizeError(f"not enough memory to decode this {im.size[0]}x{im.size[1]} {fmt}") from exc
    except NotImplementedError as exc:
        raise ResizeError(f"unsupported kind of {fmt}: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise ResizeError(f"truncated or corrupt {fmt}: {_in_words(exc)}") from None
    except RuntimeError as exc:  # libheif's refusals, such as its own size limit when --max-pixels is above it
        raise ResizeError(f"cannot decode this {fmt}: {exc}") from None
    transparent = image.mode == "RGBa"
    if icc is not None and not _profile_matches(icc, image.mode):
        icc = None
    return _Source(image, w, h, transparent, icc, exif, warning)


def _jpeg_decode(im: Image.Image, spec: ResizeSpec, hand: Focus | None) -> tuple[int, int, int]:
    """Load an opened JPEG shrunk on load to the largest output's scale: (orientation, upright width, height)."""
    # The orientation must be known before draft: the draft size is in stored pixels.
    orientation = _orientation(im)
    w, h = _upright(im.size, orientation)
    # Aspect-fitted, not the square box: the whole image at the largest output's scale
    # (for cover that is the size before the crop), at least 1 px on each side.
    rw, _, region, _ = _geometry(w, h, spec.sizes[-1], spec.fit, spec.upscale, hand=hand)
    scale = rw / (region[2] - region[0])
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    im.draft(im.mode, _upright(target, orientation))  # in stored orientation (a swap is symmetric)
    im.load()
    return orientation, w, h


# --------------------------------------------------------------------------------------------------
# damaged files: what decoded of a file that ends early

#: How each format's file ends; a file without it was cut short (a download that stopped, a disk that filled).
#: How each of these files ends when whole. A GIF's trailer (0x3B) follows the last block's terminator (0x00): the
#: trailer byte alone also ends one cut short in 1 case of 256 (a test saw it).
_FILE_ENDS = {"JPEG": b"\xff\xd9", "MPO": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82", "GIF": b"\x00\x3b"}
_JPEG_EOI = b"\xff\xd9"
_JPEG_FILL = 128  # what libjpeg makes of the blocks it has no data for: all-zero coefficients, mid grey
_JPEG_MCU = 16  # rows of the tallest MCU (4:2:0 subsampling)
_MASKED = 255

#: What `_salvage` gives: the decoded image, its EXIF orientation, its upright width and height, and the warning.
_Salvaged = tuple[Image.Image, int, int, int, str]


def _salvage(fmt: str | None, src: Source, spec: ResizeSpec, hand: Focus | None) -> _Salvaged | None:
    """What decoded of a JPEG, PNG or GIF that ends early, as a browser shows it: (image, orientation, upright
    width, height, warning); None when the file is not one of those cut short, or nothing of it decoded.

    Why not `ImageFile.LOAD_TRUNCATED_IMAGES`: it is one process-wide switch (a Dask worker decodes in several
    threads, and flipping it per call would change every other decode), it would make every format accept
    truncation silently, and it does not say how much decoded. Instead the normal decode runs first, so a whole
    file costs exactly what it did, and only a file that failed and lacks its end marker is decoded again:

    - JPEG: the data plus an end-of-image marker, which libjpeg decodes in full, filling the blocks it has no
      data for with mid grey (what browsers, which use libjpeg-turbo the same way, show; a progressive JPEG
      gives the whole image at the detail its scans reached). The missing share is the rows below the last
      row that is not that grey.
    - PNG and GIF: Pillow decodes into a canvas we give it until the data runs out, then raises; decoded twice,
      into a canvas of 0x00 bytes and one of 0xFF bytes, the pixels that differ are those no data reached. The
      missing share is their count, and they are made transparent (as browsers show them).
    """
    data = src if isinstance(src, bytes) else _whole(src)
    if fmt not in _FILE_ENDS or data is None or data.rstrip(b"\x00").endswith(_FILE_ENDS[fmt]):
        return None
    if fmt in _JPEG_FORMATS:
        return _salvage_jpeg(data + _JPEG_EOI, spec, hand)
    return _salvage_partial(data)


def _missing(share: float) -> str:
    """The warning for a truncated image of which `share` (0..1) did not decode."""
    percent = round(share * 100)
    if percent < 1:
        return "truncated: the file ends early, but less than 1% of the image is missing"
    return f"truncated: about {percent}% of the image is missing"


def _salvage_jpeg(data: bytes, spec: ResizeSpec, hand: Focus | None) -> _Salvaged | None:
    try:
        im = _identify(data)
        orientation, w, h = _jpeg_decode(im, spec, hand)
    except _DECODE_ERRORS:
        return None
    grey = Image.new(im.mode, im.size, (_JPEG_FILL,) * len(im.getbands()))
    found = ImageChops.difference(im, grey).getbbox()
    # Without scan data libjpeg still decodes the first MCU, from the zero bits it pads with: that is no image.
    first_row = _JPEG_MCU * im.height / _upright((w, h), orientation)[1]
    if found is None or found[3] <= first_row:
        return None
    return im, orientation, w, h, _missing(1 - found[3] / im.height)


def _salvage_partial(data: bytes) -> _Salvaged | None:
    first = _decoded_part(data, 0x00)
    second = _decoded_part(data, 0xFF)
    if first is None or second is None:
        return None
    differ = ImageChops.difference(_as_bytes(first), _as_bytes(second))
    missing = differ.point(lambda v: _MASKED if v else 0).resize(first.size, Image.Resampling.NEAREST)
    count = missing.histogram()[_MASKED]
    if count == first.width * first.height:
        return None  # no pixel decoded
    image = first
    if count:
        image = _normalise_mode(first).convert("RGBA")
        image.putalpha(ImageChops.subtract(image.getchannel("A"), missing))
    orientation = _orientation(first)
    w, h = _upright(first.size, orientation)
    return image, orientation, w, h, _missing(count / (first.width * first.height))


def _decoded_part(data: bytes, fill: int) -> Image.Image | None:
    """The first frame decoded as far as the data goes, onto a canvas of `fill` bytes; None when it cannot be
    opened again."""
    try:
        with _identify(data) as im:
            if isinstance(im, GifImagePlugin.GifImageFile):
                im._frame_transparency = None  # else Pillow fills the first frame's canvas with it
            row = len(Image.new(im.mode, (im.width, 1)).tobytes())
            im.im = Image.frombytes(im.mode, im.size, bytes([fill]) * (row * im.height)).im
            try:
                im.load()
            except _DECODE_ERRORS:
                if isinstance(im, ImageFile.ImageFile):
                    im.tile = []  # what decoded stays in the canvas; nothing is read again
            return im.copy()
    except _DECODE_ERRORS:
        return None


def _as_bytes(im: Image.Image) -> Image.Image:
    """An image's raw bytes as a greyscale image, one row per row: any mode compares byte by byte."""
    raw = im.tobytes()
    return Image.frombytes("L", (len(raw) // im.height, im.height), raw)


def _whole(src: Source) -> bytes | None:
    """All of the source's bytes (read once, for the PNG fast path); None when the file cannot be read, and
    then Pillow, which has it open, decodes it."""
    if isinstance(src, bytes):
        return src
    try:
        return src.read_bytes()
    except OSError:
        return None


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not cost the image; Pillow raises many kinds here
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def _oriented_by_decoder(im: Image.Image) -> bool:
    """Whether the decoder already turned the pixels upright: libheif applies a HEIF's irot/imir transforms and
    libjxl a JPEG XL codestream's orientation, which those formats say win over an EXIF tag (an iPhone writes
    both); turning again by EXIF would rotate twice. A JPEG XL that holds a recompressed JPEG is decoded back to
    that JPEG, whose EXIF orientation still applies."""
    return im.format == "HEIF" or (im.format == "JXL" and not getattr(im, "jpeg", False))


def _upright(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in _SWAPS_AXES else size


def _exif_bytes(im: Image.Image) -> bytes | None:
    try:
        exif = im.getexif()
        if not exif:
            return None
        if _ORIENTATION_TAG in exif:
            exif[_ORIENTATION_TAG] = 1
        return exif.tobytes()
    except Exception:  # keeping metadata is best effort; broken EXIF is dropped, not fatal
        return None


def _normalise_mode(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> L, RGB, RGBa (premultiplied: only when some pixel is not opaque) or CMYK.

    Premultiplied once here rather than by Pillow in every size's resize (which converts RGBA to RGBa and
    back each time): resampling RGBa keeps the colour of transparent pixels from bleeding into the edges.
    RGBa comes in already premultiplied (a TIFF with associated alpha) and stays so."""
    mode = im.mode
    if "transparency" in im.info and mode in ("1", "L", "P", "RGB"):
        im = im.convert("RGBA")
    elif mode in ("P", "PA", "LA", "La"):
        im = im.convert("RGBA" if mode != "P" else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode.startswith("I") or mode == "F":
        im = _gray_to_8bit(im)
    elif mode not in ("L", "RGB", "RGBA", "RGBa", "CMYK"):
        try:
            im = im.convert("RGB")  # YCbCr, LAB, HSV, RGBX
        except ValueError:
            raise ResizeError(f"unsupported colour mode {mode}") from None
    if im.mode in ("RGBA", "RGBa") and _opaque(im):
        return im.convert("RGB")
    return im.convert("RGBa") if im.mode == "RGBA" else im


def _opaque(im: Image.Image) -> bool:
    """Whether every alpha value of an RGBA or RGBa image is 255. Cut-outs and icons give themselves away at a
    corner, which spares scanning the whole alpha band (1.5 ms for 2 Mpx); only then is every pixel looked at."""
    right, bottom = im.width - 1, im.height - 1
    if any(im.getpixel(xy)[3] < 255 for xy in ((0, 0), (right, 0), (0, bottom), (right, bottom))):  # type: ignore[index]
        return False
    low, _ = im.getchannel(3).getextrema()
    return low == 255


def _gray_to_8bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale to L, scaled rather than clipped."""
    if im.mode == "F":
        high = _highest(im)
        scale = 255.0 if high <= 1.0 else (255.0 / high if high > 255 else 1.0)
    else:
        im = im.convert("I")
        high = _highest(im)
        # 16-bit data (the usual case: PNG, TIFF) maps 65535 to 255; wider data by its own maximum.
        scale = 1.0 if high <= 255 else (1 / 257 if high <= 65535 else 255.0 / high)
    if scale != 1.0:
        im = im.point(lambda v: v * scale)
    return im.convert("L")


def _highest(im: Image.Image) -> float:
    """The largest value of a one-band image."""
    high = im.getextrema()[1]
    assert not isinstance(high, tuple), "one band has one (low, high) pair"
    return high


# --------------------------------------------------------------------------------------------------
# colour


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.cache
def _srgb_icc_bytes() -> bytes:
    return _srgb_profile().tobytes()


@functools.lru_cache(maxsize=16)
def _profile(icc: bytes) -> ImageCms.ImageCmsProfile | None:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None  # a broken profile is ignored (the pixels are taken as sRGB), not fatal


def _profile_matches(icc: bytes, mode: str) -> bool:
    profile = _profile(icc)
    if profile is None:
        return False
    space = profile.profile.xcolor_space.strip()
    return (space == "RGB" and mode in ("RGB", "RGBa")) or (space == "CMYK" and mode == "CMYK")


@functools.lru_cache(maxsize=16)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    profile = _profile(icc)
    if profile is None:
        return None
    try:
        return ImageCms.buildTransform(profile, _srgb_profile(), in_mode, out_mode)
    except ImageCms.PyCMSError:
        return None


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in the source's colour space -> sRGB (L stays L: grey profiles are ignored)."""
    if im.mode == "L":
        return im
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    transform = _transform(icc, im.mode, out_mode) if icc else None
    if transform is not None:
        converted = ImageCms.applyTransform(im, transform)
        assert converted is not None, "None only when converting in place"
        return converted
    return im if im.mode == out_mode else im.convert(out_mode)  # CMYK without a profile


# --------------------------------------------------------------------------------------------------
# geometry and composition


def _render(source: _Source, size: int, spec: ResizeSpec, fmt: str) -> Image.Image:
    """The finished thumbnail for one box size, in a mode the output format can store."""
    rw, rh, region, canvas = _geometry(
        source.width, source.height, size, spec.fit, spec.upscale, source.focus, source.hand
    )
    base = source.image
    fx, fy = base.width / source.width, base.height / source.height  # < 1 after a JPEG draft
    box = (region[0] * fx, region[1] * fy, region[2] * fx, region[3] * fy)
    thumb = base.resize((rw, rh), Image.Resampling.LANCZOS, box=box, reducing_gap=_REDUCING_GAP)
    if thumb.mode == "RGBa":
        thumb = thumb.convert("RGBA")
    thumb = _to_srgb(thumb, source.icc)

    modes = _WRITERS[fmt][2]
    keep_alpha = thumb.mode == "RGBA" and "RGBA" in modes
    if keep_alpha or (thumb.mode != "RGBA" and canvas == thumb.size):
        out = thumb
        if canvas != thumb.size:
            out = Image.new("RGBA", canvas, (0, 0, 0, 0))
            out.paste(thumb, _centre(thumb.size, canvas))
    else:  # alpha flattened onto the background, and/or padded with it
        bg = background_rgb(spec.background)
        grey = thumb.mode == "L" and bg[0] == bg[1] == bg[2]
        out = Image.new("L" if grey else "RGB", canvas, bg[0] if grey else bg)
        out.paste(thumb, _centre(thumb.size, canvas), thumb if thumb.mode == "RGBA" else None)
    if out.mode not in modes:
        out = out.convert("RGB")  # L for WebP/AVIF
    return out


def _centre(size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    return (canvas[0] - size[0]) // 2, (canvas[1] - size[1]) // 2


# --------------------------------------------------------------------------------------------------
# writing


def _write(im: Image.Image, out_dir: Path, name: str, fmt: str, spec: ResizeSpec, source: _Source) -> Output:
    pillow_format = _WRITERS[fmt][0]
    params: dict[str, object] = {}
    if fmt == "jpeg":
        params = {"quality": spec.quality, "optimize": False, "progressive": False}
    elif fmt == "png":
        params = {"compress_level": 0}  # rows filtered and stored; png_deflate compresses them
    elif fmt == "webp":
        params = {"quality": spec.quality, "method": _WEBP_METHOD}
    elif fmt == "avif":
        params = {"quality": spec.quality}
    if spec.keep_metadata:
        # Best effort, like reading it: a JPEG marker holds 64 KiB, and a larger EXIF block (a camera's
        # maker notes and preview) is dropped rather than costing the thumbnail.
        if source.exif and (fmt != "jpeg" or len(source.exif) <= _MAX_JPEG_MARKER):
            params["exif"] = source.exif
        if source.icc:
            params["icc_profile"] = _srgb_icc_bytes()
    im.info = {}  # nothing from the source rides along unless asked for above

    final = safe_join(out_dir, name)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        try:
            if fmt == "png":
                encoded = io.BytesIO()
                im.save(encoded, format=pillow_format, **params)
                tmp.write_bytes(png_deflate.deflated(encoded.getvalue()))
            else:
                im.save(tmp, format=pillow_format, **params)
        except OSError as exc:
            if exc.errno is not None:
                raise  # the file system's (disk full, permissions): not about this image
            raise ResizeError(f"could not encode {pillow_format}: {exc}") from None
        except ValueError as exc:
            raise ResizeError(f"could not encode {pillow_format}: {exc}") from None
        nbytes = tmp.stat().st_size
        os.replace(tmp, final)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    return Output(path=Path(name).as_posix(), width=im.width, height=im.height, bytes=nbytes)


# --------------------------------------------------------------------------------------------------
# saying what a file is when it is not an image we read

_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"8BPS", "Photoshop PSD"),
    (_JXL_CODESTREAM, "JPEG XL"),
    (_JXL_CONTAINER, "JPEG XL"),
)
_OTHER_MAGIC = (
    (b"%!PS", "unsupported format (PostScript)"),
    (b"\xc5\xd0\xd3\xc6", "unsupported format (PostScript)"),
    (b"\x1f\x8b", "not an image (gzip-compressed data)"),
    (b"PK\x03\x04", "not an image (ZIP archive)"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def _magic_name(head: bytes) -> str | None:
    """The format the first bytes announce, for messages about a damaged file."""
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def _in_words(exc: BaseException) -> str:
    """Pillow's message, except where it names its internals instead of the problem."""
    text = str(exc)
    if "Decompressed data too large" in text:
        return "a compressed block expands far beyond any sane size (a decompression bomb)"
    return text


def _describe_unreadable(head: bytes) -> str:
    """A message for data Pillow (with our allow-list) could not identify, from its first bytes."""
    name = _magic_name(head)
    if name is not None:
        return f"truncated or corrupt {name}: cannot read the header"
    for magic, message in _OTHER_MAGIC:
        if head.startswith(magic):
            return message
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "unsupported format (AVIF: this Pillow build cannot read it)"
        return "not an image (looks like a video or other ISO media file)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "not an image (looks like HTML)"
    if text.startswith(b"<?xml"):
        return "not an image (looks like XML)"
    if text.startswith(b"<"):
        return "not an image (looks like HTML)"
    if text.startswith((b"{", b"[")):
        return "not an image (looks like JSON)"
    decoded = head.decode("utf-8", errors="ignore")
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in decoded)
    if b"\x00" not in head and decoded and printable >= 0.95 * len(decoded):
        return "not an image (looks like text)"
    return "not an image (unrecognised data)"
