"""Input parsing: what a user hands the thumbnailer becomes the entries they expect, in order.

Everything runs on real files in tmp_path; images are made with Pillow. Host names use the reserved
`.test` domain and never leave the machine (nothing here fetches, except the command run on a folder whose file
names are not UTF-8, at the end).
"""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from core.models import Entry
from core.sources import (
    InvalidSource,
    entries_from_html,
    entries_from_text,
    entries_from_uri_list,
    is_image_file,
    iter_entries,
    normalise_url,
)


def make_image(path: Path, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), "teal").save(path, format=fmt)
    return path


def entries(*args: str | Path, stdin: io.TextIOBase | None = None) -> list[Entry]:
    return list(iter_entries([str(a) for a in args], stdin=stdin))


def urls(found: list[Entry]) -> list[str | None]:
    return [e.url for e in found]


# --- normalise_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://pics.test/a.jpg", "https://pics.test/a.jpg"),
        ("  HTTPS://Pics.TEST/Cat.JPG  ", "https://pics.test/Cat.JPG"),  # path case is the server's
        ("http://pics.test:80/a.jpg", "http://pics.test/a.jpg"),
        ("https://pics.test:443/a.jpg", "https://pics.test/a.jpg"),
        ("http://pics.test:443/a.jpg", "http://pics.test:443/a.jpg"),
        ("https://pics.test:8443/a.jpg", "https://pics.test:8443/a.jpg"),
        ("https://pics.test/a.jpg#section", "https://pics.test/a.jpg"),
        ("https://pics.test/a.jpg?w=100&h=50#x", "https://pics.test/a.jpg?w=100&h=50"),
        ("https://pics.test/my cat.jpg", "https://pics.test/my%20cat.jpg"),
        ("https://pics.test/a.jpg   # the big one", "https://pics.test/a.jpg"),
        (
            "https://pics.test/café.jpg?name=crème brûlée",
            "https://pics.test/caf%C3%A9.jpg?name=cr%C3%A8me%20br%C3%BBl%C3%A9e",
        ),
        ("https://pics.test/a%2Fb%20c.jpg", "https://pics.test/a%2Fb%20c.jpg"),  # escapes kept, not doubled
        ("https://pics.test/100%.jpg", "https://pics.test/100%25.jpg"),  # a lone % is not an escape
        ("https://bücher.test/a.jpg", "https://xn--bcher-kva.test/a.jpg"),
        ("https://BÜCHER.test/a.jpg", "https://xn--bcher-kva.test/a.jpg"),
        ("http://faß.de/a.jpg", "http://xn--fa-hia.de/a.jpg"),  # UTS #46 as browsers: not fass.de, another host
        ("http://Faß.DE:8080/a.jpg", "http://xn--fa-hia.de:8080/a.jpg"),
        ("https://ＰＩＣＳ。bücher.test/a.jpg", "https://pics.xn--bcher-kva.test/a.jpg"),  # full-width forms mapped
        ("https://my_pics.bücher.test/a.jpg", "https://my_pics.xn--bcher-kva.test/a.jpg"),  # ASCII labels kept
        ("https://pics.test", "https://pics.test/"),
        ("http://[::1]:8080/a.png", "http://[::1]:8080/a.png"),
        ("http://user:pw@pics.test/a.png", "http://user:pw@pics.test/a.png"),
        ("FILE:///tmp/a b.png", "file:///tmp/a%20b.png"),
        ("file://localhost/tmp/a.png", "file:///tmp/a.png"),
        ("file:/tmp/a.png", "file:///tmp/a.png"),
    ],
)
def test_normalise_url_canonical_forms(text: str, expected: str) -> None:
    assert normalise_url(text) == expected


