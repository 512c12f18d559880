"""Broken, odd and hostile files, each given twice in one batch: as a local file and downloaded from the web.

Every file either becomes a correct thumbnail or fails with words that say what it is; a decompression bomb is
refused from its header before any pixel is decoded; the rest of the batch is unharmed.
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from PIL import Image, ImageOps, ImageStat

from tests.support import images, pdfs
from tests.support.harness import Batch, entries_of, list_file, output_files, run_batch, settings, stray_files
from tests.support.loopback import LOGIN_PAGE, SVG_IMAGE, LoopbackServer

Check = Callable[[Image.Image, dict], None]


@dataclass(frozen=True)
class FileCase:
    data: bytes
    status: str
    says: tuple[str, ...] = ()
    check: Check | None = None
    warns: str | None = None  # words in a done item's warning


def _size(width: int, height: int) -> Check:
    def check(thumb: Image.Image, row: dict) -> None:
        assert thumb.size == (width, height)

    return check


def _colour_near(rgb: tuple[int, int, int], tolerance: int = 40) -> Check:
    def check(thumb: Image.Image, row: dict) -> None:
        got = thumb.convert("RGB").getpixel((thumb.width // 2, thumb.height // 2))
        assert all(abs(a - b) <= tolerance for a, b in zip(got, rgb, strict=True)), got

    return check


def _transparent_left_half(thumb: Image.Image, row: dict) -> None:
    assert thumb.format == "PNG" and thumb.mode == "RGBA"
    assert thumb.getpixel((2, thumb.height // 2))[3] == 0 and thumb.getpixel((thumb.width - 3, 2))[3] == 255


def _upright_like(source: bytes) -> Check:
    """The thumbnail shows the image the way a viewer does: EXIF orientation applied."""
    with Image.open(io.BytesIO(source)) as im:
        expected = ImageOps.exif_transpose(im).convert("L")

    def dark_quadrant(image: Image.Image) -> int:
        w, h = image.size
        boxes = [(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)]
        means = [ImageStat.Stat(image.crop(b)).mean[0] for b in boxes]
        return means.index(min(means))

    def check(thumb: Image.Image, row: dict) -> None:
        assert thumb.size == expected.size
        assert (row["source_width"], row["source_height"]) == expected.size
        assert dark_quadrant(thumb.convert("L")) == dark_quadrant(expected)

    return check


def _noise(fmt: str, **options: object) -> bytes:
    return images.encode(Image.effect_noise((300, 200), 80).convert("RGB"), fmt, **options)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", b"not really")
    return out.getvalue()


def _cmyk_with_profile() -> bytes | None:
    if not images.CMYK_PROFILE.is_file():
        return None
    icc = images.CMYK_PROFILE.read_bytes()
    return images.encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG", quality=95, icc_profile=icc)


def file_cases() -> dict[str, FileCase]:
    red = (255, 0, 0)
    cases = {
        "empty.jpg": FileCase(b"", "failed", ("empty",)),
        # Cut short inside their image data: what decoded becomes the thumbnail, with a warning.
        "truncated.jpg": FileCase(images.truncated(_noise("JPEG")), "done", (), _size(256, 171), "truncated: about"),
        "truncated.png": FileCase(images.truncated(_noise("PNG")), "done", (), _size(256, 171), "truncated: about"),
        "truncated.gif": FileCase(images.truncated(_noise("GIF")), "done", (), _size(256, 171), "truncated: about"),
        "scan-header-only.jpg": FileCase(images.cut_before_scan_data(_noise("JPEG")), "failed", ("truncated",)),
        "truncated.webp": FileCase(images.truncated(_noise("WEBP")), "failed", ("truncated or corrupt WebP",)),
        "header-only.png": FileCase(_noise("PNG")[:40], "failed", ("truncated or corrupt PNG",)),
        "login.jpg": FileCase(LOGIN_PAGE, "failed", ("HTML, not an image",)),
        "notes.jpg": FileCase(b"Access denied\n", "failed", ("text, not an image",)),
        "error.jpg": FileCase(b'{"error": "rate limited"}', "failed", ("JSON, not an image",)),
        "vector.svg": FileCase(SVG_IMAGE, "done", (), _colour_near(red, 10)),
        "vector.svgz": FileCase(gzip.compress(SVG_IMAGE), "done", (), _size(64, 48)),
        "broken.svg": FileCase(SVG_IMAGE[:60], "failed", ("damaged SVG",)),
        "document.pdf": FileCase(pdfs.picture("red", "blue"), "done", (), _colour_near(red, 10)),  # page 1
        "truncated.pdf": FileCase(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "failed", ("damaged PDF",)),
        "locked.pdf": FileCase(
            pdfs.pdf(pdfs.Page(), password="secret"), "failed", ("encrypted PDF (needs a password)",)
        ),
        "200-inch.pdf": FileCase(
            pdfs.picture("red", size=(100, 100), resolution=0.5),
            "failed",
            ("image is 14400x14400 = 207 Mpx, over --max-pixels 100 Mpx",),
        ),
        "drawing.eps": FileCase(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "failed", ("PostScript",)),
        "phone.heic": FileCase(
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "failed", ("truncated or corrupt HEIF",)
        ),
        "archive.jpg": FileCase(_zip(), "failed", ("not an image (ZIP archive)",)),
        "random.jpg": FileCase(random.Random(5).randbytes(4096), "failed", ("not an image",)),
        "bomb.png": FileCase(
            images.png_bomb(100_000, 100_000), "failed", ("100000x100000 = 10000 Mpx, over --max-pixels 100 Mpx",)
        ),
        "bomb.gif": FileCase(images.gif_bomb(), "failed", ("over --max-pixels 100 Mpx",)),
        "bomb.jpg": FileCase(images.jpeg_bomb(), "failed", ("65500x65500", "over --max-pixels 100 Mpx")),
        "one-pixel.png": FileCase(images.encode(Image.new("RGB", (1, 1), red), "PNG"), "done", (), _size(1, 1)),
        "wide.png": FileCase(images.encode(Image.new("L", (10_000, 1), 90), "PNG"), "done", (), _size(256, 1)),
        "tall.png": FileCase(images.encode(Image.new("L", (1, 10_000), 90), "PNG"), "done", (), _size(1, 256)),
        "hair.png": FileCase(images.encode(Image.new("L", (60_000, 2), 90), "PNG"), "done", (), _size(256, 1)),
        "cmyk.jpg": FileCase(
            images.encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG", quality=95),
            "done",
            (),
            _colour_near(red, 60),
        ),
        "grey16.png": FileCase(
            images.encode(Image.new("I;16", (40, 30), 32768), "PNG"), "done", (), _colour_near((128, 128, 128), 3)
        ),
        "grey16.tif": FileCase(
            images.encode(Image.new("I;16", (40, 30), 65535), "TIFF"), "done", (), _colour_near((255, 255, 255), 3)
        ),
        "rgb48.png": FileCase(images.png_48_bit(), "done", (), _colour_near((255, 128, 0), 3)),
        "palette-alpha.png": FileCase(images.palette_with_transparency("PNG"), "done", (), _transparent_left_half),
        "palette-alpha.gif": FileCase(images.palette_with_transparency("GIF"), "done", (), _transparent_left_half),
        "animated.gif": FileCase(images.animated("GIF"), "done", (), _colour_near(red, 10)),
        "animated.webp": FileCase(images.animated("WEBP"), "done", (), _colour_near(red, 30)),
        "animated.png": FileCase(images.animated("PNG"), "done", (), _colour_near(red, 10)),
        "pages.tif": FileCase(images.multipage_tiff(), "done", (), _colour_near(red, 10)),
        "broken-exif.jpg": FileCase(_broken_exif(), "done", (), _size(64, 48)),
    }
    for orientation in range(1, 9):
        data = images.with_orientation(orientation)
        cases[f"orientation-{orientation}.jpg"] = FileCase(data, "done", (), _upright_like(data))
    for fmt, ext, mode in [
        ("TGA", "tga", "RGB"),
        ("PCX", "pcx", "RGB"),
        ("SGI", "sgi", "RGB"),
        ("DDS", "dds", "RGBA"),
        ("BLP", "blp", "P"),
        ("MSP", "msp", "1"),
        ("XBM", "xbm", "1"),
        ("QOI", "qoi", "RGB"),
        ("ICO", "ico", "RGBA"),
    ]:
        options = {"sizes": [(64, 48)]} if fmt == "ICO" else {}
        data = images.encode(images.marked(64, 48, mode), fmt, **options)
        cases[f"format.{ext}"] = FileCase(data, "done", (), _size(64, 48))
    profiled = _cmyk_with_profile()
    if profiled is not None:
        cases["cmyk-profile.jpg"] = FileCase(profiled, "done", (), _colour_near(red, 60))
    return cases


def _broken_exif() -> bytes:
    """A JPEG whose EXIF block is garbage: the orientation is unknown, the image is still fine."""
    data = images.encode(Image.new("RGB", (64, 48), "red"), "JPEG")
    app1 = b"Exif\0\0MM\0*\0\0\0\x08\xff\xff" + bytes(20)
    return data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]


CASE_NAMES = list(dict.fromkeys([*file_cases(), "cmyk-profile.jpg"]))  # listed even where it cannot be made


@pytest.fixture(scope="module")
def file_batch(qapp, module_server: LoopbackServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(batch, cases, {name: (local line, web line)}): every file, given both ways, in one batch."""
    folder = tmp_path_factory.mktemp("files")
    sources = folder / "sources"
    sources.mkdir()
    cases = file_cases()
    lines: dict[str, tuple[str, str]] = {}
    for name, case in cases.items():
        (sources / name).write_bytes(case.data)
        web = module_server.add(f"/files/{name}", case.data, {"Content-Type": "image/jpeg"})
        lines[name] = (str(sources / name), web)
    listing = list_file(folder, [line for pair in lines.values() for line in pair])
    batch = run_batch(settings(folder / "out"), entries_of(listing), timeout=60)
    yield batch, cases, lines


