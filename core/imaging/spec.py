"""What a resize job asks for and what it gives back, apart from the code that decodes and resizes.

The processes that only hand jobs out and read their results (the command, the engine) import this and not
`core.imaging.resize`, which brings the decoders (Pillow's plugins, ICC, Wuffs, zlib-ng): some 70 ms of every launch
before its first download. `core.imaging.resize` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from PIL import ImageColor

from core.models import Output

_E = TypeVar("_E", bound=StrEnum)


class Fit(StrEnum):
    """How an image meets the box (see ResizeSpec). The values are what --fit, the journal and QSettings hold."""

    CONTAIN = "contain"
    COVER = "cover"
    PAD = "pad"


class Crop(StrEnum):
    """Where `cover` cuts (see ResizeSpec). The values are what --crop and QSettings hold."""

    CENTRE = "centre"
    ATTENTION = "attention"
    ENTROPY = "entropy"


class Format(StrEnum):
    """The output format; AUTO is PNG where the image has transparency, else JPEG. Values as --format takes them."""

    AUTO = "auto"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"


class ResizeError(Exception):
    """Why an image could not be made into thumbnails, in words a user understands, e.g.
    'not an image (looks like HTML)', 'image is 50000x50000 = 2500 Mpx, over --max-pixels 100 Mpx',
    'truncated or corrupt JPEG: ...', 'encrypted PDF (needs a password): cannot be thumbnailed'."""


@dataclass(frozen=True)
class ResizeSpec:
    """What to make. Validated on construction (ValueError); sizes are stored sorted and deduplicated.

    Fit modes, for a box of `size` x `size` pixels:

    - `contain`: the whole image, as large as fits in the box, aspect kept.
    - `cover`: the box filled, aspect kept, the overflow cropped. `crop` says where: `centre` cuts equally from
      both sides; `attention` keeps what draws the eye (edges, saturated and skin-like colour) and `entropy` the
      busiest region, both chosen once per image (`core.imaging.smartcrop`) and kept in every size.
      Without `upscale` an image smaller than the box on a side is not enlarged; the output is then
      min(box, that side) on that side, so a 400x100 image in a 256 box gives 256x100 and a 100x50
      image stays 100x50.
    - `pad`: `contain`, then centred on a canvas of exactly the box. Without `upscale` a small image
      keeps its size in the middle of the full box. The canvas is transparent when the output has
      alpha (PNG/WebP/AVIF) and the image has transparency, else `background`.

    `upscale=False` (the default) never enlarges. `format="auto"` writes PNG when the image has real
    transparency (an alpha value below 255, or a transparent palette entry in use) and JPEG
    otherwise. `keep_metadata=False` writes neither EXIF nor ICC; True keeps the EXIF (orientation
    reset to 1, since pixels are stored upright; the embedded preview is not copied) and embeds the
    sRGB profile when the source had a profile (outputs are always sRGB).
    """

    sizes: tuple[int, ...] = (256,)
    fit: Fit = Fit.CONTAIN
    crop: Crop = Crop.CENTRE
    upscale: bool = False
    format: Format = Format.AUTO
    quality: int = 85
    background: str = "white"
    keep_metadata: bool = False
    max_pixels: int = 100_000_000

    def __post_init__(self) -> None:
        sizes = tuple(sorted({int(s) for s in self.sizes}))
        if not sizes or sizes[0] < 1:
            raise ValueError(f"sizes must be positive pixel counts, got {self.sizes!r}")
        object.__setattr__(self, "sizes", sizes)
        # Plain strings (from a journal, a test, an older caller) become the enum members.
        object.__setattr__(self, "fit", _member(Fit, self.fit, "fit"))
        crop = _member(Crop, self.crop, "crop")
        object.__setattr__(self, "crop", crop if self.fit is Fit.COVER else Crop.CENTRE)  # only cover crops
        object.__setattr__(self, "format", _member(Format, self.format, "format"))
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be between 1 and 100, got {self.quality}")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {self.max_pixels}")
        background_rgb(self.background)  # raises ValueError for what is not a colour


def _member(kind: type[_E], value: str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(kind)}, got {value!r}") from None


@dataclass
class ResizeResult:
    """`source_width`/`source_height`: the full-resolution size as displayed (after EXIF orientation).
    `outputs`: one per size, smallest first; paths relative to the output folder.
    `warning`: the thumbnails were made but the user should know something, in words (a truncated file that
    decoded in part: 'truncated: about 40% of the image is missing'); None when all went well."""

    source_width: int
    source_height: int
    outputs: list[Output]
    warning: str | None = None


def background_rgb(colour: str) -> tuple[int, int, int]:
    try:
        rgb = ImageColor.getrgb(colour)
    except (ValueError, AttributeError):
        raise ValueError(f"background is not a colour: {colour!r}") from None
    return (rgb[0], rgb[1], rgb[2])


def too_large(pixels: int, limit: int, size: tuple[int, int] | None = None) -> ResizeError:
    """The refusal of an image (or a document's page) over --max-pixels, in the same words for every format."""
    dims = f"{size[0]}x{size[1]} = " if size else ""
    return ResizeError(f"image is {dims}{_mpx(pixels)}, over --max-pixels {_mpx(limit)}")


def _mpx(pixels: int) -> str:
    if pixels >= 10_000_000:
        return f"{pixels / 1e6:.0f} Mpx"
    if pixels >= 1_000_000:
        return f"{pixels / 1e6:.1f} Mpx"
    return f"{pixels} px"
