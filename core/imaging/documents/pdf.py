"""PDF: the first page, rendered by PDFium (pypdfium2) straight at the thumbnail's scale.

Nothing is fetched and nothing runs. The pypdfium2 wheels are built without V8 and XFA, so there is no JavaScript
engine to run a document's scripts; and this module never initialises a form-fill environment
(`FPDFDOC_InitFormFillEnvironment`), the only way PDFium would call out for actions (links, /Launch, /URI,
submit-form, remote go-to). PDFium has no network code at all; for fonts a document does not embed it reads the
system's installed fonts, never a path the document names. The page is drawn with its annotations' stored
appearances, as a viewer shows it, and nothing else of the document is looked at.

PDFium is not thread-safe, across documents too (pypdfium2's documentation: "It is not allowed to call pdfium
functions simultaneously across different threads, not even with different documents"), and pypdfium2 takes no lock
of its own; a Dask worker renders in several threads at once. So every PDFium call here is made under one module
lock, and the raw API is used, with each handle closed explicitly under that lock: pypdfium2's helper objects
would close theirs in garbage-collection finalisers, which run in whatever thread happens to collect.

pypdfium2 is imported on the first PDF: it loads PDFium (some 45 ms), which a resizer that never meets a PDF need
not pay.
"""

from __future__ import annotations

import ctypes
import functools
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from PIL import Image

from core.imaging.spec import ResizeError, too_large

#: A PDF starts with `%PDF-` (after a byte-order mark or blank lines, which PDFium skips as viewers do).
SIGNATURE = re.compile(rb"(?:\xef\xbb\xbf)?\s*%PDF-")

_WHITE = 0xFFFFFFFF  # ARGB, what the bitmap is filled with before the page is drawn on it
_LOCK = threading.Lock()  # PDFium is not thread-safe: one call at a time in a process (see the module docstring)


@functools.cache
def _pdfium() -> ModuleType:
    import pypdfium2.raw  # type: ignore[import-untyped]  # here, where PyInstaller sees it; on the first PDF only

    pdfium: ModuleType = pypdfium2.raw
    return pdfium


class PdfDocument:
    """The PDF format family: a file that starts with `%PDF-`."""

    name = "PDF"

    def sniff(self, head: bytes) -> bool:
        return SIGNATURE.match(head) is not None

    def open(self, data: bytes, max_pixels: int) -> PdfPage:
        """The first page's size, read and checked against `max_pixels` before anything is rendered."""
        with _first_page(data) as page:
            width, height = _page_size(page)
        pixels = width * height
        if pixels > max_pixels:
            raise too_large(pixels, max_pixels, (width, height))
        return PdfPage(data, (width, height))


class PdfPage:
    """A PDF's first page. PDF pages are paper: rendered on white, as every viewer shows them, so the
    result is opaque (a page has no transparency of its own to keep).

    The document is opened again to render: holding PDFium handles between `open` and `render` would leave
    them to be closed by whoever drops this object, outside the lock. Opening parses only the cross-reference
    table and the first page, which costs little next to rendering."""

    def __init__(self, data: bytes, size: tuple[int, int]) -> None:
        self._data = data
        self._size = size

    @property
    def size(self) -> tuple[int, int]:
        """Points at 72 dpi, of the crop box (what viewers show), turned by the page's /Rotate."""
        return self._size

    def render(self, size: tuple[int, int]) -> Image.Image:
        pdfium = _pdfium()
        width, height = size
        stride = width * 4
        buffer = bytearray(stride * height)  # PDFium draws into it, Pillow then reads it: no copy
        with _first_page(self._data) as page:
            bitmap = pdfium.FPDFBitmap_CreateEx(
                width, height, pdfium.FPDFBitmap_BGRA, (ctypes.c_ubyte * len(buffer)).from_buffer(buffer), stride
            )
            if not bitmap:
                raise ResizeError(f"not enough memory to render this {width}x{height} PDF page")
            try:
                pdfium.FPDFBitmap_FillRect(bitmap, 0, 0, width, height, _WHITE)
                flags = pdfium.FPDF_ANNOT | pdfium.FPDF_REVERSE_BYTE_ORDER  # RGBA byte order, as Pillow reads it
                pdfium.FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, flags)
            finally:
                pdfium.FPDFBitmap_Destroy(bitmap)  # the pixels stay in `buffer`, which is ours
        return Image.frombuffer("RGBA", size, buffer, "raw", "RGBA", stride, 1)


#: PDFium's load errors (FPDF_GetLastError) in words.
_LOAD_ERRORS = {
    "FPDF_ERR_PASSWORD": "encrypted PDF (needs a password): cannot be thumbnailed",
    "FPDF_ERR_SECURITY": "encrypted PDF (an unsupported security handler): cannot be thumbnailed",
    "FPDF_ERR_FORMAT": "damaged PDF: its structure cannot be read (truncated or corrupt)",
}


@contextmanager
def _first_page(data: bytes) -> Iterator[Any]:
    """The first page's PDFium handle, with the lock held until the block ends and both handles closed."""
    pdfium = _pdfium()
    with _LOCK:
        document = pdfium.FPDF_LoadMemDocument64(data, len(data), None)
        if not document:
            error = pdfium.FPDF_GetLastError()
            known = {getattr(pdfium, name): words for name, words in _LOAD_ERRORS.items()}
            raise ResizeError(known.get(error, "damaged PDF: it cannot be opened"))
        try:
            if pdfium.FPDF_GetPageCount(document) < 1:
                raise ResizeError("PDF has no pages")
            page = pdfium.FPDF_LoadPage(document, 0)
            if not page:
                raise ResizeError("damaged PDF: its first page cannot be read")
            try:
                yield page
            finally:
                pdfium.FPDF_ClosePage(page)
        finally:
            pdfium.FPDF_CloseDocument(document)


def _page_size(page: Any) -> tuple[int, int]:
    """PDFium's page size: the crop box (clipped to the media box), sides swapped for /Rotate 90 or 270."""
    pdfium = _pdfium()
    width, height = pdfium.FPDF_GetPageWidthF(page), pdfium.FPDF_GetPageHeightF(page)
    if not all(math.isfinite(side) and side > 0 for side in (width, height)):
        raise ResizeError(f"damaged PDF: its first page is {width:g}x{height:g} points")
    return max(1, round(width)), max(1, round(height))
