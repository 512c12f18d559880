"""Documents: vector and page formats (SVG, PDF) rendered straight at the thumbnail's scale.

A raster image is decoded at its own size (or a JPEG at 1/2, 1/4, 1/8 of it) and then resized. A document has
no pixels until it is rendered, so it is rendered once, at the scale of the largest thumbnail, by a renderer
that fetches nothing (no file, no network, no external entity) and runs in a resizer process under that
process's memory cap and time limit. One module per format family; each registers its `Document` in
`DOCUMENTS`.
"""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from core.imaging.documents.pdf import PdfDocument
from core.imaging.documents.svg import SvgDocument


class Page(Protocol):
    """One opened document's first page, not yet rendered."""

    @property
    def size(self) -> tuple[int, int]:
        """Its own size in pixels (CSS pixels for SVG, points at 72 dpi for PDF), at least 1x1: the
        report's source size, and what the thumbnail's geometry is computed from."""
        ...

    def render(self, size: tuple[int, int]) -> Image.Image:
        """The page at exactly `size` pixels, mode RGBA (transparency kept, as a PNG's)."""
        ...


class Document(Protocol):
    """A format family: tells its files from their first bytes, and opens them."""

    name: str  # for messages: "SVG", "PDF"

    def sniff(self, head: bytes) -> bool:
        """Whether the first bytes (up to 2 KiB, maybe fewer) are this format's."""
        ...

    def open(self, data: bytes, max_pixels: int) -> Page:
        """Parse the whole file; raise `core.imaging.spec.ResizeError` in words for anything wrong with it
        (damaged, encrypted, a page over `max_pixels` where the format has a true pixel size)."""
        ...


#: Every document format, tried in this order on a file no raster signature claims.
DOCUMENTS: tuple[Document, ...] = (SvgDocument(), PdfDocument())


def find(head: bytes) -> Document | None:
    """The document format the first bytes announce, if any."""
    return next((d for d in DOCUMENTS if d.sniff(head)), None)
