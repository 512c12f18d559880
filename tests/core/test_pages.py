"""Web pages as they are written today: lazy-loading attributes, <picture>, <base href>, style url(...), the
page's encoding, inline data: images; and a page given by its URL under --pages, read for its images one level
deep while the batch runs."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from core.batch.report import write_report
from core.batch.runner import Runner
from core.download.fetch import Downloader, FetchError
from core.download.limits import FetchLimits
from core.models import Entry, Progress, Summary
from core.settings import Settings
from core.sources import entries_from_html, entries_from_page, iter_entries
from tests.support.fetching import FAST, never
from tests.support.loopback import LoopbackServer


def png_bytes(color: str = "red", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
INLINE = data_url(png_bytes("blue"))

SHOP_PAGE = f"""<!DOCTYPE html>
<html><head><base href="/shop/"><title>Shoes</title></head><body>
<img src="{PLACEHOLDER}" data-src="lazy/one.jpg" alt="one">
<img src="blank.gif" data-srcset="two-400.jpg 400w, two-1200.jpg 1200w" alt="two">
<img class="lazyload" data-lazy-src="three.webp" src="{PLACEHOLDER}">
<img data-original="/cdn/four.png" src="{PLACEHOLDER}">
<picture>
  <source type="image/avif" srcset="five.avif 1x, five@2x.avif 2x">
  <source type="image/webp" srcset="five.webp">
  <img src="five.jpg" alt="five">
</picture>
<picture><img src="six.jpg"></picture>
<div class="hero" style="background-image: url('hero.jpg'); color: red"></div>
<span style='background: url("{INLINE}") no-repeat'></span>
<svg><rect style="filter: url(#blur)"/></svg>
<img src="{INLINE}" alt="an inline image on its own">
</body></html>
"""


# --- reading a page ---------------------------------------------------------------------------------


def test_a_page_as_shops_and_blogs_write_it() -> None:
    found = list(entries_from_html(SHOP_PAGE, base="https://pics.test/catalogue/page.html", file="page.html"))
    assert [e.url for e in found] == [
        "https://pics.test/shop/lazy/one.jpg",  # the lazy attribute, not the placeholder
        "https://pics.test/shop/two-1200.jpg",  # a lazy srcset's largest candidate
        "https://pics.test/shop/three.webp",
        "https://pics.test/cdn/four.png",
        "https://pics.test/shop/five@2x.avif",  # a <picture> once: its first <source>
        "https://pics.test/shop/six.jpg",  # a <picture> without sources: its <img>
        "https://pics.test/shop/hero.jpg",  # url(...) in a style attribute
        INLINE,  # an inline image in a style
        INLINE,  # and one standing alone (the journal keeps one item per address)
    ]
    assert all(e.error is None for e in found)
    assert PLACEHOLDER not in {e.url for e in found}
    assert [e.line for e in found][:2] == [3, 4]


def test_a_lazy_image_without_a_lazy_address_keeps_its_src() -> None:
    (found,) = entries_from_html('<img class="lazyload" src="real.jpg" data-sizes="auto">', base="https://pics.test/")
    assert found.url == "https://pics.test/real.jpg"


@pytest.mark.parametrize(
    ("page", "declared"),
    [
        ('<meta charset="shift_jis"><img src="写真.jpg">'.encode("shift_jis"), None),
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">\n<img src="写真.jpg">'.encode(
                "sjis"
            ),
            None,
        ),
        ('<img src="写真.jpg">'.encode("shift_jis"), "shift_jis"),  # the HTTP header's charset
        ('<meta charset="latin-1"><img src="写真.jpg">'.encode("shift_jis"), "shift_jis"),  # the header wins
        (b"\xef\xbb\xbf" + '<meta charset="latin-1"><img src="写真.jpg">'.encode(), "shift_jis"),  # the BOM wins
    ],
)
def test_the_page_encoding_decides_the_addresses(page: bytes, declared: str | None) -> None:
    (found,) = entries_from_page(page, "https://pics.test/", declared)
    assert found.url == "https://pics.test/%E5%86%99%E7%9C%9F.jpg"


def test_a_page_that_says_latin_1_is_read_as_windows_1252_as_browsers_do(tmp_path: Path) -> None:
    page = tmp_path / "prices.html"
    page.write_bytes('<meta charset="iso-8859-1"><img src="https://pics.test/€uro.jpg">'.encode("cp1252"))
    (found,) = iter_entries([str(page)])
    assert found.url == "https://pics.test/%E2%82%ACuro.jpg"


# --- inline data: images -------------------------------------------------------------------------------


def test_an_inline_image_is_decoded_by_the_fetcher(tmp_path: Path) -> None:
    image = png_bytes("green")
    with Downloader() as downloader:
        got = downloader.fetch(data_url(image), tmp_path / "spool", FAST, never)
    assert got.local_path().read_bytes() == image
    assert (got.bytes, got.spooled, got.http_status) == (len(image), True, None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (data_url(bytes(4000)), "data: image over --max-bytes 1000 B (it is about 3.9 KiB)"),
        (data_url(b"<html><body>hello</body></html>"), "data: URL holds HTML, not an image"),
        ("data:image/png;base64,****", "a data: URL with no data"),
    ],
)
def test_an_inline_image_within_the_limits(tmp_path: Path, url: str, message: str) -> None:
    with Downloader() as downloader, pytest.raises(FetchError) as info:
        downloader.fetch(url, tmp_path / "spool", FetchLimits(max_bytes=1000), never)
    assert str(info.value) == message
    assert not list((tmp_path / "spool").glob("*"))


# --- batches ----------------------------------------------------------------------------------------------


def run(qtbot, out: Path, entries: list[Entry], **settings: object) -> tuple[Summary, dict[str, object]]:
    """A batch through real downloads and resizers; its summary and its JSON report's items by source."""
    seen: list[Progress] = []
    runner = Runner(Settings(out=out, processes=1, threads=4, retries=0, timeout=10, **settings), entries)
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        runner.start()
    summary: Summary = blocker.args[0]
    write_report(out, summary.run_id, out / "report.json")
    items = json.loads((out / "report.json").read_text(encoding="utf-8"))["items"]
    return summary, {item["url"] or item["source"]: item for item in items}


