"""The one settings object shared by the `thumbnailer` command and the window, declared once.

Each field of `Settings` carries an `Option` (in its dataclass metadata) saying what kind of value it is:
its flag (the field name, underscores become dashes), help text, range or choices, how text becomes a value,
the parser group, its key in the output fingerprint and the spec it feeds. The command's flags, validation,
QSettings persistence, the fingerprint and the resize and download specs are all derived from that, and
the window builds its editors from it. Adding an option is one field here and one row in the window's
layout (tests/gui/test_settings_contract.py fails until both exist).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from PIL import ImageColor

from core.download.limits import DEFAULT_USER_AGENT, FetchLimits
from core.imaging.spec import Crop, Fit, Format, ResizeSpec
from core.naming import NameTemplate, NameTemplateError

__all__ = ["Crop", "Fit", "Format"]  # re-exported: the front ends take the enums from here

MAX_SIZE = 8192
_BYTE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


class SettingsError(ValueError):
    """A value a user typed that cannot be used; the message says which and why."""


def parse_bytes(text: str | int) -> int:
    """Parse '50M', '512K', '2G' or a plain byte count (binary units, as curl and aria2 do)."""
    if isinstance(text, int):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
        if not m:
            raise SettingsError(f"not a byte count: {text!r} (use a number with an optional K, M or G)")
        value = int(float(m.group(1)) * _BYTE_UNITS[m.group(2).upper()])
    if value <= 0:
        raise SettingsError(f"byte count must be positive: {text!r}")
    return value


def format_bytes(n: float) -> str:
    """Human-readable size for messages and labels: 1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def bytes_text(n: int) -> str:
    """50 MiB -> '50M' (what a user would type), else the exact count."""
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def pixels_text(n: int) -> str:
    """100_000_000 -> '100M' (decimal, as megapixels are), else the exact count."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def parse_sizes(text: str) -> tuple[int, ...]:
    """'256' or '128, 512' -> (256,) / (128, 512)."""
    tokens = [t for t in re.split(r"[,;\s]+", text.strip()) if t]
    if not tokens:
        raise SettingsError("at least one size is needed, e.g. 256 or 128, 512")
    sizes = []
    for token in tokens:
        if not token.isdigit():
            raise SettingsError(f"sizes are whole pixel counts such as 256 or 128, 512; {token!r} is not one")
        sizes.append(int(token))
    return tuple(sizes)


def parse_pixels(text: str | int) -> int:
    """Parse a pixel count: '100M', '24000000' or '40000x40000' (decimal M, as megapixels are)."""
    if isinstance(text, int):
        value = text
    else:
        s = str(text).strip()
        m = re.fullmatch(r"(\d+)\s*[xX×]\s*(\d+)", s)
        if m:
            value = int(m.group(1)) * int(m.group(2))
        else:
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)", s, re.IGNORECASE)
            if not m:
                raise SettingsError(f"not a pixel count: {text!r} (e.g. 100M or 10000x10000)")
            scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[m.group(2).upper()]
            value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise SettingsError(f"pixel count must be positive: {text!r}")
    return value


_CLUSTER_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}")


def parse_cluster_address(text: str) -> str:
    """A Dask scheduler address as Dask takes it: 'scheduler:8786' -> 'tcp://scheduler:8786'; '' means none."""
    address = text.strip()
    if not address:
        return ""
    if not _CLUSTER_ADDRESS.fullmatch(address):
        raise SettingsError(f"--cluster is not a Dask scheduler address: {text!r} (e.g. tcp://scheduler:8786)")
    return address if "://" in address else f"tcp://{address}"


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


class Group(StrEnum):
    """The command's help sections; the values are their titles."""

    OUTPUT = "output"
    LIMITS = "limits"
    BATCH = "batch"


@dataclass(frozen=True)
class Feed:
    """A setting that becomes field `name` of `spec` (`resize_spec()`, `fetch_limits()`); '' = the same name."""

    spec: type[ResizeSpec] | type[FetchLimits]
    name: str = ""


