"""Where `--fit cover` cuts when `--crop` is `attention` or `entropy`: the crop window's position in an image.

Pillow only (the packaged app has no numpy), on a copy reduced to at most `_WORK` pixels a side, so it costs a
few milliseconds whatever the image. The window only ever slides along one axis (cover crops the side that
overflows), so each strategy scores positions along that axis:

- `attention`, after libvips' strategy of that name: a saliency map of edges (FIND_EDGES on the luminance),
  saturated colour and skin-like hues, projected onto the overflow axis; the window with the largest sum wins,
  found with one cumulative sum over the projection.
- `entropy`: the window whose luminance histogram has the most entropy, among `_ENTROPY_STEPS` evenly spaced
  positions.

Ties (a flat image) go to the position nearest the centre, so an image with nothing to choose is cut as `centre`.
"""

from __future__ import annotations

import math

from PIL import Image, ImageChops, ImageFilter

from core.imaging.spec import Crop

_WORK = 256  # the reduced copy's longest side, at most
_ENTROPY_STEPS = 16
# The saliency map's mix of (edges, saturation, skin): edges dominate, colour breaks ties between textures.
_WEIGHTS = (0.5, 0.3, 0.4, 0.0)
_SKIN_HUE = 25  # of 255: red to orange, where every skin tone's hue lies
_SKIN_SATURATION = (40, 190)
_SKIN_VALUE = 60
_TIE = 1e-6

Box = tuple[int, int, int, int]


def crop_box(image: Image.Image, width: int, height: int, strategy: Crop) -> Box:
    """The `width` x `height` window of `image` (in its pixels) that `strategy` keeps: (left, top, right, bottom).

    The window must fit in the image; it slides along the axis where it is smaller than the image."""
    width, height = min(width, image.width), min(height, image.height)
    spare_x, spare_y = image.width - width, image.height - height
    if strategy == Crop.CENTRE or (spare_x <= 0 and spare_y <= 0):
        left, top = spare_x // 2, spare_y // 2
        return left, top, left + width, top + height
    factor = max(1, math.ceil(max(image.size) / _WORK))
    small = (image.reduce(factor) if factor > 1 else image).convert("RGB")
    horizontal = spare_x >= spare_y
    length = small.width if horizontal else small.height
    window = max(1, min(length, round((width if horizontal else height) / factor)))
    if strategy == Crop.ATTENTION:
        start = _best_sum(_projection(_saliency(small), horizontal), window)
    else:
        start = _best_entropy(small.convert("L"), window, horizontal)
    # Back to the image's pixels, as the same share of the spare room.
    share = start / (length - window) if length > window else 0.5
    left = round(spare_x * share) if horizontal else spare_x // 2
    top = spare_y // 2 if horizontal else round(spare_y * share)
    return left, top, left + width, top + height


def _saliency(rgb: Image.Image) -> Image.Image:
    """What draws the eye, 0-255 per pixel: edges, saturated colour and skin-like colour, mixed by `_WEIGHTS`."""
    edges = rgb.convert("L").filter(ImageFilter.FIND_EDGES)
    hue, saturation, value = rgb.convert("HSV").split()
    lo, hi = _SKIN_SATURATION
    skin = ImageChops.multiply(
        ImageChops.multiply(
            hue.point(lambda h: 255 if h <= _SKIN_HUE or h >= 255 - _SKIN_HUE // 3 else 0),
            saturation.point(lambda s: 255 if lo <= s <= hi else 0),
        ),
        value.point(lambda v: 255 if v >= _SKIN_VALUE else 0),
    )
    return Image.merge("RGB", (edges, saturation, skin)).convert("L", _WEIGHTS)


def _projection(saliency: Image.Image, horizontal: bool) -> list[float]:
    """The mean of each column (horizontal) or row of the map."""
    size = (saliency.width, 1) if horizontal else (1, saliency.height)
    means = saliency.convert("F").resize(size, Image.Resampling.BOX)
    return [_number(means.getpixel((i, 0) if horizontal else (0, i))) for i in range(max(size))]


def _number(pixel: object) -> float:
    """A mode F pixel as a float (Pillow types getpixel for every mode)."""
    assert isinstance(pixel, float)
    return pixel


def _best_sum(values: list[float], window: int) -> int:
    """The start of the `window` consecutive values with the largest sum."""
    cumulative = [0.0]
    for v in values:
        cumulative.append(cumulative[-1] + v)
    scores = [cumulative[i + window] - cumulative[i] for i in range(len(values) - window + 1)]
    return _nearest_centre_of_best(scores)


def _best_entropy(grey: Image.Image, window: int, horizontal: bool) -> int:
    """The start of the window with the most entropy, among `_ENTROPY_STEPS` + 1 evenly spaced starts."""
    spare = (grey.width if horizontal else grey.height) - window
    starts = sorted({round(spare * i / _ENTROPY_STEPS) for i in range(_ENTROPY_STEPS + 1)})
    scores = []
    for start in starts:
        box = (start, 0, start + window, grey.height) if horizontal else (0, start, grey.width, start + window)
        scores.append(grey.crop(box).entropy())
    best = _nearest_centre_of_best(scores)
    return starts[best]


def _nearest_centre_of_best(scores: list[float]) -> int:
    """The index of the highest score; of equal ones, the nearest the middle."""
    top = max(scores)
    middle = (len(scores) - 1) / 2
    return min((i for i, s in enumerate(scores) if s >= top - _TIE * max(1.0, abs(top))), key=lambda i: abs(i - middle))
