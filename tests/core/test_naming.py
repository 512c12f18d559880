"""Output names: readable, stable, unique per URL, and safe on every file system."""

import hashlib
import re
import unicodedata
from pathlib import Path

import pytest

from core.models import Entry
from core.naming import (
    HASH_LEN,
    NameTemplate,
    NameTemplateError,
    name_key,
    output_filename,
    output_stem,
    safe_join,
)

HASH = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}$")
WINDOWS_FORBIDDEN = set('<>:"/\\|?*')


def readable(stem: str) -> str:
    assert HASH.search(stem), stem
    return stem[: -(HASH_LEN + 1)]


def assert_safe(stem: str) -> None:
    assert stem and stem == stem.strip(". ")
    assert "/" not in stem and "\\" not in stem and ".." not in stem
    assert not any(ord(c) < 32 or c in WINDOWS_FORBIDDEN for c in stem)
    assert not stem.startswith((".", "-"))
    # the longest name built from a stem, and its temporary name, fit in 255 bytes
    longest = "." + output_filename(stem, 8192, "webp", True, 8192, 8192) + ".4194304.tmp"
    assert len(longest.encode("utf-8")) < 255
    assert unicodedata.normalize("NFC", stem) == stem


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/photos/cat.jpg", "cat"),
        ("https://example.com/a/My%20Photo.JPEG?size=large", "My_Photo"),
        ("https://example.com/img?id=5", "img"),
        ("https://example.com/?id=5", "image"),
        ("https://example.com", "image"),
        ("https://example.com/gallery/", "image"),
        ("file:///home/me/Pictures/holiday.png", "holiday"),
        ("file:///C:/Users/me/scan%20001.tif", "scan_001"),
        ("https://h/..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("https://h/a%5C..%5Cb.jpg", "b"),
        ("https://h/..", "image"),
        ("https://h/...jpg", "image"),
        ("https://h/.hidden.jpg", "hidden"),
        ("https://h/v1.2.3", "v1.2"),
        ("https://h/a%00b%0A%1Fc.jpg", "a_b_c"),
        ("https://h/trailing.%20.jpg", "trailing"),
        ("https://h/x%3Cy%3E%3A%22%7C%3F%2A.png", "x_y"),
    ],
)
def test_readable_part(url: str, expected: str) -> None:
    stem = output_stem(url)
    assert readable(stem) == expected
    assert_safe(stem)


@pytest.mark.parametrize(
    "name", ["CON", "con", "Con.jpg", "PRN.txt.png", "AUX", "NUL.gif", "COM1", "com9.jpg", "LPT1", "lpt5"]
)
def test_windows_device_names_are_prefixed(name: str) -> None:
    stem = output_stem(f"https://h/{name}")
    assert readable(stem).startswith("_")
    assert readable(stem)[1:].split(".")[0].upper() in {"CON", "PRN", "AUX", "NUL", "COM1", "COM9", "LPT1", "LPT5"}


@pytest.mark.parametrize("name", ["CONSOLE.jpg", "COM10.jpg", "auxiliary.png", "nullable"])
def test_names_that_only_start_like_device_names_are_kept(name: str) -> None:
    assert not readable(output_stem(f"https://h/{name}")).startswith("_")


def test_absolute_paths_in_the_url_give_only_the_last_segment() -> None:
    for url in ("file:///etc/passwd", "https://h//etc/passwd", "https://h/%2Fetc%2Fpasswd"):
        assert readable(output_stem(url)) == "passwd"


def test_unicode_letters_are_kept_nfc_normalised() -> None:
    decomposed = "Cafe\u0301"  # 'e' + combining acute accent
    stem = output_stem("https://h/" + decomposed + ".jpg")
    assert readable(stem) == "Café"
    assert readable(output_stem("https://h/%E5%86%99%E7%9C%9F.jpg")) == "写真"
    assert readable(output_stem("https://h/Фото-№1.jpg")) == "Фото-_1"
    # bidi overrides and emoji are not letters
    assert readable(output_stem("https://h/a\u202eb😀c.jpg")) == "a_b_c"


@pytest.mark.parametrize("char", ["a", "é", "写", "😀", "\U00010348"])
def test_long_names_are_capped(char: str) -> None:
    stem = output_stem("https://h/" + char * 300 + ".jpg")
    assert_safe(stem)
    assert len(readable(stem)) <= 80
    assert len(stem.encode("utf-8")) <= 160 + 1 + HASH_LEN


def test_stems_are_stable_and_end_with_the_url_hash() -> None:
    url = "https://example.com/photos/cat.jpg?x=1"
    assert output_stem(url) == output_stem(url)
    assert output_stem(url).endswith("-" + hashlib.sha1(url.encode()).hexdigest()[:HASH_LEN])


def test_urls_differing_only_in_query_get_different_stems() -> None:
    stems = {output_stem(f"http://h/img?id={i}") for i in range(1000)}
    assert len(stems) == 1000
    assert output_stem("http://h/a.jpg") != output_stem("http://h/a.png")
    assert output_stem("http://h/x/a.jpg") != output_stem("http://h/y/a.jpg")


