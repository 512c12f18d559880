"""Damaged files: a JPEG, PNG or GIF cut short becomes a thumbnail of what decoded, with a warning that says how
much is missing; a file with nothing decodable still fails in words. Through the resizer, the report and the
command's last line."""

from __future__ import annotations

import csv
import json
import re
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from core.imaging.resize import ResizeError, ResizeSpec, make_thumbnails
from core.models import Summary
from tests.support import damaged
from tests.support.command import thumbnailer

SPEC = ResizeSpec(sizes=(160,))
CUTS = {"JPEG": damaged.jpeg_cut, "PNG": damaged.png_cut, "GIF": damaged.gif_cut}


def missing_percent(warning: str | None) -> int:
    assert warning is not None
    found = re.fullmatch(r"truncated: about (\d+)% of the image is missing", warning)
    assert found, warning
    return int(found.group(1))


def reference(tmp_path: Path) -> Image.Image:
    """The thumbnail of the whole picture."""
    result = make_thumbnails(damaged.encode(damaged.picture(), "PNG"), tmp_path / "whole", "whole", SPEC)
    return Image.open(tmp_path / "whole" / result.outputs[0].path).convert("RGB")


def close_to(a: Image.Image, b: Image.Image, tolerance: float = 12) -> bool:
    """Mean per-channel difference within `tolerance` (a JPEG's noise differs, its colours do not)."""
    diff = [abs(x - y) for x, y in zip(ImageStat.Stat(a).mean, ImageStat.Stat(b).mean, strict=True)]
    return max(diff) <= tolerance


@pytest.mark.parametrize("fmt", list(CUTS))
def test_a_file_cut_short_becomes_a_thumbnail_of_what_decoded(tmp_path: Path, fmt: str) -> None:
    cut = CUTS[fmt]()
    result = make_thumbnails(cut.data, tmp_path / "out", "cut", SPEC)

    assert (result.source_width, result.source_height) == (damaged.WIDTH, damaged.HEIGHT)
    assert abs(missing_percent(result.warning) - cut.missing * 100) <= 15
    (output,) = result.outputs
    with Image.open(tmp_path / "out" / output.path) as thumb:
        thumb.load()
    assert thumb.size == (160, 120)
    whole = reference(tmp_path)
    there = round(120 * (1 - cut.missing) * 0.8)  # the top part, clear of the last rows that decoded
    for band in range(4):  # every band the data still covers looks as in the whole file's thumbnail
        box = (0, band * 30 + 3, 160, min(there, (band + 1) * 30 - 3))
        if box[3] > box[1]:
            assert close_to(thumb.convert("RGB").crop(box), whole.crop(box)), (fmt, band)
    bottom = thumb.crop((0, 114, 160, 120))
    if fmt == "JPEG":  # what libjpeg, and so a browser, shows where the data ends: mid grey
        assert thumb.format == "JPEG"
        assert close_to(bottom.convert("RGB"), Image.new("RGB", bottom.size, (128, 128, 128)), 3)
    else:  # nothing there: transparent, on a PNG
        assert thumb.format == "PNG" and thumb.mode == "RGBA"
        assert bottom.getchannel("A").getextrema() == (0, 0)


