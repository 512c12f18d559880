"""SVG, SVGZ and .svg.gz: rendered at the thumbnail's size by resvg, with nothing outside the file ever read."""

from __future__ import annotations

import base64
import gzip
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from core.download.fetch import describe_non_image, sniff_image
from core.imaging.documents.svg import MAX_INFLATED, SvgDocument
from core.imaging.resize import make_thumbnails
from core.imaging.spec import Format, ResizeError, ResizeSpec
from core.sources import entries_from_html, iter_entries

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
RED = (255, 0, 0)


def svg(body: str, attrs: str = 'width="64" height="48"') -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<svg {NS} {attrs}>{body}</svg>'.encode()


FULL_RED = svg('<rect width="64" height="48" fill="red"/>')


def thumbnail(tmp_path: Path, data: bytes, name: str = "pic.svg", **spec: object) -> tuple[Image.Image, object]:
    src = tmp_path / name
    src.write_bytes(data)
    result = make_thumbnails(src, tmp_path / "out", "thumb", ResizeSpec(**spec))  # type: ignore[arg-type]
    with Image.open(tmp_path / "out" / result.outputs[0].path) as im:
        im.load()
        return im, result


def fails(tmp_path: Path, data: bytes, **spec: object) -> str:
    with pytest.raises(ResizeError) as caught:
        thumbnail(tmp_path, data, **spec)
    return str(caught.value)


def png_data_url(colour: str) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# --- rendering ------------------------------------------------------------------------------------


def test_an_svg_becomes_a_thumbnail_of_its_own_size_and_colour(tmp_path: Path) -> None:
    im, result = thumbnail(tmp_path, FULL_RED, sizes=(32,))
    assert (result.source_width, result.source_height) == (64, 48)  # type: ignore[attr-defined]
    assert im.format == "JPEG" and im.size == (32, 24)
    assert all(abs(a - b) < 8 for a, b in zip(im.getpixel((16, 12)), RED, strict=True))


def test_a_100000_px_svg_is_rendered_at_the_thumbnails_size_in_no_time(tmp_path: Path) -> None:
    huge = svg('<circle cx="50000" cy="50000" r="50000" fill="red"/>', 'width="100000" height="100000"')
    started = time.monotonic()
    im, result = thumbnail(tmp_path, huge, sizes=(256,))
    assert time.monotonic() - started < 2
    assert (result.source_width, result.source_height) == (100000, 100000)  # type: ignore[attr-defined]
    assert im.size == (256, 256) and im.format == "PNG"  # the corners are transparent


@pytest.mark.parametrize(
    ("attrs", "size"),
    [
        ('width="2in" height="1in"', (192, 96)),
        ('width="10mm" height="40pt"', (38, 53)),
        ('viewBox="0 0 40 20"', (40, 20)),
        ('width="80" viewBox="0 0 40 20"', (80, 40)),
        ('height="10" viewBox="0 0 40 20"', (20, 10)),
        ('width="100%" height="100%" viewBox="0 0 30 60"', (30, 60)),
        ("", (300, 150)),  # what browsers make of an SVG that gives no size
    ],
)
def test_the_size_is_the_one_a_browser_gives_the_svg(tmp_path: Path, attrs: str, size: tuple[int, int]) -> None:
    _, result = thumbnail(tmp_path, svg('<rect width="10" height="10"/>', attrs), sizes=(512,))
    assert (result.source_width, result.source_height) == size  # type: ignore[attr-defined]


def test_content_fills_the_thumbnail_in_viewbox_units(tmp_path: Path) -> None:
    drawing = svg('<rect width="20" height="20" fill="red"/><rect x="20" width="20" height="20" fill="blue"/>',
                  'viewBox="0 0 40 20"')  # fmt: skip
    im, _ = thumbnail(tmp_path, drawing, sizes=(200,), format=Format.PNG, upscale=True)  # drawn at 200 px
    assert im.size == (200, 100)
    assert im.convert("RGB").getpixel((50, 50)) == RED and im.convert("RGB").getpixel((150, 50)) == (0, 0, 255)


