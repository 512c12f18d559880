"""Turn what the user gives (URLs, list files, HTML pages, folders, pasted or dropped text) into Entries.

Everything streams: a list is read line by line and entries are yielded as they are found, so a
million-line list costs no more memory than a short one. Nothing is deduplicated here (the journal does
that by `Entry.key`), and nothing is dropped silently: each line that cannot be used becomes an Entry with
`url=None` and an `error` that says why, with the list file and line number.

The same rules apply everywhere an item is read (a list line, a CSV cell, pasted text): an http, https or
file URL is normalised; an existing local path (relative to the list's folder) becomes a file: URL; a
folder is walked for image files; anything else is invalid.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import ipaddress
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from html.parser import HTMLParser
from itertools import chain, islice
from pathlib import Path
from typing import TextIO
from urllib.parse import quote as _quote
from urllib.parse import unquote_to_bytes, urljoin, urlsplit
from urllib.request import url2pathname

from core.imaging.focus import FocusPoint
from core.models import Entry

TEXT_SUFFIXES = frozenset({".txt", ".lst", ".urls"})
CSV_SUFFIXES = frozenset({".csv", ".tsv"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
# Names of files Pillow can read; used where only a name is known (an HTML link) or content sniffing
# has no signature to go by (TGA). Not .pdf: a page's links to PDFs are documents, not its pictures (a PDF
# in a folder or a list is still an item, found by its content).
IMAGE_SUFFIXES = frozenset(
    {
        *(".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib", ".tif"),
        *(".tiff", ".avif", ".avifs", ".heic", ".heif", ".jxl", ".ico", ".cur", ".ppm", ".pgm", ".pbm", ".pnm"),
        *(".jp2", ".j2k", ".jpf", ".jpx", ".j2c", ".qoi", ".psd", ".dds", ".icns", ".tga", ".pcx", ".sgi", ".rgb"),
        *(".svg", ".svgz"),  # and .svg.gz, which `_image_suffix` knows by its two suffixes
    }
)

#: A CSV's columns of an item's focal point for `--fit cover` (fractions of the width and height).
FOCUS_X, FOCUS_Y = "focus_x", "focus_y"

MAX_LINE_BYTES = 64 * 1024  # longer lines are not URLs; capping them keeps memory flat on binary junk
_HEAD_BYTES = 8192  # what is looked at to tell an image, an HTML page and a text list apart
_SNIFF_BYTES = 64 * 1024  # CSV dialect sniffing sample
_SNIFF_ROWS = 50  # CSV rows looked at to find the URL column and the header
_CHUNK = 64 * 1024

_ALLOWED = "http, https and file"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A scheme has at least two letters, so a Windows drive (C:\pics) is a path, not a URL.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")
_FETCHABLE = re.compile(r"(?:https?|file|data):", re.IGNORECASE)
# RFC 3986, appendix B, with the scheme's syntax: scheme, authority, path, ?query.
_URL_PARTS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):(?://([^/?#]*))?([^?#]*)(\?[^#]*)?")
_HOST = re.compile(r"[a-z0-9_\-.]+")
# Characters kept as they are in a path or query (what browsers and requests leave alone); anything
# else, and a '%' that does not start an escape, gets percent-encoded.
_SAFE = "!$%&'()*+,/:;=?@[]~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,/:;=?@\[\]%]|%(?![0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DOMAIN_LIKE = re.compile(r"[\w\-]+(?:\.[\w\-]+)+(?::\d+)?/")
_WHITESPACE = re.compile(r"\s")
_SRCSET_URL = re.compile(r"[\s,]*(\S+)")
_SRCSET_DESCRIPTOR = re.compile(r"(\d+(?:\.\d+)?)([wx])")
_LOOKS_HTML = re.compile(rb"<(?:!doctype\s+html|html|head|body|img|a|base)[\s>]", re.IGNORECASE)
# A data: URL's media type and parameters up to its comma (RFC 2397); `;base64` last.
_DATA_HEADER = re.compile(r"data:([^,]*?)(;base64)?,", re.IGNORECASE)
_ASCII_SPACE = re.compile(r"[ \t\n\r\f]+")


class InvalidSource(ValueError):
    """Input that cannot be fetched; the message says why in words a user understands."""


# --- URLs -----------------------------------------------------------------------------------------


def normalise_url(text: str) -> str:
    """Return the canonical http, https or file URL for `text`, or raise InvalidSource.

    A data: URL of an image (an inline image of a page) is kept whole, its media type in lower case and the
    white space that pages wrap base64 with taken out; the fetcher decodes it.

    Canonical means: lower-case scheme and host, host encoded per UTS #46 (as browsers do), no default port,
    no fragment, spaces and non-ASCII percent-encoded (existing %XX escapes kept), so the journal sees one key
    per address.
    """
    text = text.strip()
    if text[:5].lower() == "data:":
        return _data_url(text)
    m = _URL_PARTS.match(text)
    if m is None:
        if not text:
            raise InvalidSource("empty URL")
        if text.startswith("//"):
            raise InvalidSource("protocol-relative URL: put https: or http: in front of the //")
        raise InvalidSource("not a URL (a web address starts with http:// or https://)")
    scheme, netloc, path, query = m.groups()
    scheme = scheme.lower()
    if scheme == "file":
        netloc, path = _file_location(netloc or "", path)
    elif scheme in _DEFAULT_PORTS:
        netloc = _web_netloc(scheme, netloc or "")
        path = path or "/"
    else:
        raise InvalidSource(f"unsupported scheme {scheme}: (only {_ALLOWED})")
    # Spaces before a #fragment are not part of the address: "x.jpg  # note" reads as a trailing comment.
    tail = (path if query is None or query == "?" else path + query).rstrip()
    if _NEEDS_QUOTING.search(tail):
        tail = _quote(_LONE_PERCENT.sub("%25", tail), safe=_SAFE)
    return f"{scheme}://{netloc}{tail}"


def _data_url(text: str) -> str:
    m = _DATA_HEADER.match(text)
    if m is None:
        raise InvalidSource("a data: URL without the comma that starts its data")
    media, base64 = m.group(1).strip().lower(), m.group(2)
    if not media.startswith("image/"):
        raise InvalidSource(f"a data: URL of {media.split(';')[0] or 'text/plain'}, not of an image")
    data = text[m.end() :]
    return f"data:{media}{';base64' if base64 else ''},{_ASCII_SPACE.sub('', data) if base64 else data}"


@functools.lru_cache(maxsize=4096)  # lists repeat a few hosts many times
def _web_netloc(scheme: str, netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        end = hostport.find("]")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise InvalidSource(f"bad host name in the URL: {hostport!r}")
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    if not host:
        raise InvalidSource("no host name in the URL")
    host = _canonical_host(host)
    if port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise InvalidSource(f"bad port number in the URL: {port!r}")
        if int(port) != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{int(port)}"
    return f"{userinfo}{at}{host}"


def _canonical_host(host: str) -> str:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise InvalidSource(f"bad IPv6 address in the URL: {host!r}") from None
        return host.lower()
    if not host.isascii():
        host = _uts46_host(host)
    host = host.lower()
    if not _HOST.fullmatch(host):
        raise InvalidSource(f"bad host name in the URL: {host!r}")
    return host


def _uts46_host(host: str) -> str:
    """An international host name encoded as browsers and requests do (UTS #46, nontransitional: faß.de is
    xn--fa-hia.de, not fass.de). ASCII labels are kept as they are (a host name with '_' exists on real
    intranets), so only the labels that need it go through IDNA's checks."""
    import idna  # 6 ms of import that a list of ASCII hosts never pays

    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        return ".".join(label if label.isascii() else idna.alabel(label).decode("ascii") for label in mapped.split("."))
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidSource(f"bad international host name in the URL: {host!r} ({exc})") from None


