"""PNGs decoded by Wuffs give the pixels of Pillow's path (exactly, or within a level in partly transparent
colour, which Wuffs premultiplies), and every kind it does not cover is left to Pillow, which keeps its EXIF
orientation and its error messages."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from core.imaging import png_wuffs
from core.imaging.resize import ResizeError, ResizeSpec, make_thumbnails
from tests.core.pngs import chunk, interlaced_rgb, noise, same_thumbnails_both_ways

if png_wuffs.pywuffs is None:  # the fast-png extra did not build here; CI needs it, so there this is an error
    if os.environ.get("THUMBNAILER_NEED_FAST_PNG"):
        pytest.fail("pywuffs is not installed (the fast-png extra), and THUMBNAILER_NEED_FAST_PNG is set", False)
    pytest.skip("pywuffs is not installed (the fast-png extra)", allow_module_level=True)

import numpy as np  # the fast-png extra brings numpy: only past the skip is it sure to be there

SIZE = (301, 203)


def _palette(colours: int) -> Image.Image:
    return noise("RGB", SIZE).quantize(colours)


# name -> (write the file, the mode Pillow's path ends in for it: RGBa is premultiplied)
KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "RGBA": (lambda p: noise("RGBA", SIZE).save(p), "RGBa"),
    "RGB": (lambda p: noise("RGB", SIZE).save(p), "RGB"),
    "grey": (lambda p: noise("L", SIZE).save(p), "L"),
    "grey+alpha": (lambda p: noise("LA", SIZE).save(p), "RGBa"),
    "palette": (lambda p: _palette(64).save(p), "RGB"),
    "palette+tRNS": (lambda p: _palette(64).save(p, transparency=3), "RGBa"),
    "1-bit palette": (lambda p: _palette(2).save(p, bits=1), "RGB"),
    "many IDAT chunks": (lambda p: noise("RGBA", (900, 700)).save(p), "RGBa"),
    "Adam7 interlaced": (lambda p: p.write_bytes(interlaced_rgb(noise("RGB", (37, 29)))), "RGB"),
}


def _pillows(path: Path, mode: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGBA").convert("RGBa") if mode == "RGBa" else im.convert(mode)


def assert_premultiplied_alike(mine: Image.Image, pillows: Image.Image) -> None:
    """Alpha, and the colour of opaque and fully transparent pixels, exactly; partly transparent colour within
    one level (Wuffs truncates where Pillow rounds)."""
    a, b = np.asarray(mine, dtype=np.int16), np.asarray(pillows, dtype=np.int16)
    assert (a[..., 3] == b[..., 3]).all()
    solid = (b[..., 3] == 0) | (b[..., 3] == 255)
    assert (a[solid] == b[solid]).all()
    assert np.abs(a - b).max() <= 1


@pytest.mark.parametrize("kind", list(KINDS))
def test_pixels_are_pillows_own(tmp_path: Path, kind: str) -> None:
    write, mode = KINDS[kind]
    path = tmp_path / "a.png"
    write(path)
    with Image.open(path) as im:
        mine = png_wuffs.decoded(im, path.read_bytes())
    assert mine is not None, f"Wuffs declined a plain {kind} PNG"
    pillows = _pillows(path, mode)
    assert (mine.mode, mine.size) == (pillows.mode, pillows.size)
    if mode == "RGBa":
        assert_premultiplied_alike(mine, pillows)
    else:
        assert mine.tobytes() == pillows.tobytes()


def _with_chunk_after_image_data(path: Path, kind: bytes, body: bytes) -> None:
    noise("RGB", (64, 48)).save(path)
    data = path.read_bytes()
    iend = data.rindex(b"IEND") - 4
    path.write_bytes(data[:iend] + chunk(kind, body) + data[iend:])


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _raw_profile_exif(exif: Image.Exif) -> PngInfo:
    """EXIF as ImageMagick writes it into PNG text: a header line, a length, then hex."""
    info = PngInfo()
    data = exif.tobytes()
    info.add_text("Raw profile type exif", f"\nexif\n{len(data)}\n{data.hex()}\n")
    return info


DECLINED: dict[str, Callable[[Path], None]] = {
    "16-bit grey": lambda p: noise("I;16", SIZE).save(p),
    "RGB colour key (tRNS)": lambda p: noise("RGB", SIZE).save(p, transparency=(10, 20, 30)),
    "grey colour key (tRNS)": lambda p: noise("L", SIZE).save(p, transparency=7),
    "animated (APNG)": lambda p: noise("RGB", (40, 30)).save(p, save_all=True, append_images=[noise("L", (40, 30))]),
    "EXIF (eXIf)": lambda p: noise("RGB", SIZE).save(p, exif=_exif(6)),
    "EXIF (raw profile text)": lambda p: noise("RGB", SIZE).save(p, pnginfo=_raw_profile_exif(_exif(6))),
    "text after the image data": lambda p: _with_chunk_after_image_data(p, b"tEXt", b"Comment\x00late"),
}


@pytest.mark.parametrize("kind", list(DECLINED))
def test_kinds_it_does_not_cover_are_left_to_pillow(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "a.png"
    DECLINED[kind](path)
    with Image.open(path) as im:
        assert png_wuffs.decoded(im, path.read_bytes()) is None


def test_exif_orientation_of_a_png_still_turns_the_thumbnail(tmp_path: Path) -> None:
    src = tmp_path / "sideways.png"
    noise("RGB", (300, 200)).save(src, exif=_exif(6))  # stored landscape, shown portrait
    result = make_thumbnails(src, tmp_path / "out", "sideways", ResizeSpec(sizes=(64,)))
    with Image.open(tmp_path / "out" / result.outputs[0].path) as thumb:
        assert thumb.size == (43, 64)


def test_damaged_data_is_left_to_pillow_which_says_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    noise("RGB", (200, 150)).save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    # Stored (uncompressed) data with a few bytes changed: still well-formed, so only the zlib checksum, which
    # Wuffs skips by default, tells.
    noise("RGB", (200, 150)).save(good, compress_level=0)
    data = good.read_bytes()
    pixel = data.index(b"IDAT") + 4 + 2 + 5 + 1000  # type, zlib header, stored-block header, well inside
    changed = tmp_path / "changed.png"
    changed.write_bytes(data[:pixel] + bytes(b ^ 0x5A for b in data[pixel : pixel + 8]) + data[pixel + 8 :])
    for path in (cut, changed):
        with Image.open(path) as im:
            assert png_wuffs.decoded(im, path.read_bytes()) is None, path.name
        with pytest.raises(ResizeError, match=r"^truncated or corrupt PNG"):
            make_thumbnails(path, tmp_path / "out", path.stem, ResizeSpec())


def test_opaque_rgba_thumbnails_are_the_same_bytes_and_made_through_wuffs(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "photo.png"
    im = noise("RGBA", (1200, 900))
    im.putalpha(255)
    im.save(src)
    result = same_thumbnails_both_ways(monkeypatch, png_wuffs, "decoded", src)
    assert {Path(o.path).suffix for o in result.outputs} == {".jpg"}


def test_cut_out_thumbnails_look_the_same_made_through_wuffs(tmp_path: Path, monkeypatch) -> None:
    """Seen over any background, no pixel of the thumbnail is more than a few levels off Pillow's, and on average
    a fraction of a level (Wuffs' truncating premultiply darkens partly transparent colour by about 0.2 levels
    where, as here, most of the image is partly transparent)."""
    src = tmp_path / "cut-out.png"
    im = noise("RGBA", (1200, 900))
    im.putalpha(Image.radial_gradient("L").resize(im.size))
    im.save(src)
    spec = ResizeSpec(sizes=(64, 256))
    fast = make_thumbnails(src, tmp_path / "fast", "c", spec)
    monkeypatch.setattr(png_wuffs, "decoded", lambda _im, _data: None)
    slow = make_thumbnails(src, tmp_path / "slow", "c", spec)
    assert [(o.path, o.width, o.height) for o in fast.outputs] == [(o.path, o.width, o.height) for o in slow.outputs]
    assert {Path(o.path).suffix for o in fast.outputs} == {".png"}
    for out in fast.outputs:
        with Image.open(tmp_path / "fast" / out.path) as a, Image.open(tmp_path / "slow" / out.path) as b:
            mine, pillows = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert (mine[..., 3] == pillows[..., 3]).all()
        for background in (0, 255):  # composited: what a viewer shows
            over = [p[..., :3] * p[..., 3:] / 255 + background * (1 - p[..., 3:] / 255) for p in (mine, pillows)]
            assert np.abs(over[0] - over[1]).max() <= 4  # measured up to 2.9 on random images
            assert abs((over[0] - over[1]).mean()) < 0.4


def test_threads_decoding_at_once_each_get_their_own_pixels(tmp_path: Path) -> None:
    """Dask workers run several tasks in threads of one process."""
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        noise("RGBA", (200 + 40 * i, 150)).save(path)
        paths.append(path)

    def decode(path: Path) -> bytes:
        with Image.open(path) as im:
            decoded = png_wuffs.decoded(im, path.read_bytes())
        assert decoded is not None
        return decoded.tobytes()

    alone = [decode(path) for path in paths]
    with ThreadPoolExecutor(6) as pool:
        results = [list(pool.map(decode, paths)) for _ in range(5)]
    for path, expected, *got in zip(paths, alone, *results, strict=True):
        assert set(got) == {expected}, path.name