def _flag_type(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """argparse's `type`: a SettingsError becomes the flag's message as written; other ValueErrors keep
    argparse's own wording, 'invalid {name} value: ...' (argparse takes `name` from the function's name)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except SettingsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


@dataclass(frozen=True, kw_only=True)
class Option:
    """One setting's declaration. Subclasses are the kinds of value; each says how its values are parsed from
    a flag, from text typed in the window and from a stored plain value, checked, and written back.

    `default_help`: what the help shows as the default; None shows the default value, '' shows nothing.
    `fingerprint`: the setting's key in `Settings.output_fingerprint()` when it changes the thumbnails' bytes.
    `fingerprint_omits`: a value left out of the fingerprint: a later setting's value that makes what was made
    before it existed, so output folders made then are not redone.
    """

    help: str
    group: Group
    short: str = ""
    metavar: str | None = None
    default_help: str | None = None
    fingerprint: str = ""
    fingerprint_omits: Any = None
    feeds: Feed | None = None

    value_name: ClassVar[str] = "str"  # argparse's 'invalid {value_name} value' for a plain ValueError

    # -- the command ---------------------------------------------------------------------------------------

    def flag_type(self, text: str) -> Any:
        """A flag's text -> a value (validated later, with the others); SettingsError for words of its own."""
        return text

    def flags(self, name: str) -> list[str]:
        return [self.short, flag_of(name)] if self.short else [flag_of(name)]

    def add_flag(self, container: argparse._ActionsContainer, name: str, default: Any) -> None:
        extra: dict[str, Any] = {"metavar": self.metavar} if self.metavar else {}
        container.add_argument(
            *self.flags(name),
            dest=name,
            type=_flag_type(self.flag_type, self.value_name),
            default=default,
            help=self.help_text(default),
            **extra,
        )

    def help_text(self, default: Any) -> str:
        shown = self.to_text(default) if self.default_help is None else self.default_help
        text = f"{self.help} (default: {shown})" if shown else self.help
        return text.replace("%", "%%")  # argparse formats help with %

    # -- checking and converting ---------------------------------------------------------------------------

    def check(self, value: Any, flag: str) -> Any:
        """The value normalised, or SettingsError naming `flag` and the reason."""
        return value

    def parse_text(self, text: str) -> Any:
        """What a user typed in the window -> a value (checked afterwards by `check`)."""
        return text

    def to_text(self, value: Any) -> str:
        """A value as a user would type it (the window's editors, the help's defaults)."""
        return str(value)

    def from_plain(self, raw: Any) -> Any:
        """A stored value (QSettings keeps strings) -> a value; TypeError/ValueError when unusable."""
        return str(raw)

    def to_plain(self, value: Any) -> Any:
        """A value as plain data (str, int, float, bool, list) for QSettings and reports."""
        return value

    def fingerprint_text(self, value: Any) -> str:
        return str(value)

    def fingerprint_words(self, text: str) -> str:
        """A value as `fingerprint_text` wrote it, in the words a message shows."""
        return text


@dataclass(frozen=True, kw_only=True)
class _RangeOption(Option):
    """A number between `lo` and `hi` inclusive (the window's spin box has that range)."""

    lo: float
    hi: float
    unit: str = ""  # shown after the number in the window, e.g. 's'

    def check(self, value: Any, flag: str) -> Any:
        if not self.lo <= value <= self.hi:
            raise SettingsError(f"{flag} must be between {self.lo:g} and {self.hi:g}, got {value:g}")
        return value


@dataclass(frozen=True, kw_only=True)
class IntOption(_RangeOption):
    lo: int
    hi: int

    value_name: ClassVar[str] = "int"

    def flag_type(self, text: str) -> int:
        return int(text)

    def from_plain(self, raw: Any) -> int:
        return int(raw)


@dataclass(frozen=True, kw_only=True)
class FloatOption(_RangeOption):
    decimals: int = 0  # shown in the window

    value_name: ClassVar[str] = "float"

    def flag_type(self, text: str) -> float:
        return float(text)

    def from_plain(self, raw: Any) -> float:
        return float(raw)


@dataclass(frozen=True, kw_only=True)
class FlagOption(Option):
    """On or off. With `off_flag` the command also has the opposite flag (the two exclude each other), and the
    one that matches the default says '(default)'."""

    off_flag: str = ""
    off_help: str = ""

    def add_flag(self, container: argparse._ActionsContainer, name: str, default: Any) -> None:
        if not self.off_flag:
            container.add_argument(*self.flags(name), dest=name, action="store_true", help=self.help_text(default))
            return
        pair = container.add_mutually_exclusive_group()
        pair.add_argument(
            self.off_flag, dest=name, action="store_false", default=default, help=self._mark(self.off_help, not default)
        )
        pair.add_argument(*self.flags(name), dest=name, action="store_true", help=self._mark(self.help, bool(default)))

    @staticmethod
    def _mark(text: str, is_default: bool) -> str:
        return f"{text} (default)" if is_default else text

    def from_plain(self, raw: Any) -> bool:
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")

    def fingerprint_text(self, value: Any) -> str:
        return str(int(value))

    def fingerprint_words(self, text: str) -> str:
        return "on" if text == "1" else "off"


@dataclass(frozen=True, kw_only=True)
class ChoiceOption(Option):
    """One member of `choices`; flags, the journal and QSettings hold the member's string value."""

    choices: type[StrEnum]

    def add_flag(self, container: argparse._ActionsContainer, name: str, default: Any) -> None:
        container.add_argument(
            *self.flags(name),
            dest=name,
            choices=[str(c) for c in self.choices],
            default=str(default),
            help=self.help_text(default),
        )

    def check(self, value: Any, flag: str) -> StrEnum:
        try:
            return self.choices(value)
        except ValueError:
            raise SettingsError(f"{flag} must be one of {', '.join(self.choices)}, got {value!r}") from None

    def to_plain(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, kw_only=True)
class SizesOption(Option):
    """One or more box sizes in pixels, each between `lo` and `hi`; stored sorted without repeats. The flag
    is repeated for several sizes."""

    lo: int
    hi: int

    def add_flag(self, container: argparse._ActionsContainer, name: str, default: Any) -> None:
        container.add_argument(
            *self.flags(name),
            dest=name,
            type=int,
            action="append",
            metavar=self.metavar,
            help=self.help_text(default),
        )  # no default: appending would add to it; an absent flag leaves the field's default

    def check(self, value: Any, flag: str) -> tuple[int, ...]:
        sizes = tuple(sorted({int(s) for s in value}))
        if not sizes:
            raise SettingsError(f"at least one {flag} is needed")
        for s in sizes:
            if not self.lo <= s <= self.hi:
                raise SettingsError(f"{flag} must be between {self.lo} and {self.hi} px, got {s}")
        return sizes

    def parse_text(self, text: str) -> tuple[int, ...]:
        return parse_sizes(text)

    def to_text(self, value: Any) -> str:
        return ", ".join(str(s) for s in value)

    def from_plain(self, raw: Any) -> tuple[int, ...]:
        return tuple(int(x) for x in raw) if isinstance(raw, list | tuple) else parse_sizes(str(raw))

    def to_plain(self, value: Any) -> list[int]:
        return list(value)

    def fingerprint_text(self, value: Any) -> str:
        return ",".join(map(str, value))


@dataclass(frozen=True, kw_only=True)
class BytesOption(Option):
    """A positive byte count typed with binary K/M/G suffixes."""

    def flag_type(self, text: str) -> int:
        return parse_bytes(text)

    def check(self, value: Any, flag: str) -> Any:
        if value <= 0:
            raise SettingsError(f"{flag} must be positive")
        return value

    def parse_text(self, text: str) -> int:
        return self.flag_type(text)

    def to_text(self, value: Any) -> str:
        return bytes_text(value)

    def from_plain(self, raw: Any) -> int:
        return parse_bytes(raw if isinstance(raw, int) else str(raw))


@dataclass(frozen=True, kw_only=True)
class RateOption(BytesOption):
    """Bytes a second with binary K/M/G suffixes; 0 means no limit."""

    def flag_type(self, text: str) -> int:
        return 0 if text.strip() == "0" else parse_bytes(text)

    def check(self, value: Any, flag: str) -> Any:
        if value < 0:
            raise SettingsError(f"{flag} must be 0 (no limit) or a positive rate")
        return value

    def to_text(self, value: Any) -> str:
        return bytes_text(value) if value else "0"

    def from_plain(self, raw: Any) -> int:
        return raw if isinstance(raw, int) and raw >= 0 else self.flag_type(str(raw))


@dataclass(frozen=True, kw_only=True)
class PixelsOption(BytesOption):
    """A positive pixel count: decimal K/M/G or width x height."""

    def flag_type(self, text: str) -> int:
        return parse_pixels(text)

    def to_text(self, value: Any) -> str:
        return pixels_text(value)

    def from_plain(self, raw: Any) -> int:
        return parse_pixels(raw if isinstance(raw, int) else str(raw))


@dataclass(frozen=True, kw_only=True)
class PathOption(Option):
    """A folder; '~' is expanded."""

    def flag_type(self, text: str) -> Path:
        return Path(text)

    def check(self, value: Any, flag: str) -> Path:
        return Path(value).expanduser()

    def from_plain(self, raw: Any) -> Path:
        return Path(str(raw))

    def to_plain(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, kw_only=True)
class ColourOption(Option):
    """A colour as Pillow reads it: a name, #rrggbb or rgb(r, g, b)."""

    def check(self, value: Any, flag: str) -> Any:
        try:
            ImageColor.getrgb(value)
        except ValueError:
            raise SettingsError(f"{flag} is not a colour: {value!r} (try white, #202020 or rgb(0,0,0))") from None
        return value

    def parse_text(self, text: str) -> str:
        return text.strip()


@dataclass(frozen=True, kw_only=True)
class LineOption(Option):
    """One non-empty line of text (it goes into an HTTP header)."""

    def check(self, value: Any, flag: str) -> Any:
        if not value.strip() or any(c in value for c in "\r\n"):
            raise SettingsError(f"{flag} must be one non-empty line")
        return value


@dataclass(frozen=True, kw_only=True)
class ClusterAddressOption(Option):
    """A Dask scheduler address, normalised to tcp://host:port; '' means this computer."""

    def check(self, value: Any, flag: str) -> str:
        return parse_cluster_address(value)

    def parse_text(self, text: str) -> str:
        return parse_cluster_address(text)


@dataclass(frozen=True, kw_only=True)
class NameTemplateOption(Option):
    """A --name template (`core.naming.NameTemplate`), checked when given; '' is the default naming."""

    def flag_type(self, text: str) -> str:
        """Checked as the flag is read: argparse says 'argument --name: ' before the words."""
        try:
            return NameTemplate.parse(text).text
        except NameTemplateError as exc:
            raise SettingsError(f"{text!r} cannot be used: {exc}") from None

    def check(self, value: Any, flag: str) -> str:
        try:
            return self.flag_type(str(value))
        except SettingsError as exc:
            raise SettingsError(f"{flag} {exc}") from None


def flag_of(name: str) -> str:
    """The command's flag for a settings field: 'per_host' -> '--per-host'."""
    return "--" + name.replace("_", "-")


def declared(option: Option) -> dict[str, Option]:
    """A `Settings` field's metadata: `field(default=..., metadata=declared(IntOption(...)))`."""
    return {"option": option}


_OUT, _LIMITS, _BATCH = Group.OUTPUT, Group.LIMITS, Group.BATCH


@dataclass(frozen=True)
class Settings:
    """Limits and output options of one batch. Immutable: a running batch keeps the one it started with."""

    out: Path = field(
        default=Path("thumbnails"), metadata=declared(PathOption(help="output folder", group=_OUT, short="-o"))
    )
    size: tuple[int, ...] = field(
        default=(256,),
        metadata=declared(
            SizesOption(
                help="bounding box in pixels; repeat for several sizes",
                group=_OUT,
                short="-s",
                metavar="PX",
                lo=1,
                hi=MAX_SIZE,
                fingerprint="s",
                feeds=Feed(ResizeSpec, "sizes"),
            )
        ),
    )
    fit: Fit = field(
        default=Fit.CONTAIN,
        metadata=declared(
            ChoiceOption(
                help="contain, cover (crop) or pad", group=_OUT, choices=Fit, fingerprint="fit", feeds=Feed(ResizeSpec)
            )
        ),
    )
    crop: Crop = field(
        default=Crop.CENTRE,
        metadata=declared(
            ChoiceOption(
                help="where --fit cover cuts: centre, attention (what draws the eye) or entropy (the busiest part)",
                group=_OUT,
                choices=Crop,
                fingerprint="crop",
                fingerprint_omits=Crop.CENTRE,
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    upscale: bool = field(
        default=False,
        metadata=declared(
            FlagOption(
                help="enlarge images smaller than the box",
                group=_OUT,
                default_help="never",
                fingerprint="up",
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    format: Format = field(
        default=Format.AUTO,
        metadata=declared(
            ChoiceOption(
                help="output format; auto = PNG where the image has transparency, else JPEG",
                group=_OUT,
                short="-f",
                choices=Format,
                fingerprint="fmt",
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    quality: int = field(
        default=85,
        metadata=declared(
            IntOption(
                help="JPEG/WebP/AVIF quality",
                group=_OUT,
                short="-q",
                lo=1,
                hi=100,
                fingerprint="q",
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    background: str = field(
        default="white",
        metadata=declared(
            ColourOption(
                help="colour transparency is flattened onto for JPEG, and --fit pad's fill",
                group=_OUT,
                fingerprint="bg",
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    keep_metadata: bool = field(
        default=False,
        metadata=declared(
            FlagOption(
                help="keep EXIF and the colour profile",
                group=_OUT,
                off_flag="--strip",
                off_help="strip metadata",
                fingerprint="meta",
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    name: str = field(
        default="",
        metadata=declared(
            NameTemplateOption(
                help="thumbnail names: {stem} {size} {width} {height} {host} {dir} {n} {hash}, / makes folders, e.g."
                " '{host}/{stem}_{width}x{height}'; the default keeps the source's name and a folder's tree",
                group=_OUT,
                metavar="TEMPLATE",
                default_help="",
            )
        ),
    )
    threads: int = field(
        default=256,
        metadata=declared(
            IntOption(
                help="downloads at once at most; fewer while more would not go faster (core.batch.concurrency)",
                group=_LIMITS,
                lo=1,
                hi=256,
            )
        ),
    )
    per_host: int = field(
        default=6, metadata=declared(IntOption(help="downloads per host at once", group=_LIMITS, lo=1, hi=256))
    )
    timeout: float = field(
        default=30.0,
        metadata=declared(
            FloatOption(
                help="seconds for one whole download", group=_LIMITS, lo=1, hi=3600, unit="s", feeds=Feed(FetchLimits)
            )
        ),
    )
    retries: int = field(
        default=3,
        metadata=declared(
            IntOption(help="retries on connection errors, 429 and 5xx, with backoff", group=_LIMITS, lo=0, hi=20)
        ),
    )
    max_bytes: int = field(
        default=50 * 1024**2,
        metadata=declared(
            BytesOption(
                help="largest download, with K/M/G suffixes", group=_LIMITS, metavar="SIZE", feeds=Feed(FetchLimits)
            )
        ),
    )
    max_rate: int = field(
        default=0,
        metadata=declared(
            RateOption(
                help="bytes a second for all downloads together, with K/M/G suffixes; 0 for no limit",
                group=_LIMITS,
                metavar="RATE",
            )
        ),
    )
    max_pixels: int = field(
        default=100_000_000,
        metadata=declared(
            PixelsOption(
                help="largest image in pixels, checked before decoding, e.g. 100M or 10000x10000",
                group=_LIMITS,
                metavar="N",
                feeds=Feed(ResizeSpec),
            )
        ),
    )
    processes: int = field(
        default_factory=default_processes,
        metadata=declared(
            IntOption(help="resizer processes", group=_LIMITS, lo=1, hi=64, default_help="number of cores")
        ),
    )
    user_agent: str = field(
        default=DEFAULT_USER_AGENT,
        metadata=declared(LineOption(help="User-Agent header", group=_LIMITS, feeds=Feed(FetchLimits))),
    )
    pages: bool = field(
        default=False,
        metadata=declared(
            FlagOption(
                help="read a URL that answers with a web page (text/html) for its images, one level deep;"
                " without it such a URL fails as not an image",
                group=_BATCH,
            )
        ),
    )
    cluster: str = field(
        default="",
        metadata=declared(
            ClusterAddressOption(
                help="run the downloads and resizes on a Dask cluster, e.g. tcp://scheduler:8786"
                " (needs the cluster extra)",
                group=_BATCH,
                metavar="ADDRESS",
                default_help="",
            )
        ),
    )

    def validated(self) -> Settings:
        """Return a normalised copy, or raise SettingsError naming the first bad value."""
        return replace(self, **{name: o.check(getattr(self, name), flag_of(name)) for name, o in OPTIONS.items()})

    def resize_spec(self) -> ResizeSpec:
        """What the resizers are asked to make."""
        return ResizeSpec(**self._fed(ResizeSpec))

    def fetch_limits(self) -> FetchLimits:
        """The limits of each download attempt."""
        return FetchLimits(**self._fed(FetchLimits))

    def _fed(self, spec: type[ResizeSpec] | type[FetchLimits]) -> dict[str, Any]:
        return {
            o.feeds.name or name: getattr(self, name)
            for name, o in OPTIONS.items()
            if o.feeds is not None and o.feeds.spec is spec
        }

    def output_fingerprint(self) -> str:
        """What changes the thumbnails' bytes: an item done under another fingerprint is redone.
        Stored in every output folder's journal: its text must never change for the same values."""
        made = self._made()
        return ";".join(
            f"{o.fingerprint}={o.fingerprint_text(made[name])}"
            for name, o in OPTIONS.items()
            if o.fingerprint and (o.fingerprint_omits is None or made[name] != o.fingerprint_omits)
        )

    def _made(self) -> dict[str, Any]:
        """Each setting's value as the resizers take it: a value that cannot change a byte (a crop when --fit is
        not cover) reads as its default there, so changing it redoes nothing."""
        spec = self.resize_spec()
        return {
            name: getattr(spec, o.feeds.name or name)
            if o.feeds is not None and o.feeds.spec is ResizeSpec
            else getattr(self, name)
            for name, o in OPTIONS.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for QSettings and reports)."""
        return {name: o.to_plain(getattr(self, name)) for name, o in OPTIONS.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Build from plain values, ignoring unknown keys; raises SettingsError on bad ones."""
        kwargs: dict[str, Any] = {}
        for name, o in OPTIONS.items():
            if name not in data:
                continue
            raw = data[name]
            try:
                kwargs[name] = o.from_plain(raw)
            except SettingsError:
                raise
            except (TypeError, ValueError):
                raise SettingsError(f"bad value for {name}: {raw!r}") from None
        return cls(**kwargs).validated()


def _declarations() -> Mapping[str, Option]:
    undeclared = [f.name for f in fields(Settings) if not isinstance(f.metadata.get("option"), Option)]
    if undeclared:  # at import: a field without a flag and an editor never gets as far as a test
        raise TypeError(f"Settings fields need field(metadata=declared(SomeOption(...))): {', '.join(undeclared)}")
    return MappingProxyType({f.name: f.metadata["option"] for f in fields(Settings)})


OPTIONS = _declarations()
"""Every setting's declaration by field name, in field order."""


def read_fingerprint(text: str) -> dict[str, str] | None:
    """The output settings an output fingerprint holds, in words by field name ({'size': '256', 'format': 'webp',
    ...}), for saying what changed; None when `text` is not a fingerprint. A value the fingerprint leaves out
    (`fingerprint_omits`) reads as that value; a setting it does not know is missing from the result."""
    names = {o.fingerprint: name for name, o in OPTIONS.items() if o.fingerprint}
    found: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            return None
        if key in names:
            found[names[key]] = OPTIONS[names[key]].fingerprint_words(value)
    for name, o in OPTIONS.items():
        if o.fingerprint and name not in found and o.fingerprint_omits is not None:
            found[name] = o.fingerprint_words(o.fingerprint_text(o.fingerprint_omits))
    return found


def add_flags(container: argparse._ActionsContainer, group: Group) -> None:
    """Add the flags of `group`'s settings to a parser (group), with the defaults of `Settings()`."""
    defaults = Settings()
    for name, o in OPTIONS.items():
        if o.group is group:
            o.add_flag(container, name, getattr(defaults, name))


def settings_from_flags(namespace: argparse.Namespace) -> Settings:
    """Validated Settings from parsed flags; a flag that was not given (None) leaves the field's default."""
    given = {name: getattr(namespace, name) for name in OPTIONS if getattr(namespace, name, None) is not None}
    return Settings(**given).validated()
