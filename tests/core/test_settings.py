"""The shared settings: parsing of sizes and limits, validation messages, round trips."""

from pathlib import Path

import pytest

from core.download.limits import FetchLimits
from core.imaging.spec import ResizeSpec
from core.settings import Fit, Format, Settings, SettingsError, format_bytes, parse_bytes, parse_pixels


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


def test_fingerprint_text_is_the_one_existing_journals_hold() -> None:
    """Output folders store this string; a different text for the same values would redo every item."""
    assert Settings().output_fingerprint() == "s=256;fit=contain;up=0;fmt=auto;q=85;bg=white;meta=0"
    custom = Settings(
        size=(300, 64), fit="cover", upscale=True, format="webp", quality=70, background="#202020", keep_metadata=True
    )
    expected = "s=64,300;fit=cover;up=1;fmt=webp;q=70;bg=#202020;meta=1"
    assert custom.validated().output_fingerprint() == expected
    assert (
        Settings(
            size=(64, 300),
            fit=Fit.COVER,
            upscale=True,
            format=Format.WEBP,
            quality=70,
            background="#202020",
            keep_metadata=True,
        ).output_fingerprint()
        == expected
    )


def test_fit_and_format_are_enums_that_store_as_their_strings() -> None:
    s = Settings.from_dict({"fit": "cover", "format": "png"})
    assert (s.fit, s.format) == (Fit.COVER, Format.PNG) and (s.fit, s.format) == ("cover", "png")
    plain = s.to_dict()
    assert (plain["fit"], plain["format"]) == ("cover", "png")
    assert type(plain["fit"]) is str and type(plain["format"]) is str  # QSettings and JSON take plain strings
    with pytest.raises(SettingsError, match="--fit must be one of contain, cover, pad, got 'fill'"):
        Settings(fit="fill").validated()  # type: ignore[arg-type]


def test_the_specs_are_fed_by_the_settings() -> None:
    s = Settings(
        size=(64, 300),
        fit="cover",
        format="webp",
        quality=70,
        max_pixels=5_000_000,
        timeout=12,
        max_bytes=1024,
        user_agent="Tester/1",
    ).validated()
    assert s.resize_spec() == ResizeSpec(
        sizes=(64, 300),
        fit=Fit.COVER,
        upscale=False,
        format=Format.WEBP,
        quality=70,
        background="white",
        keep_metadata=False,
        max_pixels=5_000_000,
    )
    assert s.fetch_limits() == FetchLimits(timeout=12, max_bytes=1024, user_agent="Tester/1")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": ()}, "at least one --size is needed"),
        ({"size": (9000,)}, "--size must be between 1 and 8192 px, got 9000"),
        ({"format": "gif"}, "--format must be one of auto, jpeg, png, webp, avif, got 'gif'"),
        ({"quality": 101}, "--quality must be between 1 and 100, got 101"),
        ({"threads": 0}, "--threads must be between 1 and 256, got 0"),
        ({"timeout": 0.5}, "--timeout must be between 1 and 3600, got 0.5"),
        ({"retries": 21}, "--retries must be between 0 and 20, got 21"),
        ({"processes": 65}, "--processes must be between 1 and 64, got 65"),
        ({"max_bytes": 0}, "--max-bytes must be positive"),
        ({"max_pixels": -1}, "--max-pixels must be positive"),
        ({"user_agent": "a\nb"}, "--user-agent must be one non-empty line"),
        ({"background": "nope"}, "--background is not a colour: 'nope' (try white, #202020 or rgb(0,0,0))"),
        ({"cluster": "no address"}, "--cluster is not a Dask scheduler address: 'no address'"),
    ],
)
def test_validation_messages_name_the_flag(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(**values).validated()  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_stored_strings_come_back_as_values() -> None:
    """QSettings keeps every value as a string."""
    s = Settings.from_dict(
        {
            "size": "128, 512",
            "upscale": "true",
            "timeout": "12",
            "max_bytes": "5M",
            "max_pixels": "4000x3000",
            "out": "/tmp/x",
            "cluster": "sched:8786",
        }
    )
    assert (s.size, s.upscale, s.timeout, s.max_bytes, s.max_pixels) == (
        (128, 512),
        True,
        12.0,
        5 * 1024**2,
        12_000_000,
    )
    assert (s.out, s.cluster) == (Path("/tmp/x"), "tcp://sched:8786")
