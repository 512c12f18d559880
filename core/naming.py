"""File names for thumbnails: the names people would give them, stable across runs, and safe on every OS.

An item's name is made in two steps. When the journal first sees an item it renders the --name template
(`NameTemplate.item_name`: the source's plain name by default, a folder's tree kept) and numbers clashes
('-2', '-3'); the journal keeps that name for good. Each thumbnail's file name is then made in the resizer
(`output_filename`), where its size, width and height are known. Earlier releases named every item
`output_stem(url)` ('photo-1a2b3c4d5e6f7a8b'); their folders keep those names.

Pure functions, no Qt and no Pillow: worker processes and the window both call them.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.models import Entry

#: Longest readable part of a stem (and of a folder's name), in characters and in UTF-8 bytes. With the '-' and
#: 16-hex hash, a '_8192' size suffix, a '.webp' extension and the '.{name}.{pid}.tmp' temp name around it, a full
#: name stays below the 255-byte limit of common file systems.
MAX_READABLE_CHARS = 80
MAX_READABLE_BYTES = 160
#: Hex digits of the URL's hash. URLs with the same readable part ('original', 'image' for query-only
#: addresses) differ only here, and two that share it share one file: with 8 digits (32 bits) a batch
#: of 100,000 such URLs overwrites one thumbnail with another about every other time; 64 bits make
#: that as good as impossible for any batch.
HASH_LEN = 16
FALLBACK = "image"

_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"0123456789", "¹", "²", "³")]
)
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_UNDERSCORES = re.compile(r"_{2,}")
_DOTS = re.compile(r"\.{2,}")
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")
_SEPARATORS = re.compile(r"[/\\]")


def _safe_char(ch: str) -> str:
    if ch in "-_.":
        return ch
    # Letters, marks (accents that stay separate after NFC) and digits; everything else, including
    # separators, controls, format characters (bidi overrides) and symbols, becomes '_'.
    if unicodedata.category(ch)[0] in "LMN":
        return ch
    return "_"


def _truncate(text: str) -> str:
    if len(text) <= MAX_READABLE_CHARS and text.isascii():
        return text
    text = text[:MAX_READABLE_CHARS]
    while len(text.encode("utf-8")) > MAX_READABLE_BYTES:
        text = text[:-1]
    return text


def _path_segments(url: str) -> list[str]:
    """The percent-decoded segments of `url`'s path. Decoded first, then split on both separators: '..%2F..%2Fx'
    and 'a%5Cb' never survive as paths. A data: URL has none (its "path" is its media type and data)."""
    if url[:5].lower() == "data:":
        return [""]
    return _SEPARATORS.split(unquote(urlsplit(url).path, errors="replace"))


def _quick_path_segments(url: str) -> list[str]:
    """`_path_segments` of a normalised URL (`core.sources.normalise_url`: no fragment, nothing to strip), without
    `urlsplit`'s cost: it runs for every item of a list."""
    if url[:5].lower() == "data:":
        return [""]
    head = url.partition("?")[0]
    start = head.find("/", head.find("//") + 2)
    path = "" if start < 0 else head[start:]
    return _SEPARATORS.split(unquote(path, errors="replace") if "%" in path else path)


def sanitise(segment: str) -> str:
    """One file or folder name made safe on every OS, or '' when nothing is left (see `output_stem`)."""
    if _PLAIN.fullmatch(segment):  # most names: nothing to replace (a million-item list names each item)
        text = segment
    else:
        text = "".join(_safe_char(ch) for ch in unicodedata.normalize("NFC", segment))
    if "__" in text or ".." in text:
        text = _DOTS.sub(".", _UNDERSCORES.sub("_", text))
    text = _truncate(text.strip("._- "))
    text = text.rstrip("._- ")
    if text and text.partition(".")[0].upper() in _DEVICE_NAMES:
        text = "_" + text
    return text


def readable_part(url: str) -> str:
    """The sanitised last path segment of `url` (without extension), or 'image' when there is none."""
    return _stem_of(_path_segments(url)[-1])


def _stem_of(segment: str) -> str:
    return sanitise(_EXTENSION.sub("", segment)) or FALLBACK


def url_hash(url: str) -> str:
    """Short, stable hash of the full URL (query included) that keeps stems unique."""
    return hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]


