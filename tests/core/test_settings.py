"""The shared settings: parsing of sizes and limits, validation messages, round trips."""

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, format_bytes, parse_bytes, parse_pixels


@pytest.mark.parametrize(
    ("text", "expected"),
    [("50M", 50 * 1024**2), ("512k", 512 * 1024), ("2G", 2 * 1024**3), ("1000", 1000), ("1.5M", 1572864)],
)
def test_byte_counts_accept_binary_suffixes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "ten", "-5M", "0", "5X"])
def test_bad_byte_counts_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(SettingsError, match="byte count"):
        parse_bytes(text)


def test_pixel_counts_accept_megapixels_and_dimensions() -> None:
    assert parse_pixels("100M") == 100_000_000
    assert parse_pixels("10000x5000") == 50_000_000
    with pytest.raises(SettingsError, match="pixel count"):
        parse_pixels("big")


def test_format_bytes_is_human() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(50 * 1024**2) == "50.0 MiB"


def test_validation_normalises_sizes_and_names_the_bad_flag() -> None:
    s = Settings(size=(512, 128, 512)).validated()
    assert s.size == (128, 512)
    with pytest.raises(SettingsError, match="--quality"):
        Settings(quality=0).validated()
    with pytest.raises(SettingsError, match="--background"):
        Settings(background="not-a-colour").validated()
    with pytest.raises(SettingsError, match="--size"):
        Settings(size=(0,)).validated()
    with pytest.raises(SettingsError, match="--per-host"):
        Settings(per_host=0).validated()


def test_dict_round_trip_keeps_every_field() -> None:
    s = Settings(out=Path("/tmp/x"), size=(64, 300), fit="cover", format="webp", max_bytes=1234, threads=3)
    again = Settings.from_dict(s.to_dict())
    assert again == s.validated()


def test_from_dict_reports_bad_values() -> None:
    with pytest.raises(SettingsError, match="threads"):
        Settings.from_dict({"threads": "many"})


def test_fingerprint_changes_with_output_options_only() -> None:
    base = Settings()
    assert base.output_fingerprint() == Settings(threads=2, timeout=5).output_fingerprint()
    assert base.output_fingerprint() != Settings(size=(128,)).output_fingerprint()
    assert base.output_fingerprint() != Settings(quality=70).output_fingerprint()