def _file_location(netloc: str, path: str) -> tuple[str, str]:
    if re.fullmatch(r"[A-Za-z]:", netloc):  # file://C:/pics/a.jpg, as people write it on Windows
        netloc, path = "", f"/{netloc}{path}"
    if not path.startswith("/"):
        raise InvalidSource("a file: URL needs an absolute path, like file:///folder/image.jpg")
    host = netloc.lower()
    return ("" if host == "localhost" else host), path


def _looks_like_url(text: str) -> bool:
    return bool(_SCHEME.match(text) or text.startswith("//"))


def _url_entry(text: str, file: str | None, line: int | None) -> Entry:
    try:
        url = normalise_url(text)
    except InvalidSource as e:
        return Entry(text, None, file, line, str(e))
    # Most lines are already normal: one str for both fields halves the memory of a long list.
    return Entry(text, text if url == text else url, file, line)


# --- items: one URL, path or folder ------------------------------------------------------------------


def _line_entries(text: str, file: str | None, line: int | None, base_dir: Path | None) -> Iterable[Entry]:
    """A stripped, non-blank line: several whitespace-separated URLs yield each, else it is one item.

    Returns a tuple in the common case of one URL: a million-line list should not cost a million generators.
    """
    if _WHITESPACE.search(text):
        words = text.split()
        if all(_looks_like_url(w) for w in words):
            return [_url_entry(w, file, line) for w in words]
    if _FETCHABLE.match(text):
        return (_url_entry(text, file, line),)
    return _path_entries_of_line(text, file, line, base_dir)