@pytest.mark.parametrize("how", ["local", "web"])
@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_file_becomes_a_thumbnail_or_fails_in_words(file_batch: tuple, name: str, how: str) -> None:
    batch, cases, lines = file_batch
    if name not in cases:
        pytest.skip(f"no CMYK ICC profile at {images.CMYK_PROFILE}")
    case: FileCase = cases[name]
    row = batch.item(lines[name][0 if how == "local" else 1])
    assert row["status"] == case.status, row["error"]
    for words in case.says:
        assert words in row["error"], row["error"]
    if case.warns is None:
        assert row["warning"] is None
    else:
        assert case.warns in row["warning"]
    if case.status == "done":
        (path,) = output_files(batch, row)
        with Image.open(path) as thumb:
            thumb.load()
            if case.check is not None:
                case.check(thumb, row)


def test_bombs_are_refused_from_the_header_at_once(file_batch: tuple) -> None:
    batch, _, lines = file_batch
    for name in ("bomb.png", "bomb.gif", "bomb.jpg", "200-inch.pdf"):
        for line in lines[name]:
            assert batch.item(line)["seconds"] < 2  # decoding 10,000 Mpx would take minutes and 30 GB


def test_the_batch_is_whole_and_clean(file_batch: tuple) -> None:
    batch, cases, _ = file_batch
    assert len(batch.items) == 2 * len(cases)
    assert batch.summary.done + batch.summary.failed == 2 * len(cases)
    assert stray_files(batch.out) == []


