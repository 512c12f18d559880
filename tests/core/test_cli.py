"""The `thumbnailer` command as a user runs it: a real subprocess over the loopback server."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.cli import _Console, build_parser, main, settings_from_args
from core.models import Progress
from tests.support.command import ROOT, poll_until, thumbnailer


def test_a_few_hundred_urls_become_thumbnails_with_a_complete_report(http_server, tmp_path: Path) -> None:
    urls = [http_server.url(f"/img/n{i}.jpg?w={300 + i}&h=200&color=00ff00") for i in range(300)]
    listing = tmp_path / "list.txt"
    listing.write_text("# catalogue\n" + "\n".join(urls) + "\n\n" + urls[0] + "\n")
    out, report = tmp_path / "out", tmp_path / "r.json"

    result = thumbnailer(str(listing), "-o", str(out), "--report", str(report), "--processes", "2")
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    items = data["items"]
    assert len(items) == 300  # the duplicate last line is the same item
    assert {i["status"] for i in items} == {"done"}
    first = items[0]
    assert (first["source"], first["file"], first["line"]) == (urls[0], str(listing), 2)
    assert first["url"] == urls[0] and first["http_status"] == 200 and first["bytes"] > 0
    assert (first["source_width"], first["source_height"]) == (300, 200)
    (output,) = first["outputs"]
    with Image.open(output["path"]) as im:
        assert im.size == (output["width"], output["height"]) == (256, 171)
        assert im.convert("RGB").getpixel((128, 85))[1] > 200
    assert data["summary"]["done"] == 300

    hits = http_server.total_hits()
    again = thumbnailer(str(listing), "-o", str(out), "--report", str(report))
    assert again.returncode == 0, again.stderr
    assert {i["status"] for i in json.loads(report.read_text())["items"]} == {"skipped"}
    assert http_server.total_hits() == hits


def test_failures_and_invalid_lines_give_exit_1_and_a_csv_report(http_server, tmp_path: Path) -> None:
    listing = tmp_path / "mixed.txt"
    listing.write_text(
        "\n".join(
            [http_server.url("/img/ok.png?w=64&h=64"), "ftp://example.invalid/a.jpg", http_server.url("/status/404")]
        )
    )
    report = tmp_path / "r.csv"
    result = thumbnailer(str(listing), "-o", str(tmp_path / "out"), "--report", str(report), "--quiet")
    assert result.returncode == 1
    assert "404" in result.stderr and "ftp" in result.stderr
    with report.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["done", "invalid", "failed"]
    assert rows[1]["line"] == "2" and "scheme" in rows[1]["error"]
    assert rows[2]["http_status"] == "404"
    assert rows[0]["output_sizes"] == "64x64"


def test_stdin_and_several_sizes(http_server, tmp_path: Path) -> None:
    url = http_server.url("/img/multi.jpg?w=1000&h=500")
    result = thumbnailer("-", "-o", str(tmp_path), "-s", "100", "-s", "400", "--format", "webp", stdin=url + "\n")
    assert result.returncode == 0, result.stderr
    sizes = []
    for path in tmp_path.glob("*.webp"):
        with Image.open(path) as im:
            sizes.append(im.size)
    sizes.sort()
    assert sizes == [(100, 50), (400, 200)]


def test_usage_errors_exit_2_with_a_message(tmp_path: Path) -> None:
    assert thumbnailer().returncode == 2
    bad = thumbnailer("x.txt", "--max-bytes", "lots")
    assert bad.returncode == 2 and "byte count" in bad.stderr
    assert thumbnailer("x.txt", "--quality", "0").returncode == 2
    assert thumbnailer("x.txt", "--report", str(tmp_path / "r.xml")).returncode == 2


def test_help_documents_every_flag_with_its_default() -> None:
    text = thumbnailer("--help").stdout
    for flag in (
        "--out",
        "--size",
        "--fit",
        "--format",
        "--quality",
        "--background",
        "--threads",
        "--per-host",
        "--timeout",
        "--retries",
        "--max-bytes",
        "--max-rate",
        "--max-pixels",
        "--processes",
        "--user-agent",
        "--force",
        "--retry-failed",
        "--report",
        "--quiet",
        "--keep-metadata",
        "--upscale",
    ):
        assert flag in text
    assert "default: 256" in text and "default: 50M" in text


def test_interrupt_saves_the_journal_and_the_same_command_finishes(http_server, tmp_path: Path) -> None:
    urls = [http_server.url(f"/img/i{i}.jpg?w=64&h=64") for i in range(3)] + [http_server.url("/drip/slow.jpg?bps=50")]
    listing = tmp_path / "l.txt"
    listing.write_text("\n".join(urls))
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", str(listing), "-o", str(tmp_path / "out"), "--timeout", "300"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        poll_until(lambda: http_server.hits("/drip/slow.jpg") > 0, timeout=30)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again" in err
    last = re.fullmatch(r"(\d) done, 0 skipped, 0 failed, 0 invalid, (\d) not reached of 4 in .*", err.splitlines()[-1])
    assert last and int(last[1]) + int(last[2]) == 4, err  # what it did not get to is not called skipped
    done = thumbnailer(
        str(listing), "-o", str(tmp_path / "out"), "--timeout", "1", "--report", str(tmp_path / "r.json")
    )
    assert done.returncode == 1  # the drip now hits the 1 s timeout
    statuses = [i["status"] for i in json.loads((tmp_path / "r.json").read_text())["items"]]
    assert statuses.count("failed") == 1 and len(statuses) == 4


def test_version_is_the_installed_one() -> None:
    import tomllib

    expected = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["version"]
    done = thumbnailer("--version")
    assert (done.returncode, done.stdout) == (0, f"thumbnailer {expected}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "high"], "argument -q/--quality: invalid int value: 'high'"),
        (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
        (["--max-bytes", "lots"], "argument --max-bytes: not a byte count: 'lots' (use a number with an optional K"),
        (["--max-pixels", "big"], "argument --max-pixels: not a pixel count: 'big' (e.g. 100M or 10000x10000)"),
        (["--fit", "fill"], "argument --fit: invalid choice: 'fill' (choose from 'contain', 'cover', 'pad')"),
        (["--quality", "0"], "--quality must be between 1 and 100, got 0"),
        (["--size", "0"], "--size must be between 1 and 8192 px, got 0"),
        (["--strip", "--keep-metadata"], "argument --keep-metadata: not allowed with argument --strip"),
    ],
)
def test_bad_flags_are_usage_errors_in_words(capsys, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["x.txt", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_flags_become_settings() -> None:
    args = build_parser().parse_args(
        ["-s", "512", "-s", "128", "--fit", "pad", "-f", "png", "--keep-metadata", "--max-bytes", "2M", "-o", "~/t"]
    )
    s = settings_from_args(args)
    assert (s.size, s.fit, s.format, s.keep_metadata, s.max_bytes) == ((128, 512), "pad", "png", True, 2 * 1024**2)
    assert s.out == Path("~/t").expanduser() and s.quality == 85


def _log_file(state: Path) -> Path:
    (path,) = state.rglob("batch-thumbnailer.log")
    return path


def test_verbose_prints_debug_lines_and_keeps_them_in_the_log_file(http_server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    url = http_server.url("/img/a.jpg?w=64&h=64")
    quiet = thumbnailer(url, "-o", str(tmp_path / "out1"))
    assert quiet.returncode == 0 and "DEBUG" not in quiet.stderr
    text = _log_file(tmp_path / "state").read_text(encoding="utf-8")
    assert "thumbnailer started:" in text and "batch ended: 1 done" in text and "DEBUG" not in text

    loud = thumbnailer(url, "-o", str(tmp_path / "out2"), "-v")
    assert loud.returncode == 0, loud.stderr
    assert "DEBUG core.cli: settings: Settings(" in loud.stderr
    text = _log_file(tmp_path / "state").read_text(encoding="utf-8")
    assert text.count("thumbnailer started:") == 2
    assert "DEBUG MainThread core.cli: settings: Settings(" in text


def test_help_names_the_log_file_and_verbose(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "400")  # argparse would break the long test path
    text = thumbnailer("--help").stdout
    assert "-v, --verbose" in text
    assert str(tmp_path / "state" / "batch-thumbnailer" / "log" / "batch-thumbnailer.log") in " ".join(text.split())


class _Terminal(io.StringIO):
    """stderr as a terminal of a given width: what a user sees is the text after the last carriage return."""

    def isatty(self) -> bool:
        return True


def _progress(**fields: object) -> Progress:
    base: dict[str, object] = dict(
        total=120000, done=31000, failed=1200, images_per_second=123.4, bytes_per_second=5.6e6, eta_seconds=3725
    )
    return Progress(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize("columns", [200, 80, 70, 60, 40, 12])
def test_the_progress_line_never_wraps_on_a_narrow_terminal(columns: int, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    terminal = _Terminal()
    console = _Console(terminal, quiet=False)
    console.progress(_progress())
    console.progress(_progress(done=31001, paused=True))
    screen = terminal.getvalue().split("\r")[-1]
    assert "\n" not in terminal.getvalue()
    assert len(screen) < columns
    assert screen.startswith("32201/120000 done"[: columns - 1])
    if columns > 75:  # the whole line is 75 characters
        assert screen.rstrip() == "32201/120000 done, 1200 failed, 123.4 img/s, 5.6 MB/s, ETA 1:02:05 (paused)"
    elif columns > 65:  # the transfer rate goes first
        assert screen.rstrip() == "32201/120000 done, 1200 failed, 123.4 img/s, ETA 1:02:05 (paused)"
    elif columns > 52:  # then the ETA
        assert screen.rstrip() == "32201/120000 done, 1200 failed, 123.4 img/s (paused)"


def test_the_progress_line_follows_a_resized_terminal_and_error_lines_clear_it(monkeypatch) -> None:
    terminal = _Terminal()
    console = _Console(terminal, quiet=False)
    monkeypatch.setenv("COLUMNS", "120")
    console.progress(_progress())
    monkeypatch.setenv("COLUMNS", "40")  # the window was narrowed: the next line is re-fitted, padding too
    console.progress(_progress(done=31001))
    assert all(len(part) < 40 for part in terminal.getvalue().split("\r")[2:])
    console.message("DEBUG core.download: a debug line")
    assert terminal.getvalue().endswith("\rDEBUG core.download: a debug line\n")