def _path_entries_of_line(text: str, file: str | None, line: int | None, base_dir: Path | None) -> Iterator[Entry]:
    path = Path(os.path.expanduser(text))
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    mode = _mode(path)
    if mode is None:
        yield _missing(text, path, file, line)
    elif stat.S_ISDIR(mode):
        yield from _folder_entries(text, path, file, line)
    else:
        yield Entry(text, path.resolve().as_uri(), file, line)


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except (OSError, ValueError):  # missing, unreadable, name too long, NUL in the name
        return None


def _missing(text: str, path: Path, file: str | None, line: int | None) -> Entry:
    if _looks_like_url(text):
        return _url_entry(text, file, line)  # an existing file named "x:y" or "//x" wins over the URL
    if any(_looks_like_url(word) for word in text.split()):
        return Entry(text, None, file, line, "not a URL or a path: the line mixes URLs with other words")
    error = f"no such file: {path}"
    if _DOMAIN_LIKE.match(text):
        error += " (a web address needs http:// or https:// in front)"
    return Entry(text, None, file, line, error)


# --- folders ---------------------------------------------------------------------------------------


def is_image_file(path: Path) -> bool:
    """True when the file starts like an image we read; the name does not matter."""
    try:
        with open(path, "rb") as f:
            return _is_image_head(f.read(_SVG_HEAD_BYTES))
    except OSError:
        return False


_SVG_HEAD_BYTES = 1024  # an SVG's <svg tag may follow an XML declaration, comments and a DOCTYPE


def _is_svg_head(head: bytes) -> bool:
    """SVG markup (not an HTML page with an inline <svg>), or gzip whose inflated start is (.svgz, .svg.gz)."""
    if head.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _SVG_HEAD_BYTES)
        except zlib.error:
            return False
    low = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    at = low.find(b"<svg")
    return low.startswith(b"<") and at >= 0 and not any(tag in low[:at] for tag in (b"<html", b"<head", b"<body"))


