"""File names for thumbnails: readable, stable across runs, unique per URL, and safe on every OS.

Pure functions, no Qt and no Pillow: worker processes and the window both call them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: Longest readable part of a stem, in characters and in UTF-8 bytes. With the '-' and 16-hex hash,
#: a '_8192' size suffix, a '.webp' extension and the '.{name}.{pid}.tmp' temp name around it, a full
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


def _safe_char(ch: str) -> str:
    if ch in "-_.":
        return ch
    # Letters, marks (accents that stay separate after NFC) and digits; everything else, including
    # separators, controls, format characters (bidi overrides) and symbols, becomes '_'.
    if unicodedata.category(ch)[0] in "LMN":
        return ch
    return "_"


def _truncate(text: str) -> str:
    text = text[:MAX_READABLE_CHARS]
    while len(text.encode("utf-8")) > MAX_READABLE_BYTES:
        text = text[:-1]
    return text


def readable_part(url: str) -> str:
    """The sanitised last path segment of `url` (without extension), or 'image' when there is none (a query, or
    a data: URL, whose "path" is its media type and data)."""
    if url[:5].lower() == "data:":
        return FALLBACK
    path = urlsplit(url).path
    # Decode first, then split on both separators: '..%2F..%2Fx' and 'a%5Cb' never survive as paths.
    segment = re.split(r"[/\\]", unquote(path, errors="replace"))[-1]
    segment = _EXTENSION.sub("", segment)
    segment = unicodedata.normalize("NFC", segment)
    text = "".join(_safe_char(ch) for ch in segment)
    text = _DOTS.sub(".", _UNDERSCORES.sub("_", text))
    text = _truncate(text.strip("._- "))
    text = text.rstrip("._- ")
    if not text:
        return FALLBACK
    if text.split(".", 1)[0].upper() in _DEVICE_NAMES:
        text = "_" + text
    return text


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


def output_filename(stem: str, size: int, ext: str, several_sizes: bool) -> str:
    """'{stem}.{ext}', or '{stem}_{size}.{ext}' when several sizes were asked."""
    ext = ext.lstrip(".").lower()
    return f"{stem}_{size}.{ext}" if several_sizes else f"{stem}.{ext}"


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
