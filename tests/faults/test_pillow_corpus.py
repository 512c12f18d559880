"""Pillow's own test images as a real-world corpus (a vendored subset, see pillow_images/README.md).

The oracle is Pillow itself, with the plugins the resizers register (HEIF, JPEG XL), under the same pixel limit,
and for documents (PDF) their renderer: every file they open and decode must become a thumbnail, given as a local
file or downloaded; every other file must fail with a message, never crash a resizer, never hang. The one
deliberate exception is EPS: Pillow reads it by running Ghostscript, which this tool never does on untrusted
data; EPS files must fail saying so. And where Pillow refuses a JPEG or PNG that ends early, this tool makes a
thumbnail of what decoded, `done` with a warning (DECODED_IN_PART).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.imaging import documents
from core.imaging import resize as _registers_the_plugins  # noqa: F401 -- HEIF and JPEG XL, as resizers do
from core.imaging.spec import ResizeError
from core.settings import Settings
from tests.support.harness import entries_of, list_file, output_files, run_batch, settings, stray_files
from tests.support.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "pillow_images"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md"))
MAX_PIXELS = Settings().max_pixels
NEVER_OPENED = {"EPS"}  # Pillow hands EPS to Ghostscript
#: Files cut short (no end marker) that Pillow refuses and this tool decodes in part: `done`, with a warning.
DECODED_IN_PART = {"truncated_jpeg.jpg", "truncated_image.png", "truncated_end_chunk.png", "broken_data_stream.png"}


def readable(path: Path) -> bool:
    """Does Pillow (with the resizers' plugins) open and decode this file under the same pixel limit (EPS
    aside), or, for a document, does its renderer open it?"""
    data = path.read_bytes()
    document = documents.find(data[:2048])
    if document is not None:
        try:
            document.open(data, MAX_PIXELS).render((64, 64))
        except ResizeError:
            return False
        return True
    return pillow_reads(path)


def pillow_reads(path: Path) -> bool:
    """Does Pillow open and decode this file under the same pixel limit (EPS aside)?"""
    Image.init()
    formats = [f for f in Image.OPEN if f not in NEVER_OPENED]
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=formats) as im:
                im.load()
        return True
    except Exception:
        return False
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@pytest.fixture(scope="module")
def corpus_batch(qapp, module_server: LoopbackServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(batch, {file: (local line, web line)}): the whole corpus, both ways, in one batch."""
    lines = {}
    for path in FILES:
        rel = path.relative_to(CORPUS).as_posix()
        lines[path] = (str(path), module_server.add(f"/corpus/{rel}", path.read_bytes()))
    folder = tmp_path_factory.mktemp("corpus")
    listing = list_file(folder, [line for pair in lines.values() for line in pair])
    yield run_batch(settings(folder / "out"), entries_of(listing), timeout=120), lines


def test_the_corpus_is_here() -> None:
    assert len(FILES) > 200
    assert len({p.suffix.lower() for p in FILES}) > 30


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(CORPUS).as_posix() for p in FILES])
def test_what_pillow_reads_becomes_a_thumbnail_and_the_rest_fails_cleanly(corpus_batch: tuple, path: Path) -> None:
    batch, lines = corpus_batch
    opens = readable(path)
    for line in lines[path]:
        row = batch.item(line)
        if opens or path.name in DECODED_IN_PART:
            assert opens != (path.name in DECODED_IN_PART)
            assert row["status"] == "done", row["error"]
            assert (row["warning"] or "").startswith("truncated: ") == (path.name in DECODED_IN_PART), row["warning"]
            for thumb in output_files(batch, row):
                with Image.open(thumb) as im:
                    im.load()
        else:
            assert row["status"] == "failed"
            error = row["error"] or ""
            assert error and "crashed" not in error and "unexpected" not in error, error
            if path.suffix == ".eps":
                assert "PostScript" in error
        assert row["seconds"] < 10


def test_no_resizer_crashed_and_nothing_is_left_behind(corpus_batch: tuple) -> None:
    batch, lines = corpus_batch
    assert len(batch.items) == 2 * len(lines)
    assert not [i for i in batch.items if "crashed" in (i["error"] or "")]
    assert stray_files(batch.out) == []


def test_pillows_warnings_about_odd_files_do_not_reach_the_terminal(tmp_path: Path) -> None:
    """Each of these makes Pillow warn (an invalid APNG, an ICO of the wrong size, corrupt EXIF); the user
    sees each item's outcome, not the decoder's notes."""
    odd = [
        "apng/syntax_num_frames_invalid.png",
        "hopper_unexpected.ico",
        "oom-225817ca0f8c663be7ab4b9e717b02c661e66834.tif",
    ]
    command = [sys.executable, "-m", "core.cli", *(str(CORPUS / name) for name in odd), "-o", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    assert "Warning" not in result.stderr and "warnings.warn" not in result.stderr, result.stderr