@pytest.mark.parametrize("scheme", ["ftp", "javascript", "mailto", "sftp"])
def test_normalise_url_rejects_other_schemes_naming_the_scheme(scheme: str) -> None:
    with pytest.raises(InvalidSource) as info:
        normalise_url(f"{scheme.upper()}:something/x.jpg")
    assert str(info.value) == f"unsupported scheme {scheme}: (only http, https and file)"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("http:///x.jpg", "no host name"),
        ("https://:8080/x.jpg", "no host name"),
        ("https://pics.test:99999/x.jpg", "bad port number"),
        ("https://pics.test:8o/x.jpg", "bad port number"),
        ("https://bad host.test/x.jpg", "bad host name"),
        ("https://[nonsense]/x.jpg", "bad IPv6 address"),
        ("https://ab\u200d.test/x.jpg", "bad international host name"),  # a joiner where IDNA forbids one
        ("https://-bücher.test/x.jpg", "bad international host name.*hyphen"),
        ("//pics.test/x.jpg", "protocol-relative"),
        ("pics.test/x.jpg", "not a URL"),
        ("", "empty URL"),
        ("file:relative/x.jpg", "absolute path"),
    ],
)
def test_normalise_url_explains_unusable_input(text: str, words: str) -> None:
    with pytest.raises(InvalidSource, match=words):
        normalise_url(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:image/png;base64,iVBO Rw0K\n GgoA", "data:image/png;base64,iVBORw0KGgoA"),  # wrapped base64
        ("DATA:Image/SVG+XML,<svg xmlns='x'/>", "data:image/svg+xml,<svg xmlns='x'/>"),  # percent-data kept
        ("data:image/gif;name=dot.gif;base64,R0lG", "data:image/gif;name=dot.gif;base64,R0lG"),
    ],
)
def test_a_data_url_of_an_image_is_an_item(text: str, expected: str) -> None:
    assert normalise_url(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("data:text/html,<b>hi</b>", "a data: URL of text/html, not of an image"),
        ("data:,hello", "a data: URL of text/plain, not of an image"),
        ("data:image/png;base64", "a data: URL without the comma that starts its data"),
    ],
)
def test_a_data_url_that_is_not_an_image_is_invalid(text: str, words: str) -> None:
    with pytest.raises(InvalidSource, match=words):
        normalise_url(text)


def test_invalid_source_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        normalise_url("ftp://pics.test/a.jpg")


# --- is_image_file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "PPM", "JPEG2000", "QOI", "AVIF", "PCX", "SGI"]
)
def test_is_image_file_knows_formats_by_content_not_name(tmp_path: Path, fmt: str) -> None:
    assert is_image_file(make_image(tmp_path / "no-extension", fmt))


def test_is_image_file_knows_greyscale_netpbm(tmp_path: Path) -> None:
    path = tmp_path / "grey"
    Image.new("L", (4, 4)).save(path, format="PPM")  # written as PGM (P5)
    assert path.read_bytes().startswith(b"P5")
    assert is_image_file(path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"BMW cars are fast\n",  # starts like a BMP signature
        b"P1 is a paragraph\n",  # starts like a Netpbm signature
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41",  # an MP4 video, not an AVIF still
        b"<html><img src=a.png></html>",
        b"\x00\x00\x02\x00\x00\x00",  # TGA starts like a CUR with no images
    ],
)
def test_is_image_file_rejects_look_alikes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    assert not is_image_file(path)


def test_is_image_file_is_false_for_missing_and_folders(tmp_path: Path) -> None:
    assert not is_image_file(tmp_path / "missing.png")
    assert not is_image_file(tmp_path)


# --- arguments -------------------------------------------------------------------------------------


def test_url_arguments_are_normalised_and_bad_ones_explained(tmp_path: Path) -> None:
    found = entries("https://Pics.test/a.jpg#x", "ftp://pics.test/b.jpg", tmp_path / "missing.txt")
    assert found[0] == Entry("https://Pics.test/a.jpg#x", "https://pics.test/a.jpg")
    assert found[1].url is None
    assert found[1].error == "unsupported scheme ftp: (only http, https and file)"
    assert found[2].url is None
    assert found[2].error.startswith("no such file")
    assert all(e.file is None and e.line is None for e in found)


def test_domain_without_scheme_gets_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (found,) = entries("www.pics.test/a.jpg")
    assert found.url is None
    assert "no such file" in found.error
    assert "https://" in found.error


def test_local_image_argument_becomes_a_file_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = make_image(tmp_path / "photos" / "my cat.png")
    monkeypatch.chdir(tmp_path)
    (found,) = entries("photos/my cat.png")
    assert found == Entry("photos/my cat.png", image.resolve().as_uri())
    assert found.url.startswith("file:///") and found.url.endswith("/photos/my%20cat.png")


def test_png_named_txt_argument_is_an_image_not_a_list(tmp_path: Path) -> None:
    image = make_image(tmp_path / "actually.txt")
    assert entries(image) == [Entry(str(image), image.resolve().as_uri())]


def test_image_named_file_without_signature_is_left_to_the_resizer(tmp_path: Path) -> None:
    tga = make_image(tmp_path / "old.tga", "TGA")  # TGA has no magic bytes
    assert urls(entries(tga)) == [tga.resolve().as_uri()]


def test_binary_file_of_unknown_kind_is_one_invalid_entry(tmp_path: Path) -> None:
    junk = tmp_path / "data.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    (found,) = entries(junk)
    assert found.url is None
    assert found.error == "not an image or a list of URLs (binary content)"


