"""The one settings object shared by the `thumbnailer` command and the window.

Every field is a flag of the command with the same name (underscores become dashes) and the same
default; the window persists the same fields through QSettings. Validation lives here so both front
ends reject the same values with the same words.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from PIL import ImageColor

from core.download.limits import DEFAULT_USER_AGENT, FetchLimits
from core.imaging.spec import FITS, FORMATS, ResizeSpec

Fit = Literal["contain", "cover", "pad"]
Format = Literal["auto", "jpeg", "png", "webp", "avif"]


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


@dataclass(frozen=True)
class Settings:
    """Limits and output options of one batch. Immutable: a running batch keeps the one it started with."""

    out: Path = Path("thumbnails")
    size: tuple[int, ...] = (256,)
    fit: Fit = "contain"
    upscale: bool = False
    format: Format = "auto"
    quality: int = 85
    background: str = "white"
    keep_metadata: bool = False
    threads: int = 16
    per_host: int = 6
    timeout: float = 30.0
    retries: int = 3
    max_bytes: int = 50 * 1024**2
    max_pixels: int = 100_000_000
    processes: int = field(default_factory=default_processes)
    user_agent: str = DEFAULT_USER_AGENT
    cluster: str = ""  # a Dask scheduler address; empty runs on this computer

    def validated(self) -> Settings:
        """Return a normalised copy, or raise SettingsError naming the first bad value."""
        sizes = tuple(sorted(set(int(s) for s in self.size)))
        if not sizes:
            raise SettingsError("at least one --size is needed")
        for s in sizes:
            if not 1 <= s <= MAX_SIZE:
                raise SettingsError(f"--size must be between 1 and {MAX_SIZE} px, got {s}")
        if self.fit not in FITS:
            raise SettingsError(f"--fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.format not in FORMATS:
            raise SettingsError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise SettingsError(f"--quality must be between 1 and 100, got {self.quality}")
        try:
            ImageColor.getrgb(self.background)
        except ValueError:
            raise SettingsError(
                f"--background is not a colour: {self.background!r} (try white, #202020 or rgb(0,0,0))"
            ) from None
        checks: list[tuple[str, float, float, float]] = [
            ("--threads", self.threads, 1, 256),
            ("--per-host", self.per_host, 1, 256),
            ("--timeout", self.timeout, 1, 3600),
            ("--retries", self.retries, 0, 20),
            ("--processes", self.processes, 1, 64),
        ]
        for name, value, lo, hi in checks:
            if not lo <= value <= hi:
                raise SettingsError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
        if self.max_bytes <= 0:
            raise SettingsError("--max-bytes must be positive")
        if self.max_pixels <= 0:
            raise SettingsError("--max-pixels must be positive")
        if not self.user_agent.strip() or any(c in self.user_agent for c in "\r\n"):
            raise SettingsError("--user-agent must be one non-empty line")
        cluster = parse_cluster_address(self.cluster)
        return replace(self, size=sizes, out=Path(self.out).expanduser(), cluster=cluster)

    def resize_spec(self) -> ResizeSpec:
        """What the resizers are asked to make."""
        return ResizeSpec(
            sizes=self.size,
            fit=self.fit,
            upscale=self.upscale,
            format=self.format,
            quality=self.quality,
            background=self.background,
            keep_metadata=self.keep_metadata,
            max_pixels=self.max_pixels,
        )

    def fetch_limits(self) -> FetchLimits:
        """The limits of each download attempt."""
        return FetchLimits(timeout=self.timeout, max_bytes=self.max_bytes, user_agent=self.user_agent)

    def output_fingerprint(self) -> str:
        """What changes the thumbnails' bytes: an item done under another fingerprint is redone."""
        return (
            f"s={','.join(map(str, self.size))};fit={self.fit};up={int(self.upscale)};fmt={self.format};"
            f"q={self.quality};bg={self.background};meta={int(self.keep_metadata)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for QSettings and reports)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build from plain values, ignoring unknown keys; raises SettingsError on bad ones."""
        kwargs: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            default = getattr(defaults, f.name)
            try:
                if f.name == "out":
                    kwargs[f.name] = Path(str(raw))
                elif f.name == "size":
                    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
                    kwargs[f.name] = tuple(int(x) for x in items)
                elif f.name == "max_bytes":
                    kwargs[f.name] = parse_bytes(raw if isinstance(raw, int) else str(raw))
                elif f.name == "max_pixels":
                    kwargs[f.name] = parse_pixels(raw if isinstance(raw, int) else str(raw))
                elif isinstance(default, bool):
                    kwargs[f.name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    kwargs[f.name] = int(raw)
                elif isinstance(default, float):
                    kwargs[f.name] = float(raw)
                else:
                    kwargs[f.name] = str(raw)
            except (TypeError, ValueError) as exc:
                if isinstance(exc, SettingsError):
                    raise
                raise SettingsError(f"bad value for {f.name}: {raw!r}") from None
        return cls(**kwargs).validated()
