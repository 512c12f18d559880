"""`--crop`: where `--fit cover` cuts. A photo with its subject off-centre keeps the subject under `attention` and
`entropy` and loses it under `centre`, in every size; nothing else changes (`contain`, today's fingerprint)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from core.cli import main
from core.imaging.resize import make_thumbnails
from core.imaging.spec import Crop, Fit, ResizeSpec
from core.settings import Settings
from tests.support.command import thumbnailer
from tests.support.images import is_red, salient_disc

GREY = (128, 128, 128)
SMART = [Crop.ATTENTION, Crop.ENTROPY]


def _thumbs(src: Path, out: Path, crop: Crop, sizes: tuple[int, ...] = (64, 160)) -> list[Image.Image]:
    result = make_thumbnails(src, out / crop, "t", ResizeSpec(sizes=sizes, fit=Fit.COVER, crop=crop))
    return [Image.open(out / crop / o.path).convert("RGB") for o in result.outputs]


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """A 3:1 JPEG (decoded shrunk on load) with the subject at its left edge."""
    path = tmp_path / "wide.jpg"
    salient_disc((2400, 800), (300, 400), 260).save(path, quality=92)
    return path


@pytest.mark.parametrize("crop", SMART)
def test_a_subject_at_the_left_edge_is_kept_in_every_size(wide: Path, tmp_path: Path, crop: Crop) -> None:
    for thumb in _thumbs(wide, tmp_path, crop):
        s = thumb.width
        assert thumb.size == (s, s)
        assert is_red(thumb.getpixel((s // 3, s // 2))), crop  # the disc fills the left of the square
        assert is_red(thumb.getpixel((s // 2, s // 2))), crop  # ... and its middle


def test_centre_cuts_the_subject_away(wide: Path, tmp_path: Path) -> None:
    for thumb in _thumbs(wide, tmp_path, Crop.CENTRE):
        s = thumb.width
        assert not any(is_red(thumb.getpixel((x, y))) for x in range(0, s, 4) for y in range(0, s, 4))


@pytest.mark.parametrize("crop", SMART)
def test_a_subject_near_the_top_of_a_tall_image_is_kept(tmp_path: Path, crop: Crop) -> None:
    path = tmp_path / "tall.png"
    salient_disc((500, 1500), (250, 200), 180).save(path)
    (thumb,) = _thumbs(path, tmp_path, crop, sizes=(100,))
    assert is_red(thumb.getpixel((50, 50))) and is_red(thumb.getpixel((50, 30)))
    (centred,) = _thumbs(path, tmp_path, Crop.CENTRE, sizes=(100,))
    assert not is_red(centred.getpixel((50, 50)))


def test_nothing_to_choose_from_is_cut_in_the_centre(tmp_path: Path) -> None:
    """Stripes across the whole width: every window scores the same, so the smart crops cut as `centre`."""
    path = tmp_path / "stripes.png"
    im = Image.new("RGB", (900, 300), GREY)
    for y in range(0, 300, 30):
        ImageDraw.Draw(im).rectangle((0, y, 899, y + 9), fill=(200, 30, 30))
    im.save(path)
    centre = _thumbs(path, tmp_path, Crop.CENTRE, sizes=(90,))[0].tobytes()
    assert all(_thumbs(path, tmp_path, crop, sizes=(90,))[0].tobytes() == centre for crop in SMART)


def test_crop_changes_nothing_for_contain(wide: Path, tmp_path: Path) -> None:
    made = {}
    for crop in Crop:
        result = make_thumbnails(wide, tmp_path / crop, "t", ResizeSpec(sizes=(128,), fit=Fit.CONTAIN, crop=crop))
        made[crop] = (tmp_path / crop / result.outputs[0].path).read_bytes()
    assert made[Crop.ATTENTION] == made[Crop.CENTRE] == made[Crop.ENTROPY]


def test_a_crop_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="crop must be one of centre, attention, entropy, got 'left'"):
        ResizeSpec(crop="left")  # type: ignore[arg-type]


def test_the_command_takes_crop_attention(wide: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = thumbnailer(str(wide), "-o", str(out), "--fit", "cover", "--crop", "attention", "-s", "96", "--quiet")
    assert proc.returncode == 0, proc.stderr
    (made,) = out.glob("*.jpg")
    thumb = Image.open(made).convert("RGB")
    assert thumb.size == (96, 96) and is_red(thumb.getpixel((48, 48)))


def test_the_command_refuses_an_unknown_crop_in_argparse_words(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["x.txt", "--crop", "foo"])
    assert exited.value.code == 2
    assert "argument --crop: invalid choice: 'foo' (choose from 'centre', 'attention', 'entropy')" in (
        capsys.readouterr().err
    )


def test_centre_keeps_the_fingerprint_existing_output_folders_hold() -> None:
    """Folders made before --crop existed were cut in the centre: they must not be redone."""
    centre = Settings(fit=Fit.COVER, crop=Crop.CENTRE).validated().output_fingerprint()
    assert centre == "s=256;fit=cover;up=0;fmt=auto;q=85;bg=white;meta=0"
    attention = Settings(fit=Fit.COVER, crop=Crop.ATTENTION).validated().output_fingerprint()
    assert attention == "s=256;fit=cover;crop=attention;up=0;fmt=auto;q=85;bg=white;meta=0"


@pytest.mark.parametrize("fit", [Fit.CONTAIN, Fit.PAD])
def test_a_crop_that_changes_no_byte_redoes_nothing(fit: Fit) -> None:
    """Only `cover` crops: switching --crop under contain or pad keeps the fingerprint, so a re-run skips all."""
    fingerprints = {Settings(fit=fit, crop=crop).validated().output_fingerprint() for crop in Crop}
    assert fingerprints == {Settings(fit=fit).validated().output_fingerprint()}