def test_unknown_extension_is_sniffed_html_or_text(tmp_path: Path) -> None:
    page = tmp_path / "saved-page"
    page.write_text("<!DOCTYPE html>\n<p>hi</p><img src='https://pics.test/a.png'>\n", encoding="utf-8")
    text = tmp_path / "urls.list"
    text.write_text("https://pics.test/b.png\n", encoding="utf-8")
    assert urls(entries(page, text)) == ["https://pics.test/a.png", "https://pics.test/b.png"]


def test_arguments_keep_their_order(tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("https://pics.test/2.jpg\nhttps://pics.test/3.jpg\n", encoding="utf-8")
    found = entries("https://pics.test/1.jpg", listing, "https://pics.test/4.jpg")
    assert urls(found) == [f"https://pics.test/{i}.jpg" for i in (1, 2, 3, 4)]


def test_duplicates_are_kept_for_the_journal_to_collapse(tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("https://pics.test/a.jpg\nHTTPS://PICS.TEST/a.jpg\n", encoding="utf-8")
    found = entries(listing)
    assert len(found) == 2
    assert found[0].key == found[1].key


# --- text lists ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".txt", ".lst", ".urls"])
def test_text_list_skips_comments_and_blanks_and_numbers_lines(tmp_path: Path, suffix: str) -> None:
    listing = tmp_path / f"list{suffix}"
    listing.write_bytes(
        b"\xef\xbb\xbf# my images\r\n"
        b"https://pics.test/a.jpg\r\n"
        b"\r\n"
        b"   \t  \r\n"
        b"  https://pics.test/b.jpg  \r\n"
        b"   # indented comment\r\n"
        b"gopher://pics.test/c.jpg\r\n"
        b"https://pics.test/d.jpg"  # no newline at the end
    )
    found = entries(listing)
    assert [(e.source, e.url, e.line) for e in found] == [
        ("https://pics.test/a.jpg", "https://pics.test/a.jpg", 2),
        ("https://pics.test/b.jpg", "https://pics.test/b.jpg", 5),
        ("gopher://pics.test/c.jpg", None, 7),
        ("https://pics.test/d.jpg", "https://pics.test/d.jpg", 8),
    ]
    assert found[2].error == "unsupported scheme gopher: (only http, https and file)"
    assert {e.file for e in found} == {str(listing)}


def test_every_unusable_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(
        "https://pics.test/ok.jpg\n"
        "javascript:alert(1)\n"
        "http:///nohost.jpg\n"
        "//pics.test/relative.jpg\n"
        "not-here.jpg\n"
        "look at https://pics.test/x.jpg\n",
        encoding="utf-8",
    )
    found = entries(listing)
    assert [e.line for e in found] == [1, 2, 3, 4, 5, 6]
    assert found[0].error is None
    assert all(e.url is None and e.error for e in found[1:])
    assert "unsupported scheme javascript:" in found[1].error
    assert "no host name" in found[2].error
    assert "protocol-relative" in found[3].error
    assert found[4].error == f"no such file: {tmp_path.resolve() / 'not-here.jpg'}"
    assert "mixes URLs with other words" in found[5].error
    assert len({e.key for e in found}) == 6  # each invalid line stays its own item


def test_text_list_local_paths_resolve_next_to_the_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    near = make_image(tmp_path / "lists" / "imgs" / "near.png")
    far = make_image(tmp_path / "elsewhere" / "far.jpg", "JPEG")
    listing = tmp_path / "lists" / "list.txt"
    listing.write_text(f"imgs/near.png\n{far}\n{far.as_uri()}\nimgs/missing.png\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "elsewhere")  # the current folder must not matter
    found = entries(listing)
    assert urls(found) == [near.resolve().as_uri(), far.resolve().as_uri(), far.as_uri(), None]
    assert found[0].source == "imgs/near.png"
    assert found[3].error == f"no such file: {(tmp_path / 'lists' / 'imgs' / 'missing.png').resolve()}"


def test_folder_line_in_a_list_is_walked(tmp_path: Path) -> None:
    a = make_image(tmp_path / "pics" / "a.png")
    b = make_image(tmp_path / "pics" / "b.png")
    listing = tmp_path / "list.txt"
    listing.write_text("https://pics.test/x.jpg\npics\n", encoding="utf-8")
    found = entries(listing)
    assert urls(found) == ["https://pics.test/x.jpg", a.resolve().as_uri(), b.resolve().as_uri()]
    assert [e.line for e in found] == [1, 2, 2]
    assert found[1].source == os.path.join("pics", "a.png")


def test_several_urls_on_one_line_each_count(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("https://pics.test/a.jpg\thttps://pics.test/b.jpg  https://pics.test/c.jpg\n")
    found = entries(listing)
    assert urls(found) == [f"https://pics.test/{c}.jpg" for c in "abc"]
    assert [e.source for e in found] == [f"https://pics.test/{c}.jpg" for c in "abc"]
    assert {e.line for e in found} == {1}


def test_latin1_list_falls_back_without_crashing(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_bytes("https://pics.test/café.jpg\nhttps://pics.test/b.jpg\n".encode("latin-1"))
    found = entries(listing)
    assert urls(found) == ["https://pics.test/caf%C3%A9.jpg", "https://pics.test/b.jpg"]
    assert found[0].source == "https://pics.test/café.jpg"


def test_utf16_list_as_windows_tools_write_it(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_bytes("https://pics.test/ä.jpg\r\n# c\r\nhttps://pics.test/b.jpg\r\n".encode("utf-16"))
    found = entries(listing)
    assert urls(found) == ["https://pics.test/%C3%A4.jpg", "https://pics.test/b.jpg"]
    assert [e.line for e in found] == [1, 3]


def test_old_mac_line_endings_are_lines(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"https://pics.test/a.jpg\rbad:\rhttps://pics.test/c.jpg\r")
    found = entries(listing)
    assert [(e.url, e.line) for e in found] == [
        ("https://pics.test/a.jpg", 1),
        (None, 2),
        ("https://pics.test/c.jpg", 3),
    ]


def test_binary_junk_in_a_list_never_crashes_and_keeps_counting(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    junk = bytes(range(256)) * 8
    listing.write_bytes(junk + b"\n" + b"\xff" * 200_000 + b"\nhttps://pics.test/after.jpg\n")
    found = entries(listing)
    assert found[-1].url == "https://pics.test/after.jpg"
    overlong = [e for e in found if e.error and "longer than 64 KiB" in e.error]
    assert len(overlong) == 1
    assert len(overlong[0].source) < 300  # the junk line is not kept whole
    assert found[-1].line == overlong[0].line + 1
    assert all(e.url is None for e in found[:-1])


def test_empty_list_says_so(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# nothing yet\n\n", encoding="utf-8")
    assert entries(listing) == [Entry(str(listing), None, error="no URLs or paths in this list")]


# --- CSV and TSV -----------------------------------------------------------------------------------


def test_csv_url_header_in_any_case_and_position(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text(
        "Title,URL,Notes\ncat,https://pics.test/cat.jpg,x\ndog,https://pics.test/dog.jpg,y\n", encoding="utf-8"
    )
    found = entries(table)
    assert [(e.source, e.url, e.line, e.file) for e in found] == [
        ("https://pics.test/cat.jpg", "https://pics.test/cat.jpg", 2, str(table)),
        ("https://pics.test/dog.jpg", "https://pics.test/dog.jpg", 3, str(table)),
    ]


def test_csv_without_header(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("https://pics.test/a.jpg,first\nhttps://pics.test/b.jpg,second\n", encoding="utf-8")
    found = entries(table)
    assert urls(found) == ["https://pics.test/a.jpg", "https://pics.test/b.jpg"]
    assert [e.line for e in found] == [1, 2]


def test_csv_first_column_holding_urls_third_column_with_header(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text(
        "id,name,image,homepage\n1,cat,https://pics.test/cat.jpg,https://pics.test/\n2,dog,,https://pics.test/\n",
        encoding="utf-8",
    )
    found = entries(table)
    assert found[0] == Entry("https://pics.test/cat.jpg", "https://pics.test/cat.jpg", str(table), 2)
    assert found[1].url is None
    assert found[1].line == 3
    assert found[1].error == "no URL in column 'image'"


def test_csv_third_column_without_header(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("1,cat,https://pics.test/cat.jpg\n2,dog,https://pics.test/dog.jpg\n", encoding="utf-8")
    assert urls(entries(table)) == ["https://pics.test/cat.jpg", "https://pics.test/dog.jpg"]


def test_csv_quoted_fields_with_commas_and_newlines(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text(
        'caption,url\n"black, white cat","https://pics.test/a.jpg?crop=1,2"\n'
        '"two\nlines","https://pics.test/b.jpg"\n'
        'plain,"https://pics.test/c d.jpg"\n',
        encoding="utf-8",
    )
    found = entries(table)
    assert [(e.url, e.line) for e in found] == [
        ("https://pics.test/a.jpg?crop=1,2", 2),
        ("https://pics.test/b.jpg", 3),  # the row starts on line 3 and ends on line 4
        ("https://pics.test/c%20d.jpg", 5),
    ]


def test_csv_semicolons_as_spreadsheets_in_many_countries_write(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_bytes(b"\xef\xbb\xbfName;Url\r\nKatze;https://pics.test/k.jpg\r\nHund;ftp://pics.test/h.jpg\r\n")
    found = entries(table)
    assert [(e.url, e.line) for e in found] == [("https://pics.test/k.jpg", 2), (None, 3)]
    assert "unsupported scheme ftp:" in found[1].error


def test_tsv(tmp_path: Path) -> None:
    table = tmp_path / "t.tsv"
    table.write_text("name\turl\na, b\thttps://pics.test/a.jpg\n\n\nc\thttps://pics.test/c.jpg\n", encoding="utf-8")
    found = entries(table)
    assert [(e.url, e.line) for e in found] == [("https://pics.test/a.jpg", 2), ("https://pics.test/c.jpg", 5)]


def test_csv_of_local_paths_with_path_header(tmp_path: Path) -> None:
    image = make_image(tmp_path / "imgs" / "a.png")
    table = tmp_path / "t.csv"
    table.write_text("path,caption\nimgs/a.png,hello\nimgs/gone.png,bye\n", encoding="utf-8")
    found = entries(table)
    assert found[0] == Entry("imgs/a.png", image.resolve().as_uri(), str(table), 2)
    assert found[1].url is None and found[1].line == 3 and "no such file" in found[1].error


def test_csv_with_no_url_column_reports_each_row(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("alpha,1\nbeta,2\n", encoding="utf-8")
    found = entries(table)
    assert [(e.source, e.url, e.line) for e in found] == [("alpha", None, 1), ("beta", None, 2)]


# --- HTML ------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><base href="https://cdn.pics.test/gallery/"></head>
<body>
<img src="thumbs/one.jpg" alt="one">
<img src="small.jpg" srcset="small.jpg 320w, large.jpg 1280w, medium.jpg 640w">
<IMG SRC='/root.png'>
<a href="full/two.PNG?size=orig">big</a>
<a href="about.html">not an image</a>
<a href="https://other.pics.test/three.webp#top">three</a>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
</body></html>
"""


def test_html_base_img_srcset_and_image_links(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    found = entries(page)
    assert [(e.source, e.url, e.line) for e in found] == [
        ("thumbs/one.jpg", "https://cdn.pics.test/gallery/thumbs/one.jpg", 4),
        ("large.jpg", "https://cdn.pics.test/gallery/large.jpg", 5),
        ("/root.png", "https://cdn.pics.test/root.png", 6),
        ("full/two.PNG?size=orig", "https://cdn.pics.test/gallery/full/two.PNG?size=orig", 7),
        ("https://other.pics.test/three.webp#top", "https://other.pics.test/three.webp", 9),
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "data:image/gif;base64,R0lGODlhAQABAAAAACw=", 10),
    ]  # an inline image standing alone is an item: the fetcher decodes it
    assert {e.file for e in found} == {str(page)}


def test_local_html_relative_links_become_file_urls(tmp_path: Path) -> None:
    image = make_image(tmp_path / "site" / "img" / "a b.png")
    page = tmp_path / "site" / "index.htm"
    page.write_text('<p><img src="img/a b.png"><a href="../other/z.gif">z</a></p>', encoding="utf-8")
    found = entries(page)
    assert urls(found) == [image.resolve().as_uri(), (tmp_path / "other" / "z.gif").resolve().as_uri()]


def test_srcset_density_descriptors_and_fallback_to_src() -> None:
    html = (
        '<img src="a.jpg" srcset="a.jpg, a@3x.jpg 3x, a@2x.jpg 2x">\n'
        '<img src="only.jpg" srcset="">\n'
        '<img srcset="https://pics.test/w_100,h_100/p.jpg 100w, https://pics.test/w_900,h_900/p.jpg 900w">\n'
    )
    found = list(entries_from_html(html, base="https://pics.test/page/"))
    assert urls(found) == [
        "https://pics.test/page/a@3x.jpg",
        "https://pics.test/page/only.jpg",
        "https://pics.test/w_900,h_900/p.jpg",
    ]
    assert all(e.file is None and e.line is None for e in found)


def test_html_fragment_without_base_resolves_only_absolute_links() -> None:
    html = '<img src="https://pics.test/a.png"><img src="rel.png"><a href="rel2.jpg">x</a><img src="">'
    found = list(entries_from_html(html))
    assert found[0].url == "https://pics.test/a.png"
    assert [(e.source, e.url) for e in found[1:]] == [("rel.png", None), ("rel2.jpg", None)]
    assert "no page address" in found[1].error


def test_html_huge_data_uri_source_is_shortened() -> None:
    html = f'<img src="data:image/png;base64,{"A" * 100_000}">'
    (found,) = entries_from_html(html, file="drop.html")
    assert found.url == f"data:image/png;base64,{'A' * 100_000}"
    assert len(found.source) < 200 and "characters" in found.source
    assert found.line == 1


def test_html_file_in_latin1_and_without_images(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes('<img src="https://pics.test/é.jpg">'.encode("latin-1"))
    empty = tmp_path / "empty.html"
    empty.write_text("<p>no pictures</p>", encoding="utf-8")
    found = entries(page, empty)
    assert found[0].url == "https://pics.test/%C3%A9.jpg"
    assert found[1] == Entry(str(empty), None, error="no images or links to images in this page")


def test_large_html_page_is_read_in_chunks_with_right_line_numbers(tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    rows = "".join(f'<tr><td><img src="i/{n}.png"></td></tr>\n' for n in range(20_000))
    page.write_text(f"<html><body><table>\n{rows}</table></body></html>\n", encoding="utf-8")
    found = entries(page)
    assert len(found) == 20_000
    assert found[12_345].source == "i/12345.png"
    assert found[12_345].line == 12_347


def test_empty_argument_is_not_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(tmp_path / "a.png")
    monkeypatch.chdir(tmp_path)
    (found,) = entries("")
    assert found.url is None and "empty argument" in found.error


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("list.txt", "\n".join(f"https://pics.test/{n}.jpg" for n in range(5000)).encode()),
        ("list.txt", "\n".join(f"https://pics.test/{n}.jpg" for n in range(5000)).encode("utf-16")),
        ("list.csv", ("url\n" + "\n".join(f"https://pics.test/{n}.jpg" for n in range(5000))).encode()),
        ("page.html", "".join(f'<img src="{n}.png">' for n in range(20000)).encode()),
    ],
)
def test_stopping_early_leaves_no_file_open(tmp_path: Path, name: str, content: bytes) -> None:
    listing = tmp_path / name
    listing.write_bytes(content)
    found = iter_entries([str(listing)])
    assert next(found).url is not None
    del found
    gc.collect()  # an unclosed file would show up as a ResourceWarning, an error in this test suite
    listing.unlink()


# --- standard input, pasted text, drops ------------------------------------------------------------


def test_dash_reads_a_text_list_from_stdin() -> None:
    stdin = io.StringIO("# from a pipe\nhttps://pics.test/a.jpg\n\nftp://pics.test/b.jpg\n")
    found = entries("-", stdin=stdin)
    assert [(e.url, e.file, e.line) for e in found] == [("https://pics.test/a.jpg", "-", 2), (None, "-", 4)]


def test_stdin_bytes_that_are_not_utf8_do_not_crash() -> None:
    raw = io.BufferedReader(io.BytesIO("https://pics.test/naïve.jpg\n".encode("latin-1")))
    stdin = io.TextIOWrapper(raw, encoding="utf-8")
    (found,) = entries("-", stdin=stdin)
    assert found.url == "https://pics.test/na%C3%AFve.jpg"


def test_empty_stdin_says_so() -> None:
    (found,) = entries("-", stdin=io.StringIO(""))
    assert found.url is None and "standard input" in found.error


def test_pasted_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = make_image(tmp_path / "here.png")
    monkeypatch.chdir(tmp_path)
    text = (
        "https://pics.test/a.jpg https://pics.test/b.jpg\n"
        "  # comment\n"
        "https://pics.test/with space.jpg\n"
        "here.png\n"
        "hello world\n"
    )
    found = list(entries_from_text(text))
    assert [(e.url, e.line) for e in found] == [
        ("https://pics.test/a.jpg", 1),
        ("https://pics.test/b.jpg", 1),
        ("https://pics.test/with%20space.jpg", 3),
        (image.resolve().as_uri(), 4),
        (None, 5),
    ]
    assert found[-1].error.startswith("no such file")
    assert all(e.file is None for e in found)


def test_uri_list_drop(tmp_path: Path) -> None:
    folder = tmp_path / "drop folder"
    inside = make_image(folder / "in.png")
    listing = tmp_path / "list.txt"
    listing.write_text("https://pics.test/from-list.jpg\n", encoding="utf-8")
    text = (
        "# dragged from a file manager\r\n"
        "https://pics.test/a.jpg\r\n"
        f"{folder.as_uri()}\r\n"
        f"{listing.as_uri()}\r\n"
        "mailto:someone\r\n"
        "file:///no/such/place.png\r\n"
    )
    found = list(entries_from_uri_list(text))
    assert urls(found) == [
        "https://pics.test/a.jpg",
        inside.resolve().as_uri(),
        "https://pics.test/from-list.jpg",
        None,
        "file:///no/such/place.png",  # reported by the fetcher, like any file: URL
    ]
    assert found[0].line == 2
    assert found[2].file == listing.as_uri() and found[2].line == 1
    assert found[3].line == 5 and "unsupported scheme mailto:" in found[3].error


# --- folders ---------------------------------------------------------------------------------------


def test_folder_is_walked_by_content_in_a_stable_order(tmp_path: Path) -> None:
    root = tmp_path / "shoot"
    make_image(root / "b.jpg", "JPEG")
    make_image(root / "a.txt")  # a PNG with the wrong name
    (root / "fake.jpg").write_text("I am not a picture\n", encoding="utf-8")
    make_image(root / "sub" / "z.gif", "GIF")
    make_image(root / "sub" / "deeper" / "c.webp", "WEBP")
    make_image(root / "another" / "x.bmp", "BMP")
    make_image(root / ".hidden" / "secret.png")
    make_image(root / ".thumbnailer" / "thumb.png")
    make_image(root / "sub" / ".cache" / "cached.png")

    found = entries(root)
    assert [e.source for e in found] == [
        os.path.join(str(root), "a.txt"),
        os.path.join(str(root), "b.jpg"),
        os.path.join(str(root), "another", "x.bmp"),
        os.path.join(str(root), "sub", "z.gif"),
        os.path.join(str(root), "sub", "deeper", "c.webp"),
    ]
    assert urls(found) == [Path(e.source).resolve().as_uri() for e in found]
    assert entries(root) == found  # the same order every time
    assert all(e.file is None and e.error is None for e in found)


def test_folder_source_keeps_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = make_image(tmp_path / "pics" / "a.png")
    monkeypatch.chdir(tmp_path)
    assert entries("pics") == [Entry(os.path.join("pics", "a.png"), image.resolve().as_uri(), rel_dir="")]


def test_symlink_loops_end_and_linked_folders_are_walked_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    image = make_image(root / "a" / "one.png")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "b").symlink_to(root / "a", target_is_directory=True)
    (root / "self").symlink_to(root / "self")  # a link to itself
    (root / "dangling.png").symlink_to(tmp_path / "gone.png")
    found = entries(root)
    assert urls(found) == [image.resolve().as_uri()]


def test_symlinked_image_is_found_under_its_link_name(tmp_path: Path) -> None:
    image = make_image(tmp_path / "store" / "real.png")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.png").symlink_to(image)
    (found,) = entries(root)
    assert found.source == os.path.join(str(root), "link.png")
    assert found.url == image.resolve().as_uri()


def test_folder_without_images_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("https://pics.test/a.jpg\n", encoding="utf-8")
    make_image(tmp_path / ".thumbnailer" / "t.png")
    assert entries(tmp_path) == [Entry(str(tmp_path), None, error="no image files in this folder")]


def test_hidden_folder_given_explicitly_is_walked(tmp_path: Path) -> None:
    image = make_image(tmp_path / ".stash" / "a.png")
    assert urls(entries(tmp_path / ".stash")) == [image.resolve().as_uri()]


# --- streaming -------------------------------------------------------------------------------------


def _rss_bytes() -> int | None:
    """Resident memory of this process now (Linux), or None where /proc is not there."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def test_million_line_list_streams_in_seconds_with_flat_memory(tmp_path: Path) -> None:
    listing = tmp_path / "million.txt"
    with open(listing, "w", encoding="utf-8") as f:
        f.writelines(f"https://pics.test/batch/{n:07d}.jpg\n" for n in range(1_000_000))
    start_rss = _rss_bytes()
    peak_rss = start_rss
    count = 0
    last = None
    began = time.perf_counter()
    for entry in iter_entries([str(listing)]):
        count += 1
        last = entry
        if start_rss is not None and count % 100_000 == 0:
            peak_rss = max(peak_rss, _rss_bytes())
    seconds = time.perf_counter() - began
    assert count == 1_000_000
    assert last == Entry(
        "https://pics.test/batch/0999999.jpg", "https://pics.test/batch/0999999.jpg", str(listing), 1_000_000
    )
    assert seconds < 20, f"1,000,000 lines took {seconds:.1f} s"
    if start_rss is not None:  # holding the entries would take hundreds of MB
        assert peak_rss - start_rss < 50 * 1024**2


@pytest.mark.parametrize("kind", ["txt", "csv"])
def test_lists_stream_without_holding_entries(tmp_path: Path, kind: str) -> None:
    listing = tmp_path / f"list.{kind}"
    with open(listing, "w", encoding="utf-8") as f:
        if kind == "csv":
            f.write("name,url\n")
            f.writelines(f"n{n},https://pics.test/{n}.jpg\n" for n in range(50_000))
        else:
            f.writelines(f"https://pics.test/{n}.jpg\n" for n in range(50_000))
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_entries([str(listing)]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50_000
    assert peak < 2 * 1024**2, f"peak {peak / 1024**2:.1f} MiB"  # 50,000 entries held would be ~15 MiB


def test_a_long_list_held_in_memory_stores_each_url_once(tmp_path: Path) -> None:
    """A line that is already a normal URL is kept as one string for both `source` and `url`."""
    listing = tmp_path / "long.txt"
    with listing.open("w") as f:
        f.writelines(f"https://pics.test/album/photo-{n:07d}.jpg\n" for n in range(50_000))
    tracemalloc.start()
    try:
        held = list(iter_entries([str(listing)]))
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(held) == 50_000 and held[-1].url == "https://pics.test/album/photo-0049999.jpg"
    one_string = len(held[0].source) + 49  # a str's header; a second copy would cost as much again
    per_entry = size / len(held)
    # The Entry, its line number and a list slot take ~115 bytes more; a second copy of the URL, ~90.
    assert per_entry < one_string + 130, f"{per_entry:.0f} bytes per entry"


# --- file names that are not UTF-8 ----------------------------------------------------------------------

NOT_UTF8 = pytest.mark.skipif(sys.platform != "linux", reason="names that are not UTF-8 (macOS, Windows refuse them)")


def _named(folder: Path, name: bytes) -> Path:
    return Path(os.fsdecode(bytes(folder) + b"/" + name))


@NOT_UTF8
def test_names_that_are_not_utf8_become_items_shown_with_a_replacement_character(tmp_path: Path) -> None:
    """Such a name (Latin-1 from an old disk, CP437 from an unpacked archive) reaches us with lone surrogates, which
    no journal or report can store: its shown text gets U+FFFD, its file: URL the exact bytes."""
    make_image(_named(tmp_path, b"old \xe9t\xe9/caf\xe9.png"))
    make_image(tmp_path / "plain.png")
    found = entries(tmp_path)
    assert [e.source for e in found] == [f"{tmp_path}/plain.png", f"{tmp_path}/old \ufffdt\ufffd/caf\ufffd.png"]
    assert found[1].url == f"file://{tmp_path}/old%20%E9t%E9/caf%E9.png"
    dropped = f"file://{tmp_path}/old%20%E9t%E9"  # a file manager's drop: the exact bytes, percent-escaped
    found_there = list(entries_from_uri_list(dropped + "\r\n"))
    assert [(e.source, e.url) for e in found_there] == [(f"{dropped}/caf\ufffd.png", found[1].url)]
    named = entries(_named(tmp_path, b"old \xe9t\xe9/caf\xe9.png"), _named(tmp_path, b"gone\xff.png"))
    assert [(e.source, e.url, e.error) for e in named] == [
        (f"{tmp_path}/old \ufffdt\ufffd/caf\ufffd.png", found[1].url, None),
        (f"{tmp_path}/gone\ufffd.png", None, f"no such file: {tmp_path}/gone\ufffd.png"),
    ]


@NOT_UTF8
def test_a_folder_with_names_that_are_not_utf8_makes_every_thumbnail(tmp_path: Path) -> None:
    """The whole command, as a user runs it: each such file is an item of its own (made, or failed in words), the
    report is written, and the batch ends as usual."""
    folder = tmp_path / "in"
    make_image(_named(folder, b"caf\xe9.jpg"), "JPEG")
    make_image(folder / "plain.jpg", "JPEG")
    _named(folder, b"broken \x93quoted\x94.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out, report = tmp_path / "out", tmp_path / "report.json"
    command = [sys.executable, "-m", "core.cli", str(folder), "-o", str(out), "--report", str(report)]
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr  # one item failed; nothing else went wrong
    assert "UnicodeEncodeError" not in result.stderr
    items = {row["source"]: row for row in json.loads(report.read_text(encoding="utf-8"))["items"]}
    broken = items.pop(f"{folder}/broken \ufffdquoted\ufffd.png")
    assert broken["status"] == "failed" and broken["error"].startswith("truncated or corrupt PNG")
    assert sorted(items) == [f"{folder}/caf\ufffd.jpg", f"{folder}/plain.jpg"]
    assert all(row["status"] == "done" for row in items.values())
    made = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert made == sorted(Path(row["outputs"][0]["path"]).name for row in items.values())
    assert all(name.isascii() for name in made)  # output names are sanitised