def output_stem(url: str) -> str:
    """Readable, stable, unique stem for a URL's thumbnails, e.g. 'photo-1a2b3c4d5e6f7a8b'.

    The readable part is the last path segment, percent-decoded, without its extension, NFC-normalised,
    with anything but unicode letters, marks, digits, '-', '_' and '.' replaced by '_' (runs collapsed,
    no '..', no leading or trailing dots, dashes or spaces), capped at 80 characters and 160 UTF-8
    bytes. Query-only and empty segments give 'image'. Windows device names (CON, PRN, AUX, NUL,
    COM0-9, LPT0-9, any case, with or without extension) get a '_' prefix. Then '-' and 16 hex digits
    of the SHA-1 of the whole URL, so URLs that differ only in their query get different stems.
    """
    return f"{readable_part(url)}-{url_hash(url)}"


def output_filename(name: str, size: int, ext: str, several_sizes: bool, width: int, height: int) -> str:
    """One thumbnail's file name from its item's `name` (the journal's, see `NameTemplate`): the per-output fields
    {size}, {width} and {height} filled in, '_{size}' added when several sizes were asked and the name has no
    {size}, and the format's extension: 'cat.jpg', 'cat_256.jpg', '2023/summer/IMG_0001_128.webp'."""
    if several_sizes and _SIZE_FIELD not in name:
        name += "_" + _SIZE_FIELD
    values = {Field.SIZE: size, Field.WIDTH: width, Field.HEIGHT: height}
    for field, value in values.items():
        name = name.replace(f"{{{field}}}", str(value))
    return f"{name}.{ext.lstrip('.').lower()}"


# -- name templates (--name) ---------------------------------------------------------------------------------------


class Field(StrEnum):
    """What a --name template can hold, as {stem}, {size}, ..."""

    STEM = "stem"  # the file or URL's last path segment without its extension, sanitised
    SIZE = "size"  # the box size of this thumbnail (--size)
    WIDTH = "width"  # this thumbnail's width and height in pixels
    HEIGHT = "height"
    HOST = "host"  # the URL's host ('' for a local file)
    DIR = "dir"  # the folder relative to the source folder, or the URL's path without its last segment
    N = "n"  # the line in the list, else the item's number in input order
    HASH = "hash"  # 16 hex digits of the URL's SHA-1, as names of earlier releases ended


#: Known only per thumbnail, so left in an item's name (as '{size}') until the resizer writes the file.
PER_OUTPUT = frozenset({Field.SIZE, Field.WIDTH, Field.HEIGHT})
_SIZE_FIELD = f"{{{Field.SIZE}}}"
_KEPT = {f: f"{{{f}}}" for f in PER_OUTPUT}
_FIELD = re.compile(r"\{([^{}]*)\}")
_FORBIDDEN = set('\\<>:"|?*')


class NameTemplateError(ValueError):
    """A --name template that cannot be used; the message says why, in words."""


Segment = tuple[str | Field, ...]


