"""A PDF becomes a thumbnail of its first page, drawn at the thumbnail's size, or fails in words."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image, ImageStat

from core.imaging.resize import ResizeError, ResizeSpec, make_thumbnails
from core.sources import iter_entries
from tests.support.harness import output_files, run_batch, settings
from tests.support.loopback import LoopbackServer
from tests.support.pdfs import BLUE, RED, Page, pdf, picture


def thumbnail(data: bytes, out: Path, **spec: object) -> tuple[Image.Image, tuple[int, int]]:
    result = make_thumbnails(data, out, "page", ResizeSpec(**spec))  # type: ignore[arg-type]
    with Image.open(out / result.outputs[-1].path) as image:
        image.load()
    return image.convert("RGB"), (result.source_width, result.source_height)


def mean(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, ...]:
    return tuple(round(v) for v in ImageStat.Stat(image.crop(box)).mean)


def near(got: tuple[float, ...], want: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, want, strict=True))


def test_the_page_becomes_a_thumbnail_of_its_colours(tmp_path: Path) -> None:
    image, source = thumbnail(picture("#c81e28"), tmp_path, sizes=(128,))
    assert source == (400, 200)  # points at 72 dpi
    assert image.size == (128, 64)
    assert near(mean(image, (0, 0, 128, 64)), (200, 30, 40))


def test_the_page_is_rendered_at_the_thumbnail_size_not_at_72_dpi(tmp_path: Path) -> None:
    """A 200x100 pt page with a 1 pt black hairline: rendered straight at 800 px the line is 4 px wide and
    black; drawn at 72 dpi and enlarged it would be a blurred grey smear."""
    line = RED.replace(b"1 0 0", b"0 0 0") + b" 100 0 1 100 re f"
    image, source = thumbnail(pdf(Page(content=line)), tmp_path, sizes=(800,), upscale=True)
    assert source == (200, 100) and image.size == (800, 400)
    row = [image.getpixel((x, 200))[0] for x in range(390, 415)]
    assert sum(v < 40 for v in row) == 4, row


def test_paper_is_white(tmp_path: Path) -> None:
    """Where nothing is drawn the page is white, as every viewer shows it, and the thumbnail opaque (JPEG)."""
    left_half = RED + b" 0 0 100 100 re f"
    result = make_thumbnails(pdf(Page(content=left_half)), tmp_path, "page", ResizeSpec(sizes=(200,)))
    assert result.outputs[0].path.endswith(".jpg")
    with Image.open(tmp_path / result.outputs[0].path) as image:
        assert near(mean(image, (0, 0, 90, 100)), (255, 0, 0))
        assert near(mean(image, (110, 0, 200, 100)), (255, 255, 255))


def test_several_pages_give_the_first(tmp_path: Path) -> None:
    image, _ = thumbnail(picture("red", "blue", "lime"), tmp_path)
    assert near(mean(image, (0, 0, *image.size)), (255, 0, 0))


def test_a_rotated_page_is_shown_turned(tmp_path: Path) -> None:
    """/Rotate 90 turns a 200x100 landscape page clockwise: portrait, and its left half (red) on top."""
    left_half = RED + b" 0 0 100 100 re f " + BLUE + b" 100 0 100 100 re f"
    image, source = thumbnail(pdf(Page(content=left_half, extra=b"/Rotate 90")), tmp_path, sizes=(100,))
    assert source == (100, 200) and image.size == (50, 100)
    assert near(mean(image, (5, 5, 45, 45)), (255, 0, 0)) and near(mean(image, (5, 55, 45, 95)), (0, 0, 255))


def test_the_crop_box_is_what_is_shown(tmp_path: Path) -> None:
    """Viewers show the crop box, not the media box: a 400x400 sheet cropped to its red 200x100 corner."""
    content = BLUE + b" 0 0 400 400 re f " + RED + b" 0 0 200 100 re f"
    image, source = thumbnail(pdf(Page(400, 400, content, b"/CropBox [0 0 200 100]")), tmp_path, sizes=(100,))
    assert source == (200, 100) and image.size == (100, 50)
    assert near(mean(image, (0, 0, 100, 50)), (255, 0, 0))


def test_a_200_inch_page_is_refused_from_its_size_without_rendering(tmp_path: Path) -> None:
    huge = picture("blue", size=(100, 100), resolution=0.5)  # 100 px at 0.5 dpi: 200 inches, 14400 pt
    started = time.monotonic()
    with pytest.raises(ResizeError) as caught:
        make_thumbnails(huge, tmp_path, "page", ResizeSpec())
    assert str(caught.value) == "image is 14400x14400 = 207 Mpx, over --max-pixels 100 Mpx"
    assert time.monotonic() - started < 2  # rendering 207 Mpx would take far longer and 830 MB
    assert list(tmp_path.iterdir()) == []


def test_the_page_size_limit_is_exact(tmp_path: Path) -> None:
    page = pdf(Page(100, 100, RED + b" 0 0 100 100 re f"))
    thumbnail(page, tmp_path, max_pixels=10_000)
    with pytest.raises(ResizeError, match=r"^image is 100x100 = 10000 px, over --max-pixels 9999 px$"):
        make_thumbnails(page, tmp_path, "page", ResizeSpec(max_pixels=9_999))


def test_an_encrypted_pdf_fails_in_words(tmp_path: Path) -> None:
    locked = pdf(Page(), password="secret")
    with pypdfium2.PdfDocument(locked, password="secret") as document:  # a real encrypted PDF: the password opens it
        assert len(document) == 1
    with pytest.raises(ResizeError) as caught:
        make_thumbnails(locked, tmp_path, "page", ResizeSpec())
    assert str(caught.value) == "encrypted PDF (needs a password): cannot be thumbnailed"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (picture("red")[:600], "damaged PDF: its structure cannot be read (truncated or corrupt)"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 8, "damaged PDF: its structure cannot be read (truncated or corrupt)"),
        (pdf(), "PDF has no pages"),
    ],
    ids=["truncated", "garbage", "no-pages"],
)
def test_a_broken_pdf_fails_in_words(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(ResizeError) as caught:
        make_thumbnails(data, tmp_path, "page", ResizeSpec())
    assert str(caught.value) == words


def test_a_pdf_in_a_folder_and_one_from_the_web_become_thumbnails(
    qapp, http_server: LoopbackServer, tmp_path: Path
) -> None:
    """A real batch: the folder walk finds the PDF by its content, the download lets it through (served as
    an octet stream), and each thumbnail shows its first page."""
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "invoice.pdf").write_bytes(picture("blue", "red"))
    (folder / "notes.txt").write_text("not an image")
    url = http_server.add("/paper", picture("lime"), {"Content-Type": "application/octet-stream"})
    entries = [*iter_entries([str(folder)]), *iter_entries([url])]
    batch = run_batch(settings(tmp_path / "out"), entries)
    assert [row["source"] for row in batch.items] == [str(folder / "invoice.pdf"), url]
    for row, colour in zip(batch.items, [(0, 0, 255), (0, 255, 0)], strict=True):
        assert row["status"] == "done", row["error"]
        assert (row["source_width"], row["source_height"]) == (400, 200)
        (path,) = output_files(batch, row)
        with Image.open(path) as image:
            assert near(mean(image.convert("RGB"), (0, 0, *image.size)), colour)


_RACE = """
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from core.imaging.resize import ResizeSpec, make_thumbnails
from tests.support.pdfs import RED, Page, pdf

dots = b" ".join(f"{i * 7 % 200} {i * 13 % 100} 3 3 re".encode() for i in range(3000))
words = b"BT /F1 12 Tf 10 50 Td (Hello from several threads) Tj ET"
font = b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
data = pdf(Page(content=RED + b" " + dots + b" f " + words, extra=font))
out = Path(sys.argv[1])

def render(i: int) -> int:
    return make_thumbnails(data, out / str(i), "page", ResizeSpec(sizes=(1024,), upscale=True)).outputs[0].bytes

with ThreadPoolExecutor(8) as pool:
    print(len(set(pool.map(render, range(64)))))
"""


def test_pages_render_in_several_threads_at_once(tmp_path: Path) -> None:
    """PDFium is not thread-safe and a Dask worker renders in several threads: 64 pages of paths and text in 8
    threads come out the same. Without the module's lock this process dies (double free, SIGSEGV) nearly every
    time, so it runs in a child process, where a crash fails the test instead of ending pytest."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _RACE, str(tmp_path)], cwd=root, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert done.stdout.decode().split() == ["1"]  # one size: every thumbnail identical