# --- --max-pixels: just under, at, and just over ------------------------------------------------------------


@pytest.fixture(scope="module")
def pixel_batch(qapp, tmp_path_factory: pytest.TempPathFactory) -> tuple[Batch, dict[str, str]]:
    folder = tmp_path_factory.mktemp("pixels")
    made = {
        "under.png": (99, 100, "PNG"),
        "at.png": (100, 100, "PNG"),
        "over.png": (101, 100, "PNG"),
        "twice.png": (200, 101, "PNG"),
        "over.jpg": (101, 100, "JPEG"),
        "thin.png": (10_000, 1, "PNG"),
        "thin-over.png": (1, 10_001, "PNG"),
    }
    lines = {}
    for name, (w, h, fmt) in made.items():
        path = folder / name
        Image.new("RGB", (w, h), "teal").save(path, fmt)
        lines[name] = str(path)
    listing = list_file(folder, lines.values())
    return run_batch(settings(folder / "out", max_pixels=10_000), entries_of(listing)), lines


@pytest.mark.parametrize(
    ("name", "status", "says"),
    [
        ("under.png", "done", ""),
        ("at.png", "done", ""),
        ("thin.png", "done", ""),
        ("over.png", "failed", "image is 101x100 = 10100 px, over --max-pixels 10000 px"),
        ("twice.png", "failed", "image is 200x101 = 20200 px, over --max-pixels 10000 px"),
        ("over.jpg", "failed", "image is 101x100 = 10100 px, over --max-pixels 10000 px"),
        ("thin-over.png", "failed", "image is 1x10001 = 10001 px, over --max-pixels 10000 px"),
    ],
)
def test_the_pixel_limit_is_exact_and_named(pixel_batch: tuple, name: str, status: str, says: str) -> None:
    batch, lines = pixel_batch
    row = batch.item(lines[name])
    assert row["status"] == status
    assert says in (row["error"] or "")