@dataclass(frozen=True)
class NameTemplate:
    """A parsed --name template: folders ('/') of literal text and fields. The empty template is the default: a
    folder's files keep their folder under the source folder ('{dir}/{stem}'), anything else is '{stem}'.

    An item's name is rendered once, when the journal first sees it (`item_name`); {size}, {width} and {height}
    stay as they are until each thumbnail is written (`output_filename`)."""

    text: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, text: str) -> NameTemplate:
        """Raises NameTemplateError for unknown fields, unbalanced braces, and names that could leave the
        output folder or be refused by a file system."""
        if not text:
            return cls(text, ())
        if text.startswith("/") or re.match(r"[A-Za-z]:", text):
            raise NameTemplateError("it must be a name inside the output folder, not an absolute path")
        segments = []
        for part in text.split("/"):
            if not part:
                raise NameTemplateError("it has an empty folder name (two / in a row, or a / at the end)")
            if part.startswith(".") or part.strip() != part:
                raise NameTemplateError(f"{part!r}: a folder or file name cannot start with '.' or a space")
            segments.append(cls._segment(part))
        if not any(isinstance(token, Field) for token in segments[-1]):
            raise NameTemplateError("the file name (after the last /) needs a field, such as {stem} or {n}")
        return cls(text, tuple(segments))

    @staticmethod
    def _segment(part: str) -> Segment:
        tokens: list[str | Field] = []
        at = 0
        for m in _FIELD.finditer(part):
            tokens.append(part[at : m.start()])
            try:
                tokens.append(Field(m.group(1)))
            except ValueError:
                known = ", ".join(f"{{{f}}}" for f in Field)
                raise NameTemplateError(f"unknown field {m.group(0)} (use {known})") from None
            at = m.end()
        tokens.append(part[at:])
        literal = "".join(t for t in tokens if not isinstance(t, Field))
        if "{" in literal or "}" in literal:
            raise NameTemplateError(f"{part!r}: unbalanced braces (fields are written {{stem}})")
        bad = sorted({c for c in literal if c in _FORBIDDEN or ord(c) < 32})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            raise NameTemplateError(f"{part!r}: file names cannot contain {shown} (use / to make folders)")
        return tuple(t for t in tokens if t != "")

    def item_name(self, entry: Entry, number: int) -> str:
        """The name of `entry`'s thumbnails without the extension, e.g. '2023/summer/IMG_0001' or 'photo_{size}';
        `number` is the item's place in input order (1 for the first). Always a safe relative path: every
        value is sanitised, empty folders are dropped, and a name with nothing left is 'image'."""
        assert entry.url is not None
        if not self.segments and entry.rel_dir is None:  # the default for a URL: the common case, made quickly
            return _stem_of(_quick_path_segments(entry.url)[-1])
        segments = self.segments or _FOLDER_DEFAULT
        values = _values(entry, number, _fields(segments))
        folders: list[str] = []
        for segment in segments:
            text = "".join(values[t] if isinstance(t, Field) else t for t in segment)
            pieces = [piece for piece in map(_clean, text.split("/")) if piece]
            folders.extend(pieces)
        if not pieces:  # the file name came out empty ({host} of a local file, {dir} of a top-level one)
            folders.append(FALLBACK)
        return "/".join(folders)


_FOLDER_DEFAULT: tuple[Segment, ...] = ((Field.DIR,), (Field.STEM,))


@functools.cache
def _fields(segments: tuple[Segment, ...]) -> frozenset[Field]:
    return frozenset(t for segment in segments for t in segment if isinstance(t, Field))


def _values(entry: Entry, number: int, used: frozenset[Field]) -> dict[Field, str]:
    """The values of the fields in `used` (only those: this runs once for every item of a list)."""
    url = entry.url or ""
    values = dict(_KEPT)
    if used & {Field.STEM, Field.DIR}:
        segments = _quick_path_segments(url)
        values[Field.STEM] = _stem_of(segments[-1])
        if Field.DIR in used:
            folders = entry.rel_dir.split("/") if entry.rel_dir is not None else segments[:-1]
            values[Field.DIR] = "/".join(s for s in map(sanitise, folders) if s)
    if Field.HOST in used:
        values[Field.HOST] = sanitise(urlsplit(url).netloc.rpartition("@")[2])
    if Field.N in used:
        values[Field.N] = str(entry.line if entry.line is not None and entry.rel_dir is None else number)
    if Field.HASH in used:
        values[Field.HASH] = url_hash(url)
    return values


def _clean(piece: str) -> str:
    """A rendered folder or file name: no leading or trailing dots and spaces ('..' becomes nothing), and no
    Windows device name."""
    piece = piece.strip(". ")
    if piece.split(".", 1)[0].upper() in _DEVICE_NAMES:
        piece = "_" + piece
    return piece


def name_key(name: str) -> str:
    """What two names share when a case-insensitive file system (Windows, macOS) takes them for the same file."""
    if name.isascii():
        return name.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def numbered(name: str, n: int) -> str:
    """The name given to the n-th item (n >= 2) that would have had `name`: 'photo' -> 'photo-2'."""
    return f"{name}-{n}"


def safe_join(out_dir: Path, name: str) -> Path:
    """`out_dir / name`, after checking that it resolves to a path strictly inside `out_dir`.

    Raises ValueError for absolute names, NUL bytes, and names that escape through '..' or a
    symbolic link. The returned path is the plain join (symbolic links inside are not resolved away).
    """
    if not name or "\x00" in name:
        raise ValueError(f"unsafe output name: {name!r}")
    base = Path(out_dir)
    joined = base / name
    root = base.resolve()
    target = joined.resolve()
    if target == root or not target.is_relative_to(root):
        raise ValueError(f"output name {name!r} leaves the output folder {str(base)!r}")
    return joined
