"""SVG and SVGZ (.svg.gz), rendered by resvg (Rust, through the `resvg_py` binding) with nothing fetched.

resvg never goes to the network, but it reads local files: an `<image href>` that is a path (relative ones
resolved against the working directory) is loaded, and the binding has no switch to stop it. So the file is
first parsed by defusedxml and every reference that could leave the document is removed before resvg sees
it: `href`/`xlink:href` that is neither a `data:` URL nor a `#fragment`, CSS `@import`, and `url(...)` to
anything but a fragment or a `data:` URL. XML entities are the way to an external entity (XXE) or an
expansion bomb (billion laughs), and Python's expat cannot be told to bound expansion below 100 times the
file's size; Adobe Illustrator declares its namespace URIs as entities, though. So a DOCTYPE is read first
(`_check_entities`): plain-text internal entities pass when all their references together add at most
`MAX_ENTITY_EXPANSION`; external, parameter and nested ones are refused. defusedxml then parses with external
entities forbidden.

The cleaned tree is given the size computed here (CSS pixels: width/height, else the viewBox, else the
browsers' 300x150) and rendered at the thumbnail's size, never at the declared one. A gzip-compressed file is
inflated to at most `MAX_INFLATED` bytes. resvg_py keeps no state between calls (each call builds its own
tree and pixmap), so several threads of a Dask worker may render at once.
"""

from __future__ import annotations

import io
import math
import re
import threading
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from xml.parsers import expat

import defusedxml.ElementTree as SafeET
import resvg_py
from defusedxml import DefusedXmlException
from PIL import Image

from core.imaging.spec import ResizeError

#: Inflated size an .svgz may reach: real SVGZ files are well under a few MB; a gzip bomb stops here.
MAX_INFLATED = 50 * 1024 * 1024  # 50 MiB
#: Elements nested deeper are refused (real drawings nest a few dozen deep); also what keeps ElementTree's
#: recursive serialiser within Python's recursion limit.
MAX_DEPTH = 256
_RENDER_STACK = 128 * 1024 * 1024  # resvg's ~1000 levels need ~40 MiB; see `_on_a_deep_stack`
_stack_lock = threading.Lock()
#: What internal entities may add to a file in all: Illustrator declares a few namespace URIs, used a few times.
MAX_ENTITY_EXPANSION = 1024 * 1024  # 1 MiB
#: Entity references are counted in the file's bytes, so the file must spell `&name;` in ASCII.
_ENCODING = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=", re.IGNORECASE)
_ASCII_ENCODING = re.compile(
    rb"""\s*<\?xml[^>]*?encoding\s*=\s*["'](?:utf-8|us-ascii|ascii|iso-8859-\d+|latin-?1|windows-125\d)["']""",
    re.IGNORECASE,
)
_SNIFF_INFLATED = 1024  # what a compressed file's head is inflated to, to tell whether it is an SVG
_GZIP = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
#: What a browser makes of an SVG with neither width/height nor viewBox (the CSS default object size).
DEFAULT_SIZE = (300.0, 150.0)
#: CSS pixels per unit (96 dpi); em and ex on the default 16 px font, as resvg does.
_UNITS = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0, "em": 16.0,
          "ex": 8.0}  # fmt: skip