def _is_image_head(head: bytes) -> bool:
    if head.startswith(
        (
            b"\xff\xd8\xff",  # JPEG
            b"\x89PNG\r\n\x1a\n",
            b"GIF87a",
            b"GIF89a",
            b"II*\x00",  # TIFF, little and big endian, and BigTIFF
            b"MM\x00*",
            b"II+\x00",
            b"MM\x00+",
            b"\xff\x4f\xff\x51",  # JPEG 2000 codestream
            b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 (JP2)
            b"\xff\x0a",  # JPEG XL codestream
            b"\x00\x00\x00\x0cJXL \r\n\x87\n",  # JPEG XL container
            b"qoif",
            b"8BPS",  # Photoshop
            b"DDS ",
            b"icns",
            b"\x01\xda",  # SGI
        )
    ):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[:2] == b"BM" and len(head) >= 18:  # BMP: check the DIB header size too, "BM" alone is text
        return int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124)
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"):  # ICO, CUR: need at least one image
        return 0 < int.from_bytes(head[4:6], "little") <= 256
    if len(head) >= 4 and head[0] == 0x0A and head[1] in (0, 2, 3, 4, 5) and head[2] == 1 and head[3] in (1, 2, 4, 8):
        return True  # PCX: version, RLE encoding, bits per pixel
    if head[4:8] == b"ftyp":  # ISO media: AVIF/HEIF stills, not videos
        end = min(int.from_bytes(head[:4], "big"), len(head))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}  # major, compatible
        return bool(brands & {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1"})
    if re.match(rb"(?:\xef\xbb\xbf)?\s*%PDF-", head):  # PDF: its first page
        return True
    return bool(re.match(rb"P[1-6]\s+(?:#[^\n]*\n\s*)*\d", head)) or _is_svg_head(head)  # Netpbm, SVG


def _folder_entries(source: str, folder: Path, file: str | None = None, line: int | None = None) -> Iterator[Entry]:
    """Image files under `folder`, depth first, each folder's files (sorted by name) before its sub-folders.

    Hidden folders (a leading dot, which includes our own `.thumbnailer` state folder) are skipped, and a
    folder already visited (through a symbolic link) is not walked again, so link loops end.
    """
    seen: set[tuple[int, int]] = set()
    stack = [(source, folder.resolve(), "")]  # as shown, the real folder, the folder relative to `folder`
    said = False  # found an image or reported a problem
    while stack:
        shown, real, rel = stack.pop()
        try:
            st = real.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(real) as it:
                items = sorted(it, key=lambda d: d.name)
        except OSError as e:
            said = True
            yield Entry(shown, None, file, line, f"cannot read folder: {e.strerror or e}")
            continue
        subfolders = []
        for item in items:
            try:
                is_dir, is_link = item.is_dir(), item.is_symlink()
                is_file = not is_dir and item.is_file()
            except OSError:
                continue
            if not (is_file or (is_dir and not item.name.startswith("."))):
                continue  # hidden folder, broken link, device, ...
            shown_item = os.path.join(shown, item.name)
            try:
                target = Path(item.path).resolve() if is_link else real / item.name
            except (OSError, RuntimeError):  # a link loop
                continue
            if is_dir:
                subfolders.append((shown_item, target, f"{rel}/{item.name}" if rel else item.name))
            elif is_image_file(target):
                said = True
                yield Entry(shown_item, target.as_uri(), file, line, rel_dir=rel)
        stack.extend(reversed(subfolders))
    if not said:
        yield Entry(source, None, file, line, "no image files in this folder")


# --- reading text ----------------------------------------------------------------------------------


class _Cut(str):
    """The start of a line too long to be kept."""


class _Lines:
    """The lines of a stream, with their endings, decoded and numbered as they are read.

    Bytes are UTF-8 (a BOM is dropped) with a per-line fall back to Latin-1, so binary junk never raises;
    a UTF-16 file (with its BOM, as Windows tools write it) is read as such. A lone CR also ends a line.
    A line longer than MAX_LINE_BYTES is not kept: its start is yielded and its number recorded in
    `overlong`, so memory stays flat whatever the input.
    """

    def __init__(self, stream: io.BufferedReader | TextIO) -> None:
        self._stream = stream
        self.number = 0
        self.overlong: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self._raw():
            if type(raw) is _Cut:
                self.number += 1
                self.overlong.add(self.number)
                yield raw[:200].replace('"', "").rstrip("\r\n") + "\n"
            elif "\r" in raw and "\r" in (body := raw.rstrip("\r\n")):
                pieces = body.split("\r")
                last = len(pieces) - 1
                for i, piece in enumerate(pieces):
                    self.number += 1
                    yield piece + (raw[len(body) :] if i == last else "\r")
            else:
                self.number += 1
                yield raw

    def _raw(self) -> Iterator[str]:
        stream = self._stream
        if not isinstance(stream, io.BufferedReader):
            return self._raw_text(stream)
        if stream.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return self._raw_utf16(stream)
        return self._raw_bytes(stream)

    @classmethod
    def _raw_utf16(cls, stream: io.BufferedReader) -> Iterator[str]:
        text = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
        try:
            yield from cls._raw_text(text)
        finally:
            if not stream.closed:
                text.detach()  # the file belongs to the caller, who closes it

    @staticmethod
    def _raw_text(stream: TextIO) -> Iterator[str]:
        first = True
        while line := stream.readline(MAX_LINE_BYTES):
            if first:
                line, first = line.removeprefix("\ufeff"), False
            if len(line) >= MAX_LINE_BYTES and not line.endswith(("\n", "\r")):
                while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(("\n", "\r")):
                    pass
                line = _Cut(line)
            yield line

    @staticmethod
    def _raw_bytes(stream: io.BufferedReader) -> Iterator[str]:
        first = True
        while line := stream.readline(MAX_LINE_BYTES):
            if first:
                line, first = line.removeprefix(codecs.BOM_UTF8), False
            if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield _Cut(line.decode("utf-8", errors="replace"))
                continue
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                yield line.decode("latin-1")


def _overlong(text: str, file: str | None, line: int) -> Entry:
    return Entry(text.strip() + "…", None, file, line, f"line longer than {MAX_LINE_BYTES // 1024} KiB")


def _text_entries(lines: _Lines, file: str | None, base_dir: Path | None) -> Iterator[Entry]:
    for raw in lines:
        number = lines.number
        if number in lines.overlong:
            yield _overlong(raw, file, number)
            continue
        text = raw.strip()
        if text and not text.startswith("#"):
            yield from _line_entries(text, file, number, base_dir)


def _csv_entries(lines: _Lines, file: str | None, base_dir: Path | None, tabs: bool) -> Iterator[Entry]:
    """Rows of a CSV/TSV: the `url` column, else the first column holding URLs, else the first column.

    With a header naming `focus_x` and `focus_y`, a row's pair (fractions of the width and height) is the point
    `--fit cover` keeps for its item; a pair out of range or not numbers makes the row an invalid entry."""
    lines_iter = iter(lines)
    sample: list[str] = []
    size = 0
    for text in lines_iter:
        sample.append(text)
        size += len(text)
        if size > _SNIFF_BYTES:
            break
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab if tabs else csv.excel
    if not tabs:
        with contextlib.suppress(csv.Error):  # one column, or nothing to go by: plain CSV
            dialect = csv.Sniffer().sniff("".join(sample), delimiters=",;\t|")
    rows = _csv_rows(chain(sample, lines_iter), dialect)
    first = list(islice(rows, _SNIFF_ROWS))
    header, column = _url_column([row for _, row, _ in first if _filled(row)])
    name = f"{header[column]!r}" if header and column < len(header) else f"{column + 1}"
    skip_header = header is not None
    focus_columns = _focus_columns(header)
    for number, row, error in chain(first, rows):
        if error is not None or number in lines.overlong:
            text = dialect.delimiter.join(row)
            yield _overlong(text, file, number) if error is None else Entry(text, None, file, number, error)
            continue
        if not _filled(row):
            continue
        if skip_header:
            skip_header = False
            continue
        cell = row[column].strip() if column < len(row) else ""
        try:
            focus = _row_focus(row, focus_columns)
        except ValueError as e:
            yield Entry(dialect.delimiter.join(row), None, file, number, str(e))
            continue
        if cell and focus is not None:
            yield from (
                replace(e, focus=focus) if e.url is not None else e for e in _line_entries(cell, file, number, base_dir)
            )
        elif cell:
            yield from _line_entries(cell, file, number, base_dir)
        else:
            yield Entry(dialect.delimiter.join(row), None, file, number, f"no URL in column {name}")


def _focus_columns(header: list[str] | None) -> tuple[int, int] | None:
    """The indexes of the `focus_x` and `focus_y` columns, when the header names both."""
    names = [cell.strip().lower() for cell in header or ()]
    if FOCUS_X in names and FOCUS_Y in names:
        return names.index(FOCUS_X), names.index(FOCUS_Y)
    return None


def _row_focus(row: list[str], columns: tuple[int, int] | None) -> FocusPoint | None:
    """The row's focal point; None when the columns are absent or both cells empty. ValueError, in words."""
    if columns is None:
        return None
    cells = [row[i].strip() if i < len(row) else "" for i in columns]
    if not any(cells):
        return None
    values = []
    for name, cell in zip((FOCUS_X, FOCUS_Y), cells, strict=True):
        if not cell:
            raise ValueError(f"{name} is empty: {FOCUS_X} and {FOCUS_Y} go together")
        try:
            value = float(cell)
        except ValueError:
            raise ValueError(f"{name} is not a number: {cell!r}") from None
        if not 0.0 <= value <= 1.0:  # also NaN
            raise ValueError(f"{name} must be a fraction between 0 and 1, got {cell}")
        values.append(value)
    return FocusPoint(values[0], values[1])


def _filled(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def _csv_rows(
    lines: Iterable[str], dialect: type[csv.Dialect] | csv.Dialect
) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line of the row, row, error): a malformed row is reported and reading goes on."""
    reader = csv.reader(lines, dialect)
    while True:
        start = reader.line_num + 1
        try:
            yield start, next(reader), None
        except StopIteration:
            return
        except csv.Error as e:
            yield start, [], f"unreadable CSV row: {e}"


_PATH_HEADERS = ("path", "file", "filename")


def _url_column(rows: list[list[str]]) -> tuple[list[str] | None, int]:
    """(header row or None, index of the column to read), judged from the first rows."""
    if not rows:
        return None, 0
    names = [cell.strip().lower() for cell in rows[0]]
    if "url" in names:
        return rows[0], names.index("url")
    first_has_url = any(_looks_like_url(cell.strip()) for cell in rows[0])
    data = rows if first_has_url else rows[1:]
    for column in range(max((len(r) for r in data), default=0)):
        values = [r[column].strip() for r in data if column < len(r) and r[column].strip()]
        urls = sum(_looks_like_url(v) for v in values)
        if urls and 2 * urls >= len(values):
            return (None if first_has_url else rows[0]), column
    for name in _PATH_HEADERS:
        if name in names:
            return rows[0], names.index(name)
    return None, 0


# --- HTML ------------------------------------------------------------------------------------------


# Where lazy-loading scripts keep an image's real address while `src` holds a placeholder (often a data: GIF),
# in the order they are looked at; a srcset's largest candidate wins over a single address.
_LAZY_SRCSETS = ("data-srcset",)
_LAZY_SRCS = ("data-src", "data-lazy-src", "data-original")
_STYLE_URL = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)


def _image_ref(values: dict[str, str]) -> str | None:
    """The address an <img> or a <source> shows: a lazy-loading attribute's before srcset and src (whose
    placeholder is then not an item), the largest srcset candidate before a single address."""
    for name in (*_LAZY_SRCSETS, *_LAZY_SRCS, "srcset", "src"):
        value = values.get(name)
        if value:
            ref = _largest_in_srcset(value) if name.endswith("srcset") else value
            if ref:
                return ref
    return None


class _ImageLinks(HTMLParser):
    """Collects the images of a page as it is written today, resolved against the page address (or its
    <base href>): each <img> (lazy-loading attributes, srcset, src), a <picture> once (its first <source>,
    else its <img>), url(...) in style attributes, and links to image files."""

    def __init__(self, base: str | None, file: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.file = file
        self.found: list[Entry] = []
        self._base_seen = False
        self._picture: list[str] | None = None  # inside a <picture>: its <source> choice, once there is one
        self._picture_shown = False  # the <picture>'s item was found

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v.strip() for k, v in attrs if v is not None and v.strip()}
        if tag == "base" and "href" in values and not self._base_seen:
            self._base_seen = True
            base = urljoin(self.base, values["href"]) if self.base else values["href"]
            if _looks_like_url(base):
                self.base = base
        elif tag == "picture":
            self._picture, self._picture_shown = [], False
        elif tag == "source" and self._picture is not None:
            ref = _image_ref(values)
            if ref and not self._picture:
                self._picture.append(ref)
        elif tag == "img":
            ref = _image_ref(values)
            if self._picture is not None and not self._picture_shown:
                ref = self._picture[0] if self._picture else ref
                self._picture_shown = ref is not None
            if ref:
                self.found.append(self._entry(ref))
        elif tag == "a" and "href" in values and _image_suffix(values["href"]):
            self.found.append(self._entry(values["href"]))
        style = values.get("style")
        if style and "url(" in style.lower():
            for m in _STYLE_URL.finditer(style):
                ref = m.group(2).strip()
                if ref and not ref.startswith("#"):  # url(#id) names a part of the page (an SVG filter)
                    self.found.append(self._entry(ref))

    def handle_endtag(self, tag: str) -> None:
        if tag == "picture" and self._picture is not None:
            if self._picture and not self._picture_shown:  # sources without an <img> (not valid, but written)
                self.found.append(self._entry(self._picture[0]))
            self._picture = None

    def _resolve(self, ref: str) -> str | None:
        if _looks_like_url(ref) and not ref.startswith("//"):
            return ref
        return urljoin(self.base, ref) if self.base else None

    def _entry(self, ref: str) -> Entry:
        line = self.getpos()[0] if self.file is not None else None
        source = ref if len(ref) <= 200 else f"{ref[:100]}… ({len(ref)} characters)"  # data: URIs
        url = self._resolve(ref)
        if url is None:
            return Entry(source, None, self.file, line, "relative link, and no page address to resolve it")
        entry = _url_entry(url, self.file, line)
        return Entry(source, entry.url, self.file, line, entry.error)


def _image_suffix(url: str) -> bool:
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES or path.lower().endswith(".svg.gz")


def _largest_in_srcset(srcset: str) -> str | None:
    """The candidate with the largest width (w) or, failing that, density (x) descriptor."""
    best: str | None = None
    best_score = (-1, 0.0)
    pos = 0
    while True:
        m = _SRCSET_URL.match(srcset, pos)
        if not m:
            return best
        url, pos = m.group(1), m.end()
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            end = srcset.find(",", pos)
            end = len(srcset) if end < 0 else end
            descriptor, pos = srcset[pos:end].strip(), end + 1
        score = _srcset_score(descriptor)
        if url and score > best_score:
            best, best_score = url, score
        if pos >= len(srcset):
            return best


def _srcset_score(descriptor: str) -> tuple[int, float]:
    m = _SRCSET_DESCRIPTOR.fullmatch(descriptor.lower())
    if not m:
        return 0, 1.0
    return (1 if m.group(2) == "w" else 0), float(m.group(1))


_PRESCAN_BYTES = 1024  # where the HTML standard looks for a <meta charset>
_META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# What the WHATWG Encoding standard reads for labels a page may declare but browsers never decode as such.
_BROWSER_CODECS = {"ascii": "cp1252", "iso8859-1": "cp1252"}


def _codec(label: str | bytes | None) -> str | None:
    """The Python codec for an encoding label as a page declares it, or None for no or an unknown label."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):  # a declaration in bytes that ASCII spells is not UTF-16
        return "utf-8"
    return _BROWSER_CODECS.get(name, name)


def _page_encoding(head: bytes, transport: str | None) -> str | None:
    """How a page is decoded, as browsers decide: its BOM, else the HTTP header's charset, else a
    <meta charset> (or http-equiv Content-Type) in its first KiB; None when it says nothing."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    declared = _META_CHARSET.search(head[:_PRESCAN_BYTES])
    return _codec(transport) or _codec(declared.group(1) if declared else None)


def _decoded_chunks(stream: io.BufferedReader, transport: str | None = None) -> Iterator[str]:
    """The text of a page in chunks, in the encoding it declares (`_page_encoding`; `transport`: the HTTP
    header's charset); when it declares none, UTF-8, or Latin-1 once the bytes are not UTF-8."""
    encoding = _page_encoding(stream.peek(_PRESCAN_BYTES)[:_PRESCAN_BYTES], transport)
    if encoding is not None:
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        while chunk := stream.read(_CHUNK):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    latin1 = False
    while True:
        chunk = stream.read(_CHUNK)
        if latin1:
            if not chunk:
                return
            yield chunk.decode("latin-1")
            continue
        pending = decoder.getstate()[0]
        try:
            yield decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            latin1 = True
            yield (pending + chunk).decode("latin-1")
        if not chunk:
            return


def _html_entries(chunks: Iterable[str], base: str | None, file: str | None) -> Iterator[Entry]:
    parser = _ImageLinks(base, file)
    for chunk in chunks:
        parser.feed(chunk)
        yield from parser.found
        parser.found.clear()
    parser.close()
    yield from parser.found


# --- public entry points ---------------------------------------------------------------------------


def entries_from_text(text: str, file: str | None = None) -> Iterator[Entry]:
    """Pasted or dropped plain text: each non-blank line not starting with '#' is a URL or a path.

    A line of several whitespace-separated URLs yields each; any other line is one item (a URL may hold
    spaces, a path often does). Relative paths are relative to the current folder.
    """
    return _text_entries(_Lines(io.StringIO(text)), file, None)


def entries_from_html(html: str, base: str | None = None, file: str | None = None) -> Iterator[Entry]:
    """Images of an HTML page or of a fragment dragged from a browser.

    Each <img> gives one entry (the largest srcset candidate, else src); an <a href> gives one when it
    points to an image file by its extension; other links are not items and are ignored. Relative links
    resolve against <base href>, else `base`.
    """
    return _html_entries([html], base, file)


def entries_from_page(body: bytes, url: str, charset: str | None = None, file: str | None = None) -> list[Entry]:
    """The images of a web page fetched from `url` (its final address: relative links resolve against it), read
    as an HTML list file is: `charset` from the HTTP header, which a BOM overrides. `file`: what the items name
    as their list (the page's address as the user gave it, by default `url`)."""
    return list(
        map(_in_words, _html_entries(_decoded_chunks(io.BufferedReader(io.BytesIO(body)), charset), url, file or url))
    )


def entries_from_uri_list(text: str) -> Iterator[Entry]:
    """A text/uri-list drop (RFC 2483): one URI a line, '#' comments.

    A file: URI of a local folder or file is read the way a command-line argument is (a folder is walked,
    a list file is read), so dropping things on the window does what naming them on the command line does.
    """
    return map(_in_words, _uri_list_entries(text))


def _uri_list_entries(text: str) -> Iterator[Entry]:
    lines = _Lines(io.StringIO(text))
    for raw in lines:
        text_line = raw.strip()
        if not text_line or text_line.startswith("#"):
            continue
        local = _local_path(text_line)
        if local is not None and _mode(local) is not None:
            yield from _path_entries(text_line, local)
        else:
            yield _url_entry(text_line, None, lines.number)


def _local_path(uri: str) -> Path | None:
    try:
        url = normalise_url(uri)
    except InvalidSource:
        return None
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc:
        return None
    if os.name == "nt":
        return Path(url2pathname(parts.path))
    return Path(os.fsdecode(unquote_to_bytes(parts.path)))  # the name's bytes, UTF-8 or not


_SURROGATE = re.compile("[\ud800-\udfff]")


def _in_words(entry: Entry) -> Entry:
    """`entry` with text a journal, a report and a window can store and show.

    A file name that is not valid UTF-8 (old disks, unpacked archives) comes from the file system as a str with
    lone surrogates, which no UTF-8 writer accepts; its shown text gets U+FFFD for each stray byte instead. The
    file: URL keeps the exact bytes (percent-escaped by `Path.as_uri`), so the file is still found and read."""
    fields = (entry.source, entry.url, entry.file, entry.error)
    url, file = entry.url, entry.file
    if (
        entry.source.isascii()
        and (url is None or url.isascii())
        and (file is None or file.isascii())
        and not entry.error
    ):
        return entry  # nearly every entry: str.isascii() is a flag lookup, a million lines pay ~0.1 s less
    if not any(text is not None and _SURROGATE.search(text) for text in fields):
        return entry
    source, url, file, error = (None if text is None else _replace_surrogates(text) for text in fields)
    assert source is not None
    return replace(entry, source=source, url=url, file=file, error=error)


def _replace_surrogates(text: str) -> str:
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (not from the file system): a "?"
        return text.encode("utf-8", "replace").decode("utf-8")


def iter_entries(args: Iterable[str], stdin: TextIO | None = None) -> Iterator[Entry]:
    """Entries for command-line arguments (or paths dropped on the window), in order, streaming.

    An argument is `-` (a text list on standard input), an http/https/file URL, a local image, a folder
    (walked for image files, recognised by content), or a list: .txt/.lst/.urls, .csv/.tsv or
    .html/.htm, other names sniffed. Anything else gives one invalid entry saying why.
    """
    return map(_in_words, _arg_entries(args, stdin))


def _arg_entries(args: Iterable[str], stdin: TextIO | None) -> Iterator[Entry]:
    for arg in args:
        if arg == "-":
            yield from _stdin_entries(stdin if stdin is not None else sys.stdin)
        elif not arg.strip():
            yield Entry(arg, None, error="empty argument: give a URL, a file or a folder")
        elif _FETCHABLE.match(arg.lstrip()):
            yield _url_entry(arg, None, None)
        else:
            path = Path(os.path.expanduser(arg))
            if _mode(path) is None:
                yield _missing(arg, path, None, None)
            else:
                yield from _path_entries(arg, path)


def _stdin_entries(stream: TextIO | None) -> Iterator[Entry]:
    if stream is None:  # a windowed app on Windows has no standard input
        yield Entry("-", None, error="there is no standard input to read")
        return
    binary = getattr(stream, "buffer", None)  # bytes, to decode them the way list files are
    lines = _Lines(binary if isinstance(binary, io.BufferedReader) else stream)
    yield from _or_note(_text_entries(lines, "-", None), "-", "no URLs or paths on standard input")


def _path_entries(source: str, path: Path) -> Iterator[Entry]:
    """An existing local path given as an argument: folder, image, or list file."""
    mode = _mode(path)
    if mode is not None and stat.S_ISDIR(mode):
        yield from _folder_entries(source, path)
        return
    try:
        with open(path, "rb") as stream:
            head = stream.peek(_HEAD_BYTES)[:_HEAD_BYTES]
            kind = _kind(path, head)
            if kind == "image":
                yield Entry(source, path.resolve().as_uri())
            elif kind is None:
                yield Entry(source, None, error="not an image or a list of URLs (binary content)")
            elif kind == "html":
                chunks = _decoded_chunks(stream)
                found = _html_entries(chunks, path.resolve().as_uri(), source)
                yield from _or_note(found, source, "no images or links to images in this page")
            else:
                lines = _Lines(stream)
                base_dir = path.resolve().parent
                found = (
                    _csv_entries(lines, source, base_dir, tabs=kind == "tsv")
                    if kind in ("csv", "tsv")
                    else _text_entries(lines, source, base_dir)
                )
                yield from _or_note(found, source, "no URLs or paths in this list")
    except OSError as e:
        yield Entry(source, None, error=f"cannot read this file: {e.strerror or e}")


def _kind(path: Path, head: bytes) -> str | None:
    """'image', 'html', 'csv', 'tsv', 'text', or None for binary content that is none of them."""
    suffix = path.suffix.lower()
    if _is_image_head(head):
        return "image"
    if suffix in CSV_SUFFIXES:
        return suffix[1:]
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in IMAGE_SUFFIXES:
        return "image"  # no signature to go by (TGA) or damaged: the resizer says which
    if b"\0" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    return "html" if _LOOKS_HTML.search(head) else "text"


def _or_note(entries: Iterator[Entry], source: str, note: str) -> Iterator[Entry]:
    """Pass entries through; when there were none, say so rather than start an empty batch."""
    empty = True
    for entry in entries:
        empty = False
        yield entry
    if empty:
        yield Entry(source, None, error=note)