@pytest.mark.parametrize("name", ["pic.svgz", "pic.svg.gz", "no-suffix"])
def test_gzip_compressed_svg_is_rendered(tmp_path: Path, name: str) -> None:
    im, _ = thumbnail(tmp_path, gzip.compress(FULL_RED), name, sizes=(32,))
    assert im.size == (32, 24) and im.getpixel((16, 12))[0] > 240


def test_a_gzip_bomb_fails_in_words_without_inflating_it_all(tmp_path: Path) -> None:
    bomb = gzip.compress(svg("<!--") + b" " * (MAX_INFLATED + 1024), compresslevel=9)
    assert len(bomb) < MAX_INFLATED // 500
    started = time.monotonic()
    assert "SVGZ inflates to over 50 MiB" in fails(tmp_path, bomb)
    assert time.monotonic() - started < 5


def test_transparency_gives_a_png_and_a_jpeg_is_flattened_on_the_background(tmp_path: Path) -> None:
    half = svg('<rect width="32" height="48" fill="red"/>')
    im, _ = thumbnail(tmp_path, half, sizes=(64,))
    assert im.format == "PNG" and im.mode == "RGBA"
    assert im.getpixel((10, 24)) == (*RED, 255) and im.getpixel((50, 24))[3] == 0
    flat, _ = thumbnail(tmp_path, half, sizes=(64,), format=Format.JPEG, background="#0000ff")
    assert flat.format == "JPEG"
    assert all(abs(a - b) < 10 for a, b in zip(flat.getpixel((50, 24)), (0, 0, 255), strict=True))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (FULL_RED[:70], "damaged SVG: "),
        (b'<svg width="10" height="10"></svg>', "damaged SVG: the root element is <svg>"),
        (svg("", 'width="0" height="10"'), "SVG has no size (0x10)"),
        (svg("", 'width="-5" height="10"'), "SVG has no size"),
        (svg("", 'viewBox="0 0 0 0"'), "SVG has no size (its viewBox is 0x0)"),
        (gzip.compress(FULL_RED)[:-20], "damaged SVGZ: the compressed data is cut short"),
    ],
)
def test_a_broken_or_empty_svg_fails_in_words(tmp_path: Path, data: bytes, message: str) -> None:
    assert message in fails(tmp_path, data)


def test_an_svg_with_no_size_attribute_and_zero_viewbox_is_not_rendered(tmp_path: Path) -> None:
    assert "SVG has no size" in fails(tmp_path, svg("", 'height="0"'))


# --- nothing outside the file is read -------------------------------------------------------------


def test_images_in_data_urls_are_drawn(tmp_path: Path) -> None:
    im, _ = thumbnail(
        tmp_path,
        svg(f'<image width="64" height="48" preserveAspectRatio="none" href="{png_data_url("red")}"/>'),
        format=Format.PNG,
    )
    assert im.convert("RGB").getpixel((32, 24)) == RED


@pytest.mark.parametrize("attr", ["href", "xlink:href"])
@pytest.mark.parametrize("where", ["absolute", "file-uri", "relative"])
def test_images_from_files_are_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attr: str, where: str
) -> None:
    """resvg reads local paths (a relative one from the working directory): the references are removed first."""
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), "red").save(secret)
    monkeypatch.chdir(tmp_path)
    ref = {"absolute": str(secret), "file-uri": secret.as_uri(), "relative": "secret.png"}[where]
    im, _ = thumbnail(tmp_path, svg(f'<image width="64" height="48" {attr}="{ref}"/>'), format=Format.PNG)
    assert im.getpixel((32, 24))[3] == 0  # nothing drawn


def test_an_svg_inside_a_data_url_cannot_read_files_either(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), "red").save(secret)
    inner = svg(f'<image width="64" height="48" href="{secret}"/>')
    outer = svg(f'<image width="64" height="48" href="data:image/svg+xml;base64,{base64.b64encode(inner).decode()}"/>')
    im, _ = thumbnail(tmp_path, outer, format=Format.PNG)
    assert im.getpixel((32, 24))[3] == 0


