"""JPEG XL: files made here by pillow-jxl-plugin (it encodes too) and read by the resizer, from a URL and from a
folder; the header's size checked against --max-pixels before libjxl decodes a pixel."""

import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from core.download.fetch import sniff_image
from core.imaging.resize import ResizeError, ResizeSpec, make_thumbnails
from tests.core.test_resize import assert_quadrants, quadrants
from tests.support.command import thumbnailer

_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\x00\x00\x00\x14ftypjxl \x00\x00\x00\x00jxl "


def jxl(im: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JXL", **({"lossless": True, "effort": 1} | params))
    return buf.getvalue()


def codestream_claiming(width: int, height: int) -> bytes:
    """A JPEG XL codestream whose SizeHeader claims width x height (not small, no ratio), then zeros."""
    value, pos = 0, 1  # bit 0: not "small"
    for side in (height, None, width):
        if side is None:  # between the two sides: the ratio, 0 = the width is stored
            pos += 3
            continue
        selector = next(i for i, bits in enumerate((9, 13, 18, 30)) if side - 1 < 1 << bits)
        value |= selector << pos | (side - 1) << (pos + 2)
        pos += 2 + (9, 13, 18, 30)[selector]
    return b"\xff\x0a" + value.to_bytes(8, "little") + bytes(64)


def test_a_jxl_from_a_url_and_a_folder_becomes_a_thumbnail(http_server, tmp_path: Path) -> None:
    url = http_server.add("/photo.jxl", jxl(quadrants(120, 80)), {"Content-Type": "image/jxl"})
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "in-a-container.jxl").write_bytes(jxl(quadrants(120, 80), use_container=True))
    (folder / "huge.jxl").write_bytes(codestream_claiming(100_000, 100_000))
    out, report = tmp_path / "out", tmp_path / "r.json"

    result = thumbnailer(url, str(folder), "-o", str(out), "--report", str(report), "-s", "60")
    assert result.returncode == 1, result.stderr

    items = json.loads(report.read_text())["items"]
    (huge,) = [i for i in items if i["source"].endswith("huge.jxl")]
    assert huge["status"] == "failed" and huge["error"].endswith("10000 Mpx, over --max-pixels 100 Mpx")
    items.remove(huge)
    assert len(items) == 2 and {i["status"] for i in items} == {"done"}
    for item in items:
        assert (item["source_width"], item["source_height"]) == (120, 80)
        (output,) = item["outputs"]
        with Image.open(output["path"]) as im:
            assert im.size == (60, 40)
            assert_quadrants(im)


def test_a_recompressed_jpeg_keeps_its_exif_orientation(tmp_path: Path) -> None:
    """A JPEG XL made losslessly from a JPEG decodes back to that JPEG, stored sideways with EXIF orientation 6."""
    exif = Image.Exif()
    exif[0x0112] = 6
    quadrants(120, 80).save(tmp_path / "sideways.jpg", quality=95, exif=exif.tobytes())
    with Image.open(tmp_path / "sideways.jpg") as im:
        data = jxl(im, lossless_jpeg=True)

    result = make_thumbnails(data, tmp_path / "out", "t", ResizeSpec(sizes=(60,)))

    assert (result.source_width, result.source_height) == (80, 120)
    with Image.open(tmp_path / "out" / result.outputs[0].path) as thumb:
        assert_quadrants(thumb.transpose(Image.Transpose.ROTATE_90))  # turned back, it is the card as stored


def test_transparency_is_kept_like_a_pngs(tmp_path: Path) -> None:
    im = quadrants(64, 64).convert("RGBA")
    im.paste((0, 0, 0, 0), (0, 0, 32, 32))

    result = make_thumbnails(jxl(im), tmp_path, "t", ResizeSpec(sizes=(32,)))

    with Image.open(tmp_path / result.outputs[0].path) as thumb:
        assert thumb.format == "PNG" and thumb.getpixel((4, 4))[3] == 0 and thumb.getpixel((28, 4)) == (0, 255, 0, 255)


@pytest.mark.parametrize("container", [False, True])
def test_the_download_sniffer_takes_jxl(container: bool) -> None:
    assert sniff_image(jxl(quadrants(32, 32), use_container=container)[:64]) == "jxl"


@pytest.mark.parametrize("size", [(1, 3), (8, 8), (333, 77), (40, 30), (1920, 1080), (77, 1000), (2049, 7)])
def test_the_header_size_is_what_max_pixels_is_checked_against(tmp_path: Path, size: tuple[int, int]) -> None:
    """Sizes the SizeHeader stores every way (small multiples of 8, an aspect ratio, each field width): a file of
    exactly --max-pixels is read, one pixel fewer allowed is refused, before decoding."""
    data = jxl(Image.new("RGB", size, (0, 128, 255)))
    pixels = size[0] * size[1]

    result = make_thumbnails(data, tmp_path, "t", ResizeSpec(max_pixels=pixels))

    assert (result.source_width, result.source_height) == size
    with pytest.raises(ResizeError, match=r"over --max-pixels"):
        make_thumbnails(data, tmp_path, "t", ResizeSpec(max_pixels=pixels - 1))


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_jxl_fails_in_words(tmp_path: Path, keep: float) -> None:
    data = jxl(quadrants(120, 80), effort=7)
    with pytest.raises(ResizeError, match=r"^truncated or corrupt JPEG XL"):
        make_thumbnails(data[: int(len(data) * keep)], tmp_path, "t", ResizeSpec())
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("container", [False, True])
def test_a_header_claiming_100000x100000_is_refused_before_decoding(tmp_path: Path, container: bool) -> None:
    stream = codestream_claiming(100_000, 100_000)
    data = _CONTAINER + (8 + len(stream)).to_bytes(4, "big") + b"jxlc" + stream if container else stream

    start = time.monotonic()
    with pytest.raises(ResizeError, match=r"^image is 10000 Mpx, over --max-pixels 100 Mpx$"):
        make_thumbnails(data, tmp_path, "t", ResizeSpec(max_pixels=100_000_000))
    assert time.monotonic() - start < 1
