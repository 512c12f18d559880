"""Where `--fit cover` crops: a crop chosen by hand (a point or a box) and the geometry every size is cut with.

Pure arithmetic, no Pillow: the engine, the journal, list reading and the window's preview (which draws the crop
box of every size over the source) all use it, and none of them should load a decoder for it.

A hand-chosen crop is one of two kinds, each a class:

- `FocusPoint`: the point to keep, as fractions of the source's width and height. Each size's crop window is
  centred on it, then moved back inside the image where it would overflow.
- `FocusBox`: the region to keep, as fractions (left, top, right, bottom). Each size is a cover of that region:
  its aspect fitted to the size's box, centred in the region.

Their text (`str()`, parsed back by `parse_focus`) is what the journal stores and the report shows:
`point 0.25,0.4` and `box 0.1,0.2,0.6,0.9`; `auto` (the report's word) or nothing means no hand-chosen crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AUTO = "auto"

#: (left, top, right, bottom) in source pixels.
Region = tuple[float, float, float, float]


def _fraction(value: float, name: str) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _short(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


@dataclass(frozen=True, slots=True)
class FocusPoint:
    """The point to keep in every size, as fractions of the width (x) and height (y). ValueError outside 0..1."""

    x: float
    y: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _fraction(self.x, "focus_x"))
        object.__setattr__(self, "y", _fraction(self.y, "focus_y"))

    def __str__(self) -> str:
        return f"point {_short(self.x)},{_short(self.y)}"

    def area(self, w: float, h: float) -> Region:
        """The part of a w x h image the crop is taken from: all of it."""
        return (0.0, 0.0, w, h)

    def shares(self, w: float, h: float, cw: float, ch: float) -> tuple[float, float]:
        """Where a cw x ch window centred on the point sits, as the share of the spare room left of and above it."""
        return _share(self.x * w - cw / 2, w - cw), _share(self.y * h - ch / 2, h - ch)


@dataclass(frozen=True, slots=True)
class FocusBox:
    """The region to keep, as fractions (left, top, right, bottom). ValueError if empty or outside 0..1."""

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        for name in ("left", "top", "right", "bottom"):
            object.__setattr__(self, name, _fraction(getattr(self, name), f"box {name}"))
        if self.right <= self.left or self.bottom <= self.top:
            raise ValueError(f"the box {self} is empty: right must exceed left and bottom exceed top")

    def __str__(self) -> str:
        return "box " + ",".join(_short(v) for v in (self.left, self.top, self.right, self.bottom))

    def area(self, w: float, h: float) -> Region:
        """The box in a w x h image's pixels, at least one pixel a side."""
        left, top = self.left * w, self.top * h
        return left, top, max(self.right * w, min(w, left + 1)), max(self.bottom * h, min(h, top + 1))

    def shares(self, w: float, h: float, cw: float, ch: float) -> tuple[float, float]:
        """The window is centred in the box."""
        return 0.5, 0.5


Focus = FocusPoint | FocusBox


def _share(offset: float, spare: float) -> float:
    return min(1.0, max(0.0, offset / spare)) if spare > 0 else 0.5


def parse_focus(text: str | None) -> Focus | None:
    """`point X,Y` or `box L,T,R,B` (as `str()` writes them) -> the focus; None, '' or 'auto' -> None.
    ValueError, in words, for anything else."""
    if text is None or not text.strip() or text.strip() == AUTO:
        return None
    kind, _, numbers = text.strip().partition(" ")
    try:
        values = [float(v) for v in numbers.split(",")]
    except ValueError:
        raise ValueError(f"not a crop: {text!r} (expected 'point X,Y' or 'box L,T,R,B')") from None
    if kind == "point" and len(values) == 2:
        return FocusPoint(*values)
    if kind == "box" and len(values) == 4:
        return FocusBox(*values)
    raise ValueError(f"not a crop: {text!r} (expected 'point X,Y' or 'box L,T,R,B')")


def focus_text(focus: Focus | None) -> str:
    """What the report shows: the hand-chosen crop, or `auto`."""
    return AUTO if focus is None else str(focus)


def geometry(
    w: int,
    h: int,
    box: int,
    fit: str,
    upscale: bool,
    shares: tuple[float, float] = (0.5, 0.5),
    hand: Focus | None = None,
) -> tuple[int, int, Region, tuple[int, int]]:
    """For an upright w x h source and a box: (resize width, resize height, the source region to resize, in source
    pixels, canvas size). The canvas is larger than the resize size only for pad.

    Under cover, `shares` says where the region sits (the share of the spare width and height left of and above
    it: `--crop`'s choice), unless `hand` (a crop chosen by hand) decides; other fits ignore both."""
    if fit == "cover":
        ax, ay, ar, ab = (0.0, 0.0, float(w), float(h)) if hand is None else hand.area(w, h)
        aw, ah = ar - ax, ab - ay
        scale = max(box / aw, box / ah)
        if not upscale:
            scale = min(scale, 1.0)
        rw = min(box, max(1, round(aw * scale)))
        rh = min(box, max(1, round(ah * scale)))
        cw, ch = min(aw, rw / scale), min(ah, rh / scale)
        sx, sy = shares if hand is None else hand.shares(w, h, cw, ch)
        left, top = ax + (aw - cw) * sx, ay + (ah - ch) * sy
        return rw, rh, (left, top, left + cw, top + ch), (rw, rh)
    scale = min(box / w, box / h)
    if not upscale:
        scale = min(scale, 1.0)
    rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = (box, box) if fit == "pad" else (rw, rh)
    return rw, rh, (0.0, 0.0, float(w), float(h)), canvas