def test_a_gif_cut_just_after_a_trailer_like_byte_is_still_cut_short(tmp_path: Path) -> None:
    """0x3B, a GIF's trailer, is also an ordinary byte of its image data: a cut that lands right after one must
    not read as a whole file (the share-based cuts hit this 1 time in 256)."""
    whole = damaged.encode(damaged.picture(), "GIF", interlace=False)
    start = damaged.gif_frame_data(whole)
    at = whole.index(b";", start + (len(whole) - start) // 2)  # one in the second half of the image data
    assert at < len(whole) - 2
    result = make_thumbnails(whole[: at + 1], tmp_path, "cut", SPEC)
    assert 0 < missing_percent(result.warning) < 100


def test_from_a_file_and_from_memory_alike(tmp_path: Path) -> None:
    cut = damaged.png_cut()
    src = tmp_path / "cut.png"
    src.write_bytes(cut.data)
    from_file = make_thumbnails(src, tmp_path / "a", "t", SPEC)
    from_memory = make_thumbnails(cut.data, tmp_path / "b", "t", SPEC)
    assert from_file.warning == from_memory.warning is not None
    assert (tmp_path / "a" / "t.png").read_bytes() == (tmp_path / "b" / "t.png").read_bytes()


def test_several_threads_salvage_and_decode_whole_files_at_once(tmp_path: Path) -> None:
    """Nothing process-wide is switched: whole files beside damaged ones decode as always, warning-free."""
    whole = damaged.encode(damaged.picture(), "JPEG")
    jobs = [(f"cut{i}", CUTS[fmt]().data) for i, fmt in enumerate(list(CUTS) * 3)]
    jobs += [(f"whole{i}", whole) for i in range(9)]
    results: dict[str, str | None] = {}

    def run(name: str, data: bytes) -> None:
        results[name] = make_thumbnails(data, tmp_path, name, SPEC).warning

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[name] is None for name, _ in jobs if name.startswith("whole"))
    assert all(results[name] is not None for name, _ in jobs if name.startswith("cut"))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (damaged.jpeg_without_scan_data(), "truncated or corrupt JPEG"),
        (damaged.encode(damaged.picture(), "JPEG")[:300], "truncated or corrupt JPEG"),
        (damaged.encode(damaged.picture(), "PNG")[:60], "truncated or corrupt PNG"),
        (damaged.encode(damaged.picture(), "GIF")[:500], "truncated or corrupt GIF"),
    ],
    ids=["JPEG without scan data", "JPEG cut in its header", "PNG cut before its data", "GIF cut in its palette"],
)
def test_a_file_with_nothing_to_decode_still_fails_in_words(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(ResizeError, match=f"^{words}"):
        make_thumbnails(data, tmp_path, "t", SPEC)
    assert list(tmp_path.iterdir()) == []


def test_a_whole_file_has_no_warning(tmp_path: Path) -> None:
    for fmt in CUTS:
        assert make_thumbnails(damaged.encode(damaged.picture(), fmt), tmp_path, fmt, SPEC).warning is None


def test_the_summary_counts_done_with_warnings_in_words() -> None:
    assert Summary(5, 5, 0, 0, 0, 1.0).done_words == "5 done"
    assert Summary(5, 5, 0, 0, 0, 1.0, warned=1).done_words == "5 done (1 with warning)"
    assert Summary(12, 12, 0, 0, 0, 1.0, warned=2).done_words == "12 done (2 with warnings)"


def test_the_command_reports_the_warning_and_counts_it(tmp_path: Path) -> None:
    sources = tmp_path / "in"
    sources.mkdir()
    cut = damaged.jpeg_cut()
    (sources / "cut.jpg").write_bytes(cut.data)
    (sources / "whole.png").write_bytes(damaged.encode(damaged.picture(), "PNG"))
    (sources / "empty.jpg").write_bytes(damaged.jpeg_without_scan_data())
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{sources / n}\n" for n in ("cut.jpg", "whole.png", "empty.jpg")), encoding="utf-8")
    out, report = tmp_path / "out", tmp_path / "r.json"

    result = thumbnailer(str(listing), "-o", str(out), "--report", str(report))
    assert result.returncode == 1, result.stderr  # the file with nothing to decode failed
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("2 done (1 with warning), 0 skipped, 1 failed, 0 invalid of 3 in "), last

    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"]["warnings"] == 1
    by_name = {Path(i["source"]).name: i for i in data["items"]}
    assert by_name["cut.jpg"]["status"] == "done"
    assert abs(missing_percent(by_name["cut.jpg"]["warning"]) - cut.missing * 100) <= 15
    assert by_name["whole.png"]["warning"] is None
    assert by_name["empty.jpg"]["status"] == "failed" and by_name["empty.jpg"]["warning"] is None
    assert by_name["empty.jpg"]["error"].startswith("truncated or corrupt JPEG")

    csv_report = tmp_path / "r.csv"
    again = thumbnailer(str(listing), "-o", str(out), "--report", str(csv_report))
    assert again.returncode == 1, again.stderr
    with csv_report.open(newline="", encoding="utf-8") as fh:
        rows = {Path(r["source"]).name: r for r in csv.DictReader(fh)}
    assert rows["cut.jpg"]["status"] == "skipped"  # made by the first run
    assert rows["cut.jpg"]["warning"] == by_name["cut.jpg"]["warning"]  # kept with the thumbnail it describes
    assert rows["whole.png"]["warning"] == ""
