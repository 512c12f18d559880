"""HEIC/HEIF: files made here by pillow-heif (a test-only dependency: it can encode) and read by the resizer
through pi-heif-decoder (decode only), from a URL and from a folder, upright, and refused in words when hostile."""

import io
import json
import re
import struct
import time
from pathlib import Path

import pi_heif
import pillow_heif
import pytest
from PIL import Image

from core.download.fetch import sniff_image
from core.imaging.resize import ResizeError, ResizeSpec, make_thumbnails
from tests.core.test_resize import assert_quadrants, close, quadrants
from tests.support.command import thumbnailer

_ORIENTATION = 0x0112


def heic(im: Image.Image, exif_orientation: int | None = None) -> bytes:
    """`im` as a HEIC, lossless enough for colour checks; with an EXIF orientation, pillow-heif stores the
    rotation as the irot/imir transform and keeps the EXIF tag too, as an iPhone does."""
    params: dict[str, object] = {"quality": -1}  # -1: lossless
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[_ORIENTATION] = exif_orientation
        params["exif"] = exif.tobytes()
    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, **params)
    return buf.getvalue()


def claiming_100000x100000() -> bytes:
    """A real 64x64 HEIC (no clap box at that size, so the ispe box is the image's size) claiming 100000x100000."""
    data = bytearray(heic(quadrants(64, 64)))
    (ispe,) = [m.start() for m in re.finditer(b"ispe", data)]
    struct.pack_into(">II", data, ispe + 8, 100_000, 100_000)  # after the box's version and flags
    return bytes(data)


def test_the_shipped_decoder_has_no_encoder() -> None:
    """pi-heif-decoder brings libheif and libde265 only: no x265 (GPL), whose encoder pillow-heif reports."""
    assert "x265" in pillow_heif.libheif_info()["encoders"]
    assert set(pi_heif.libheif_info()["encoders"]) <= {"mask"}


def test_an_iphone_photo_from_a_url_and_a_folder_becomes_an_upright_thumbnail(http_server, tmp_path: Path) -> None:
    """Stored sideways with a 90-degree irot and EXIF orientation 6 (both, like an iPhone): turned once."""
    data = heic(quadrants(120, 80), exif_orientation=6)
    assert b"irot" in data and b"Exif" in data
    url = http_server.add("/IMG_0001.HEIC", data, {"Content-Type": "image/heic"})
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "IMG_0002.heic").write_bytes(data)
    (folder / "huge.heic").write_bytes(claiming_100000x100000())
    out, report = tmp_path / "out", tmp_path / "r.json"

    result = thumbnailer(url, str(folder), "-o", str(out), "--report", str(report), "-s", "60")
    assert result.returncode == 1, result.stderr

    items = json.loads(report.read_text())["items"]
    (huge,) = [i for i in items if i["source"].endswith("huge.heic")]
    assert huge["status"] == "failed" and "100000x100000 = 10000 Mpx, over --max-pixels 100 Mpx" in huge["error"]
    items.remove(huge)
    assert len(items) == 2 and {i["status"] for i in items} == {"done"}
    upright = quadrants(120, 80).transpose(Image.Transpose.ROTATE_270)  # what orientation 6 shows
    for item in items:
        assert (item["source_width"], item["source_height"]) == (80, 120)
        (output,) = item["outputs"]
        with Image.open(output["path"]) as im:
            assert im.size == (40, 60)
            for fx, fy in ((1, 1), (3, 1), (1, 3), (3, 3)):
                expected = upright.getpixel((fx * 80 // 4, fy * 120 // 4))
                assert close(im.convert("RGB").getpixel((fx * 40 // 4, fy * 60 // 4)), expected, 40)


def test_a_file_of_several_images_gives_its_primary_image(tmp_path: Path) -> None:
    heif = pillow_heif.from_pillow(Image.new("RGB", (64, 64), (255, 0, 0)))
    heif.add_from_pillow(quadrants(96, 64))
    buf = io.BytesIO()
    heif.save(buf, quality=-1, primary_index=1)  # the second image is the one to show, not the first

    result = make_thumbnails(buf.getvalue(), tmp_path, "t", ResizeSpec(sizes=(48,)))

    assert (result.source_width, result.source_height) == (96, 64)
    with Image.open(tmp_path / result.outputs[0].path) as im:
        assert_quadrants(im)


def test_transparency_is_kept_like_a_pngs(tmp_path: Path) -> None:
    im = quadrants(64, 64).convert("RGBA")
    im.paste((0, 0, 0, 0), (0, 0, 32, 32))

    result = make_thumbnails(heic(im), tmp_path, "t", ResizeSpec(sizes=(32,)))

    with Image.open(tmp_path / result.outputs[0].path) as thumb:
        assert thumb.format == "PNG" and thumb.mode == "RGBA"
        assert thumb.getpixel((4, 4))[3] == 0
        assert close(thumb.getpixel((28, 4)), (0, 255, 0, 255), 40)


def test_the_download_sniffer_takes_heic() -> None:
    assert sniff_image(heic(quadrants(32, 32))[:64]) == "heif"


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_heic_fails_in_words(tmp_path: Path, keep: float) -> None:
    data = heic(quadrants(64, 64))
    with pytest.raises(ResizeError, match=r"^truncated or corrupt HEIF"):
        make_thumbnails(data[: int(len(data) * keep)], tmp_path, "t", ResizeSpec())
    assert not list(tmp_path.iterdir())


def test_a_header_claiming_100000x100000_is_refused_before_decoding(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ResizeError, match=r"^image is 100000x100000 = 10000 Mpx, over --max-pixels 100 Mpx$"):
        make_thumbnails(claiming_100000x100000(), tmp_path, "t", ResizeSpec(max_pixels=100_000_000))
    assert time.monotonic() - start < 1


def test_over_libheifs_own_limit_it_fails_in_words(tmp_path: Path) -> None:
    """With --max-pixels above libheif's limit (1 Gpx), libheif refuses while decoding, and says so."""
    with pytest.raises(ResizeError, match=r"^cannot decode this HEIF: .*Security limit exceeded"):
        make_thumbnails(claiming_100000x100000(), tmp_path, "t", ResizeSpec(max_pixels=100_000 * 100_000))