def serve_gallery(server: LoopbackServer) -> tuple[str, list[str]]:
    """A page of three images (a lazy one, a <picture>, an inline one) and a link that answers with a page."""
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Gallery</title></head><body>
<img src="{PLACEHOLDER}" data-src="/img/lazy.jpg?w=320&amp;h=240">
<picture><source srcset="/img/big.png?w=200&amp;h=100 2x"><img src="/img/small.png"></picture>
<img src="{INLINE}">
<img src="/html">
</body></html>""".encode()
    url = server.add("/gallery", page, {"Content-Type": "text/html; charset=utf-8"})
    images = [server.url("/img/lazy.jpg?w=320&h=240"), server.url("/img/big.png?w=200&h=100"), INLINE]
    return url, images


def test_a_page_by_its_url_queues_its_images_one_level_deep(qtbot, http_server: LoopbackServer, tmp_path: Path) -> None:
    page, images = serve_gallery(http_server)
    summary, items = run(qtbot, tmp_path / "out", [Entry(page, page)], pages=True)

    assert items[page]["status"] == "done" and items[page]["expanded"] == 4 and items[page]["outputs"] == []
    for url in images:
        assert items[url]["status"] == "done", items[url]
        assert items[url]["file"] == page and items[url]["expanded"] is None
        (output,) = items[url]["outputs"]
        assert Path(output["path"]).is_file()
    login = http_server.url("/html")
    assert items[login]["status"] == "failed"  # a page on the page is not read: one level deep
    assert items[login]["error"] == "server sent HTML, not an image"
    assert (summary.total, summary.done, summary.failed, summary.invalid) == (5, 4, 1, 0)
    assert http_server.hits("/img/small.png") == 0 and http_server.hits("/gallery") == 1


def test_without_pages_a_page_fails_as_before(qtbot, http_server: LoopbackServer, tmp_path: Path) -> None:
    page, _ = serve_gallery(http_server)
    summary, items = run(qtbot, tmp_path / "out", [Entry(page, page)])
    assert items[page]["status"] == "failed" and items[page]["error"] == "server sent HTML, not an image"
    assert items[page]["expanded"] is None
    assert (summary.total, summary.failed) == (1, 1)


def test_a_page_already_expanded_resumes_without_reading_it_again(
    qtbot, http_server: LoopbackServer, tmp_path: Path
) -> None:
    page, images = serve_gallery(http_server)
    run(qtbot, tmp_path / "out", [Entry(page, page)], pages=True)
    summary, items = run(qtbot, tmp_path / "out", [Entry(page, page)], pages=True)
    assert items[page]["status"] == "skipped" and items[page]["expanded"] == 4
    assert all(items[url]["status"] == "skipped" for url in images)  # still the list's items, not redone
    assert (summary.total, summary.skipped, summary.failed) == (5, 4, 1)
    assert http_server.hits("/gallery") == 1


def test_an_html_list_file_with_lazy_and_inline_images(qtbot, http_server: LoopbackServer, tmp_path: Path) -> None:
    page = tmp_path / "saved.html"
    page.write_text(
        f'<base href="{http_server.url("/img/")}">'
        f'<img src="{PLACEHOLDER}" data-src="lazy.jpg"><div style="background:url(bg.png)"></div><img src="{INLINE}">',
        encoding="utf-8",
    )
    summary, items = run(qtbot, tmp_path / "out", list(iter_entries([str(page)])))
    assert {url: item["status"] for url, item in items.items()} == {
        http_server.url("/img/lazy.jpg"): "done",
        http_server.url("/img/bg.png"): "done",
        INLINE: "done",
    }
    assert summary.ok
    (inline,) = items[INLINE]["outputs"]
    with Image.open(inline["path"]) as thumb:
        r, g, b = thumb.convert("RGB").getpixel((5, 5))
        assert thumb.size == (40, 30) and r < 10 and g < 10 and b > 245  # the blue inline image