def test_output_filename() -> None:
    assert output_filename("cat-1234abcd", 256, "jpg", False, 256, 192) == "cat-1234abcd.jpg"
    assert output_filename("cat-1234abcd", 256, "jpg", True, 256, 192) == "cat-1234abcd_256.jpg"
    assert output_filename("cat-1234abcd", 64, ".PNG", True, 64, 48) == "cat-1234abcd_64.png"


def test_safe_join_accepts_names_inside(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a.jpg") == tmp_path / "a.jpg"
    assert safe_join(tmp_path, "sub/a.jpg") == tmp_path / "sub" / "a.jpg"
    assert safe_join(tmp_path, "sub/../a.jpg") == tmp_path / "sub/../a.jpg"


@pytest.mark.parametrize("name", ["../a.jpg", "sub/../../a.jpg", "/etc/passwd", "", ".", "sub/..", "a\x00.jpg"])
def test_safe_join_refuses_names_outside(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        safe_join(tmp_path / "out", name)


def test_safe_join_refuses_symlinks_leading_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError):
        safe_join(out, "link/a.jpg")


def test_every_stem_is_a_safe_join(tmp_path: Path) -> None:
    for url in ("https://h/..%2F..%2Fx", "file:///", "https://h/CON", "https://h/" + "x" * 400):
        name = output_filename(output_stem(url), 256, "jpg", True, 256, 256)
        assert safe_join(tmp_path, name).parent == tmp_path


# -- --name templates ------------------------------------------------------------------------------------------


def _name(template: str, url: str, rel_dir: str | None = None, line: int | None = None, number: int = 1) -> str:
    return NameTemplate.parse(template).item_name(Entry(url, url, line=line, rel_dir=rel_dir), number)


@pytest.mark.parametrize(
    ("template", "url", "rel_dir", "expected"),
    [
        ("", "https://h/a/b/photo_004.jpg?w=1", None, "photo_004"),
        ("", "file:///src/2023/summer/IMG_0001.JPG", "2023/summer", "2023/summer/IMG_0001"),
        ("", "file:///src/top.png", "", "top"),
        ("{dir}/{stem}", "https://h/a/b%20c/photo.jpg", None, "a/b_c/photo"),
        ("{dir}/{stem}", "https://h/photo.jpg", None, "photo"),  # an empty folder is dropped
        ("{host}/{stem}", "https://cdn.example.com:8443/x.jpg", None, "cdn.example.com_8443/x"),
        ("{host}/{stem}", "file:///pics/x.jpg", None, "x"),
        ("{host}", "file:///pics/x.jpg", None, "image"),  # nothing left of the file name
        ("{stem}-{hash}", "https://h/cat.jpg?id=1", None, output_stem("https://h/cat.jpg?id=1")),
        ("{stem}_{size}", "https://h/cat.jpg", None, "cat_{size}"),  # filled in per thumbnail
        ("{dir}/{stem}", "https://h/..%2F..%2Fetc/..%5Cx/%2E%2E/cat.jpg", None, "etc/x/cat"),
        ("{dir}/{stem}", "https://h/CON/aux.jpg", None, "_CON/_aux"),
        ("nul/{stem}", "https://h/cat.jpg", None, "_nul/cat"),
        ("{stem} {n}", "https://h/cat.jpg", None, "cat 7"),
        ("{stem}{{x}}", "https://h/a%7Bsize%7D.jpg", None, None),  # unbalanced: refused at parse
    ],
)
def test_item_names(template: str, url: str, rel_dir: str | None, expected: str | None, tmp_path: Path) -> None:
    if expected is None:
        with pytest.raises(NameTemplateError):
            NameTemplate.parse(template)
        return
    name = _name(template, url, rel_dir, number=7)
    assert name == expected
    assert safe_join(tmp_path, output_filename(name, 256, "jpg", True, 256, 192)).is_relative_to(tmp_path)


def test_a_field_value_never_carries_a_field() -> None:
    name = _name("{stem}_{size}", "https://h/a%7Bwidth%7D.jpg")
    assert output_filename(name, 64, "png", False, 64, 40) == "a_width_64.png"


def test_n_is_the_list_line_or_else_the_number_in_input_order() -> None:
    assert _name("{n}", "https://h/x.jpg", line=12, number=3) == "12"
    assert _name("{n}", "https://h/x.jpg", number=3) == "3"
    assert _name("{n}", "file:///src/x.jpg", rel_dir="", line=2, number=5) == "5"  # a folder named on line 2


def test_output_filename_fills_the_thumbnail_s_fields() -> None:
    assert output_filename("a/cat-{width}x{height}", 128, "webp", False, 128, 96) == "a/cat-128x96.webp"
    assert output_filename("a/cat-{width}x{height}", 128, "webp", True, 128, 96) == "a/cat-128x96_128.webp"
    assert output_filename("{size}/cat", 128, "jpg", True, 128, 96) == "128/cat.jpg"


def test_names_clash_as_case_insensitive_file_systems_see_them() -> None:
    assert name_key("Photo") == name_key("PHOTO") == name_key("photo")
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("e\u0301") == name_key("É")
    assert name_key("a/B") != name_key("a_b")