def test_css_cannot_name_another_file(tmp_path: Path) -> None:
    drawing = svg(
        '<style>@import url("evil.css"); .a { fill: url(other.svg#g) }</style>'
        '<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>'
        '<rect class="a" width="32" height="48" fill="blue"/>'
        '<rect x="32" width="32" height="48" style="fill: url(#g)"/>'
    )
    im, _ = thumbnail(tmp_path, drawing, format=Format.PNG)
    assert im.getpixel((16, 24))[3] == 0  # fill: none, not another file's paint
    assert im.convert("RGB").getpixel((48, 24)) == RED  # a fragment reference still works


def test_xml_entities_are_refused_so_xxe_reads_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        f'<svg {NS} width="10" height="10"><text y="10">&xxe;</text></svg>'
    ).encode()
    assert "SVG declares an external or parameter XML entity, which is refused" in fails(tmp_path, xxe)


def test_billion_laughs_ends_at_once_in_words(tmp_path: Path) -> None:
    levels = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = f'<?xml version="1.0"?><!DOCTYPE svg [{"".join(levels)}]><svg {NS}><text>&l9;</text></svg>'
    started = time.monotonic()
    assert "SVG declares an XML entity built from other entities" in fails(tmp_path, bomb.encode())
    assert time.monotonic() - started < 1


def test_entities_that_add_up_to_too_much_are_refused(tmp_path: Path) -> None:
    """No nesting, but a 1 KiB entity used 2000 times would still add 2 MB: counted before expanding."""
    text = "x" * 1024
    quadratic = svg("<text>" + "&big;" * 2000 + "</text>").replace(
        b"\n", f'\n<!DOCTYPE svg [<!ENTITY big "{text}">]>\n'.encode(), 1
    )
    assert "SVG's XML entities would add over 1 MiB when expanded" in fails(tmp_path, quadratic)


def test_an_illustrator_svg_with_namespace_entities_is_rendered(tmp_path: Path) -> None:
    illustrator = b"""<?xml version="1.0" encoding="utf-8"?>
<!-- Generator: Adobe Illustrator 15.0.0, SVG Export Plug-In  -->
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [
\t<!ENTITY ns_extend "http://ns.adobe.com/Extensibility/1.0/">
\t<!ENTITY ns_ai "http://ns.adobe.com/AdobeIllustrator/10.0/">
\t<!ENTITY ns_svg "http://www.w3.org/2000/svg">
\t<!ENTITY ns_xlink "http://www.w3.org/1999/xlink">
]>
<svg version="1.1" xmlns:x="&ns_extend;" xmlns:i="&ns_ai;" xmlns="&ns_svg;" xmlns:xlink="&ns_xlink;"
\t width="64px" height="48px" viewBox="0 0 64 48" xml:space="preserve">
<rect width="64" height="48" fill="#FF0000"/>
</svg>
"""
    im, result = thumbnail(tmp_path, illustrator, sizes=(32,))
    assert (result.source_width, result.source_height) == (64, 48)  # type: ignore[attr-defined]
    assert im.getpixel((16, 12))[0] > 240


def test_entities_in_a_file_not_in_an_ascii_based_encoding_are_refused() -> None:
    """References are counted in the file's bytes, which only works where `&name;` is spelled in ASCII."""
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE svg [<!ENTITY a "b">]><svg/>'.encode("utf-16")
    with pytest.raises(ResizeError, match="not in UTF-8 or an ASCII-based encoding"):
        SvgDocument().open(utf16, 10**8)


def test_a_doctype_without_entities_is_fine(tmp_path: Path) -> None:
    doctype = b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
    im, _ = thumbnail(tmp_path, FULL_RED.replace(b"\n", b"\n" + doctype + b"\n", 1), sizes=(32,))
    assert im.getpixel((16, 12))[0] > 240


@pytest.mark.parametrize("depth", [200, 250])
def test_deeply_nested_groups_render_where_the_usual_stack_would_overflow(tmp_path: Path, depth: int) -> None:
    """resvg recurses per level and overflowed an 8 MiB stack (killing the process) at about 220 levels."""
    deep = svg("<g>" * depth + '<rect width="64" height="48" fill="red"/>' + "</g>" * depth)
    im, _ = thumbnail(tmp_path, deep, sizes=(32,))
    assert im.getpixel((16, 12))[0] > 240