_LENGTH = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-z%]*)\s*$", re.IGNORECASE)
_HTML_TAGS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<meta", b"<script", b"<div", b"<p>")
_STYLE = "{http://www.w3.org/2000/svg}style"
_HREFS = ("href", "{http://www.w3.org/1999/xlink}href")
#: CSS that could name another file: @import, and url() to anything but a fragment or a data: URL.
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(?!['"]?\s*(?:#|data:))[^)]*\)""", re.IGNORECASE)


def _svg_text(head: bytes) -> bool:
    """Markup whose first bytes hold an <svg tag before any HTML tag (as `core.download.fetch.describe_non_image`):
    a web page with inline icons is not an SVG."""
    low = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    at = low.find(b"<svg")
    return low.startswith(b"<") and at >= 0 and not any(tag in low[:at] for tag in _HTML_TAGS)


def _local_reference(value: str) -> bool:
    """An href that stays inside the document: a fragment, or data: URL."""
    v = value.strip().lower()
    return v.startswith(("#", "data:"))


def _css_cleaned(text: str) -> str:
    return _CSS_URL.sub("none", _CSS_IMPORT.sub("", text))


def _length(value: str | None) -> float | None:
    """A width/height attribute in CSS pixels; None when absent, a percentage or not a length."""
    match = _LENGTH.match(value) if value is not None else None
    if match is None or match[2].lower() not in _UNITS:
        return None
    return float(match[1]) * _UNITS[match[2].lower()]


def _view_box(value: str | None) -> tuple[float, float] | None:
    """The viewBox's width and height (maybe zero or negative: nothing is drawn); None when absent or unreadable."""
    parts = re.split(r"[\s,]+", value.strip()) if value else []
    try:
        return (float(parts[2]), float(parts[3])) if len(parts) == 4 else None
    except ValueError:
        return None


def _own_size(root: ET.Element) -> tuple[float, float]:
    """The size a browser gives the SVG as an image: width/height, the missing one (or both) from the viewBox's
    aspect ratio, else 300x150."""
    w, h = _length(root.get("width")), _length(root.get("height"))
    box = _view_box(root.get("viewBox"))
    if box is not None and not (box[0] > 0 and box[1] > 0):
        raise ResizeError(f"SVG has no size (its viewBox is {box[0]:g}x{box[1]:g})")
    if box is not None:
        if w is None:
            w = box[0] if h is None else h * box[0] / box[1]
        if h is None:
            h = w * box[1] / box[0]
    return (DEFAULT_SIZE[0] if w is None else w, DEFAULT_SIZE[1] if h is None else h)


def _inflated(data: bytes) -> bytes:
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        text = inflater.decompress(data, MAX_INFLATED + 1)
    except zlib.error as exc:
        raise ResizeError(f"damaged SVGZ: {exc}") from None
    if len(text) > MAX_INFLATED:
        raise ResizeError(f"SVGZ inflates to over {MAX_INFLATED // 1024 // 1024} MiB (a decompression bomb?)")
    if not inflater.eof:
        raise ResizeError("damaged SVGZ: the compressed data is cut short")
    return text


def _cleaned(root: ET.Element) -> None:
    """Remove, in place, every reference that could make resvg read a file."""
    for el in root.iter():
        for name in _HREFS:
            value = el.get(name)
            if value is not None and not _local_reference(value):
                del el.attrib[name]
        for name, value in el.attrib.items():
            if "url(" in value.lower() or "@import" in value.lower():
                el.set(name, _css_cleaned(value))
        if el.text and el.tag == _STYLE:  # a <text>'s words are left as they are
            el.text = _css_cleaned(el.text)


def _on_a_deep_stack(render: Callable[[], bytes]) -> bytes:
    """Run resvg in a thread of its own with a `_RENDER_STACK` stack. resvg recurses once per nested group or
    <use> and stops itself at about 1000 levels, but a thread's usual 8 MiB stack (512 KiB on macOS) overflows
    near 200: the process would die of it. The stack is address space, touched only as deep as it is used."""
    outcome: list[bytes | BaseException] = []

    def run() -> None:
        try:
            outcome.append(render())
        except BaseException as exc:  # handed to the calling thread; a Rust panic is a BaseException
            outcome.append(exc)

    with _stack_lock:  # the size applies to threads started while it is set, by any thread
        usual = threading.stack_size(_RENDER_STACK)
        try:
            thread = threading.Thread(target=run, name="svg-render", daemon=True)
            thread.start()
        except RuntimeError:
            raise ResizeError("not enough memory to render this SVG (cannot start its renderer thread)") from None
        finally:
            threading.stack_size(usual)
    thread.join()
    result = outcome[0]
    if isinstance(result, bytes):
        return result
    if isinstance(result, ValueError | OSError | RuntimeError) or type(result).__name__ == "PanicException":
        raise ResizeError(f"damaged SVG: {result}")
    raise result


def _depth(root: ET.Element) -> int:
    deepest, todo = 0, [(root, 1)]
    while todo:
        element, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in element)
    return deepest


class _DoctypeEnd(Exception):
    """Ends the look at the DOCTYPE: no entity can be declared after it."""


def _check_entities(data: bytes) -> None:
    """Let through what Illustrator writes (plain-text internal entities: namespace URIs), bounded in what they
    add when expanded; refuse external and parameter entities (XXE), entities built from entities (billion
    laughs) and, counting every reference in the file, more than `MAX_ENTITY_EXPANSION` of expansion."""
    declared: dict[str, int] = {}

    def on_entity(
        name: str, parameter: bool, value: str | None, _base: object, _system: object, _public: object, _note: object
    ) -> None:
        if parameter or value is None:
            raise ResizeError("SVG declares an external or parameter XML entity, which is refused for safety")
        if "&" in value or "%" in value or not name.isascii():
            raise ResizeError("SVG declares an XML entity built from other entities, which is refused for safety")
        declared[name] = len(value.encode())

    def stop(*_: object) -> None:
        raise _DoctypeEnd

    parser = expat.ParserCreate()  # resolves no external entity: it has no handler for them
    parser.EntityDeclHandler = on_entity
    parser.EndDoctypeDeclHandler = stop
    parser.StartElementHandler = stop
    with suppress(_DoctypeEnd, expat.ExpatError):  # a damaged file is the real parse's to report
        parser.Parse(data, True)
    if not declared:
        return
    body = data.removeprefix(b"\xef\xbb\xbf")
    if not body.lstrip().startswith(b"<") or (_ENCODING.match(body) and not _ASCII_ENCODING.match(body)):
        raise ResizeError("SVG declares XML entities in a file not in UTF-8 or an ASCII-based encoding, refused")
    added = sum(body.count(b"&%s;" % name.encode()) * size for name, size in declared.items())
    if added > MAX_ENTITY_EXPANSION:
        raise ResizeError(
            f"SVG's XML entities would add over {MAX_ENTITY_EXPANSION // 1024 // 1024} MiB when expanded, refused"
        )


@dataclass(frozen=True)
class _SvgPage:
    markup: str  # cleaned, with width, height and viewBox set to `own_size`
    own_size: tuple[float, float]

    @property
    def size(self) -> tuple[int, int]:
        return (max(1, round(self.own_size[0])), max(1, round(self.own_size[1])))

    def render(self, size: tuple[int, int]) -> Image.Image:
        png = _on_a_deep_stack(lambda: resvg_py.svg_to_bytes(svg_string=self.markup, width=size[0], height=size[1]))
        with Image.open(io.BytesIO(png), formats=["PNG"]) as im:
            image = im.convert("RGBA")
        return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


class SvgDocument:
    """SVG text, or gzip whose inflated head is SVG text (.svgz, .svg.gz)."""

    name = "SVG"

    def sniff(self, head: bytes) -> bool:
        if head.startswith(_GZIP):
            try:
                head = zlib.decompressobj(_GZIP_WBITS).decompress(head, _SNIFF_INFLATED)
            except zlib.error:
                return False
        return _svg_text(head)

    def open(self, data: bytes, max_pixels: int) -> _SvgPage:
        """Parse and clean; `max_pixels` does not apply: an SVG has no pixels until rendered at the thumbnail's
        size."""
        if data.startswith(_GZIP):
            data = _inflated(data)
        _check_entities(data)
        try:
            root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=False, forbid_external=True)
        except DefusedXmlException:  # `_check_entities` refuses these first; defusedxml stands behind it
            raise ResizeError("SVG declares an external XML entity, which is refused for safety") from None
        except ET.ParseError as exc:
            raise ResizeError(f"damaged SVG: {exc}") from None
        if _depth(root) > MAX_DEPTH:
            raise ResizeError(f"SVG nests elements over {MAX_DEPTH} deep, which is refused")
        if root.tag != "{http://www.w3.org/2000/svg}svg":
            raise ResizeError(f"damaged SVG: the root element is <{root.tag}>, not an SVG namespace <svg>")
        w, h = _own_size(root)
        if not (0 < w < math.inf and 0 < h < math.inf):  # also NaN
            raise ResizeError(f"SVG has no size ({w:g}x{h:g})")
        _cleaned(root)
        root.set("width", repr(w))
        root.set("height", repr(h))
        if _view_box(root.get("viewBox")) is None:
            root.set("viewBox", f"0 0 {w!r} {h!r}")
        return _SvgPage(ET.tostring(root, encoding="unicode"), (w, h))