def test_nesting_deeper_than_the_limit_fails_in_words(tmp_path: Path) -> None:
    deep = svg("<g>" * 5000 + "</g>" * 5000)
    assert "SVG nests elements over 256 deep" in fails(tmp_path, deep)


def test_long_chains_of_use_end_in_words_or_render(tmp_path: Path) -> None:
    """Each <use> is a level too: resvg's own node limit ends long chains; short ones render on the deep stack."""
    for links, says in ((300, None), (5000, "damaged SVG: ")):
        chain = "".join(f'<use id="u{i}" href="#u{i + 1}"/>' for i in range(links))
        data = svg(f'<defs>{chain}<rect id="u{links}" width="64" height="48" fill="red"/></defs><use href="#u0"/>')
        if says is None:
            im, _ = thumbnail(tmp_path, data, sizes=(32,))
            assert im.getpixel((16, 12))[0] > 240
        else:
            assert says in fails(tmp_path, data)


def test_several_threads_render_at_once(tmp_path: Path) -> None:
    """A Dask worker runs several resizes in one process: each render stands alone."""
    drawings = [svg(f'<circle cx="32" cy="24" r="{r}" fill="red"/>') for r in range(5, 21)]
    paths = []
    for i, data in enumerate(drawings):
        paths.append(tmp_path / f"{i}.svg")
        paths[-1].write_bytes(data)

    def run(i: int) -> bytes:
        result = make_thumbnails(paths[i], tmp_path / "out", f"t{i}", ResizeSpec(sizes=(128,), format=Format.PNG))
        with Image.open(tmp_path / "out" / result.outputs[0].path) as im:
            return im.tobytes()

    alone = [run(i) for i in range(len(paths))]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(run, range(len(paths)))) == alone


# --- found in lists, folders and downloads --------------------------------------------------------


def test_downloads_sniff_svg_and_svgz() -> None:
    assert sniff_image(FULL_RED) == "svg"
    assert sniff_image(b"\xef\xbb\xbf  " + FULL_RED) == "svg"
    assert sniff_image(gzip.compress(FULL_RED)[:300]) == "svgz"
    assert sniff_image(gzip.compress(b"hello, world")) is None
    assert sniff_image(b"<!DOCTYPE html><html><body><svg></svg></body></html>") is None
    login = b"<!-- cached --><head><title>Login</title></head><body><svg/>"
    assert sniff_image(login) is None and describe_non_image(login) == "HTML"
    assert not SvgDocument().sniff(login)


def test_folders_count_svg_files_by_their_content(tmp_path: Path) -> None:
    long_head = b"<?xml version='1.0'?>\n<!-- " + b"made by a drawing program " * 20 + b"-->\n"
    (tmp_path / "a.svg").write_bytes(long_head + FULL_RED[FULL_RED.index(b"<svg") :])
    (tmp_path / "b.svgz").write_bytes(gzip.compress(FULL_RED))
    (tmp_path / "c.svg.gz").write_bytes(gzip.compress(FULL_RED))
    (tmp_path / "drawing").write_bytes(FULL_RED)
    (tmp_path / "page.xml").write_bytes(b"<?xml version='1.0'?><html><body><svg/></body></html>")
    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"just text"))
    found = sorted(Path(e.url or "").name for e in iter_entries([str(tmp_path)]))
    assert found == ["a.svg", "b.svgz", "c.svg.gz", "drawing"]


def test_html_lists_take_svg_images_and_links() -> None:
    html = '<img src="a.svg"><a href="b.svgz">b</a><a href="c.svg.gz">c</a><a href="d.gz">d</a>'
    found = [e.url for e in entries_from_html(html, base="https://pics.test/")]
    assert found == ["https://pics.test/a.svg", "https://pics.test/b.svgz", "https://pics.test/c.svg.gz"]
