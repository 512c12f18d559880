"""core.download.fetch against the real loopback server: what arrives, what is refused, and in how long."""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, features

from core.download.fetch import (
    Aborted,
    Downloader,
    Fetched,
    FetchError,
    content_digest,
    describe_non_image,
    sniff_image,
)
from core.download.limits import FetchLimits
from core.settings import Settings, format_bytes
from tests.support.fetching import FAST, downloader_fixture, never  # noqa: F401 -- the `downloader` fixture
from tests.support.loopback import LoopbackServer, image_bytes


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"  # not created: fetch must make it


def leftovers(spool: Path) -> list[Path]:
    return sorted(spool.iterdir()) if spool.exists() else []


def fails(
    downloader: Downloader,
    url: str,
    spool: Path,
    limits: FetchLimits = FAST,
    on_bytes: Callable[[int], None] | None = None,
) -> FetchError:
    """Fetch `url`, expect a FetchError, and check nothing was left in the spool folder."""
    with pytest.raises(FetchError) as info:
        downloader.fetch(url, spool, limits, never, on_bytes)
    assert leftovers(spool) == []
    assert str(info.value) == info.value.message
    return info.value


def call_when(condition: Callable[[], bool], action: Callable[[], None]) -> threading.Thread:
    """Run `action` from another thread as soon as `condition` holds (gives up after 5 s)."""

    def run() -> None:
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- images that arrive ------------------------------------------------------------------------------


def test_image_arrives_whole_in_the_spool_folder(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    counted: list[int] = []
    url = http_server.url("/img/cat.jpg?w=320&h=240")
    got = downloader.fetch(url, spool, FAST, never, counted.append)
    expected = image_bytes("cat", "jpg", 320, 240)
    digest = content_digest(expected)  # hashed as the bytes passed
    assert got == Fetched(got.path, url, 200, len(expected), True, digest=digest)
    assert got.path.parent == spool and got.path.suffix == ".part"
    assert got.path.read_bytes() == expected
    assert sum(counted) == len(expected)
    with Image.open(got.path) as image:
        assert (image.format, image.size) == ("JPEG", (320, 240))
    assert http_server.requests[-1].headers["User-Agent"] == FAST.user_agent


@pytest.mark.parametrize(
    "query", ["nolength=1", "gzip=1", "gzip=1&nolength=1"], ids=["chunked", "gzip", "gzip-chunked"]
)
def test_chunked_and_gzip_bodies_are_decoded(
    http_server: LoopbackServer, spool: Path, query: str, downloader: Downloader
) -> None:
    counted: list[int] = []
    got = downloader.fetch(http_server.url(f"/img/dog.png?w=200&h=100&{query}"), spool, FAST, never, counted.append)
    expected = image_bytes("dog", "png", 200, 100)
    assert got.path.read_bytes() == expected
    assert got.bytes == sum(counted) == len(expected)
    if "gzip" in query:  # really compressed on the wire
        assert http_server.bytes_served("/img/dog.png") != len(expected)


@pytest.mark.parametrize("content_type", ["text/plain", "", "text/html", "application/octet-stream"])
def test_content_type_is_not_trusted(
    http_server: LoopbackServer, spool: Path, content_type: str, downloader: Downloader
) -> None:
    got = downloader.fetch(http_server.url(f"/img/a.webp?ct={content_type}"), spool, FAST, never)
    assert sniff_image(got.path.read_bytes()) == "webp"


def test_keep_alive_connections_are_reused_per_thread(
    http_server: LoopbackServer, tmp_path: Path, downloader: Downloader
) -> None:
    results: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                got = downloader.fetch(http_server.url(f"/img/t{n}-{i}.jpg"), tmp_path, FAST, never)
                results[f"t{n}-{i}"] = got.path.read_bytes()
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {name: image_bytes(name, "jpg") for name in results} and len(results) == 30
    assert http_server.connections_opened <= 6


# --- answers that are not images ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/html", "server sent HTML, not an image"),
        ("/empty", "empty response"),
    ],
)
def test_a_200_that_is_not_an_image_is_refused(
    http_server: LoopbackServer, spool: Path, path: str, message: str, downloader: Downloader
) -> None:
    err = fails(downloader, http_server.url(path), spool)
    assert err.message.startswith(message)
    assert (err.http_status, err.retryable) == (200, False)


def test_json_served_as_an_image_is_refused(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    url = http_server.add("/api/photo.jpg", b'{"error": "no such photo"}', {"Content-Type": "image/jpeg"})
    assert fails(downloader, url, spool).message == "server sent JSON, not an image"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 451])
def test_client_errors_are_not_retried(
    http_server: LoopbackServer, spool: Path, code: int, downloader: Downloader
) -> None:
    err = fails(downloader, http_server.url(f"/status/{code}"), spool)
    assert (err.http_status, err.retryable, err.retry_after) == (code, False, None)
    if code == 404:
        assert err.message == "HTTP 404 Not Found"


@pytest.mark.parametrize("code", [408, 425, 429, 500, 502, 503, 504, 507])
def test_server_errors_and_throttling_are_retryable(
    http_server: LoopbackServer, spool: Path, code: int, downloader: Downloader
) -> None:
    err = fails(downloader, http_server.url(f"/status/{code}"), spool)
    assert (err.http_status, err.retryable) == (code, True)


def test_503_with_retry_after_seconds_then_the_image(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    url = http_server.url("/retry/1/busy.jpg?after=7")
    err = fails(downloader, url, spool)
    assert (err.message, err.retryable, err.retry_after) == ("HTTP 503 Service Unavailable", True, 7.0)
    got = downloader.fetch(url, spool, FAST, never)  # what the runner does after waiting
    assert got.path.read_bytes() == image_bytes("busy", "jpg")
    assert http_server.hits("/retry/1/busy.jpg") == 2


def test_429_with_retry_after_as_an_http_date(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    err = fails(downloader, http_server.url("/retry/1/slow.jpg?code=429&after=30&date=1"), spool)
    assert err.message == "HTTP 429 Too Many Requests" and err.retryable
    assert err.retry_after is not None and 28 <= err.retry_after <= 30  # an HTTP date has whole seconds


def test_retry_after_in_the_past_or_unreadable(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    assert fails(downloader, http_server.url("/status/503?after=-60&date=1"), spool).retry_after == 0
    url = http_server.add("/busy", b"busy", {"Retry-After": "soon"}, status=503)
    err = fails(downloader, url, spool)
    assert err.retryable and err.retry_after is None


# --- the network failing ------------------------------------------------------------------------------


def test_connection_refused(spool: Path, downloader: Downloader) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    err = fails(downloader, f"http://127.0.0.1:{port}/a.jpg", spool)
    assert (err.message, err.retryable, err.http_status) == ("connection refused", True, None)
    assert time.monotonic() - started < 2


def test_unresolvable_host(spool: Path, downloader: Downloader) -> None:
    host = "no-such-host.invalid"  # a reserved name: must fail, and fail locally
    outcome: list[object] = []
    probe = threading.Thread(target=lambda: outcome.append(_resolve(host)), daemon=True)
    probe.start()
    probe.join(3)
    if not outcome:
        pytest.skip("resolving a .invalid name hangs in this sandbox")
    if outcome[0] is not None:
        pytest.skip("this resolver answers for .invalid names")
    err = fails(downloader, f"http://{host}/a.jpg", spool)
    assert err.message == f"could not resolve host {host}"
    assert err.http_status is None


def _resolve(host: str) -> object:
    try:
        return socket.getaddrinfo(host, 80)
    except socket.gaierror:
        return None


def test_slow_drip_is_cut_by_the_total_timeout(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    counted: list[int] = []
    started = time.monotonic()
    err = fails(downloader, http_server.url("/drip/slow.jpg?bps=40"), spool, FetchLimits(timeout=1.5), counted.append)
    elapsed = time.monotonic() - started
    assert err.message.startswith("download took longer than --timeout 1.5 s (got ")
    assert err.retryable
    assert counted, "bytes kept arriving, so a per-read timeout alone would never have fired"
    assert 1.4 < elapsed < 3


def test_headers_dripping_are_cut_by_the_total_timeout_too(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    started = time.monotonic()
    err = fails(downloader, http_server.url("/drip/slow.jpg?bps=20&headers=1"), spool, FetchLimits(timeout=1.5))
    assert err.message == "download took longer than --timeout 1.5 s" and err.retryable
    assert 1.4 < time.monotonic() - started < 3


def test_a_server_that_never_answers_is_cut_by_the_timeout(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    started = time.monotonic()
    err = fails(downloader, http_server.url("/hang"), spool, FetchLimits(timeout=1.5))
    assert err.message == "download took longer than --timeout 1.5 s" and err.retryable
    assert 1.4 < time.monotonic() - started < 3


def test_hang_up_mid_body(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    err = fails(downloader, http_server.url("/hangup/half.jpg?w=600&h=600"), spool)
    size = len(image_bytes("half", "jpg", 600, 600))
    assert err.message == f"connection closed after {format_bytes(size // 2)} of {format_bytes(size)}"
    assert err.retryable


def test_tls_certificate_that_does_not_verify(
    https_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    err = fails(downloader, https_server.url("/img/secure.jpg"), spool)
    assert err.message.startswith("TLS certificate verification failed: ")
    assert not err.retryable


def test_a_ca_bundle_named_by_the_environment_is_trusted(
    https_server: LoopbackServer,
    tls_cert: tuple[Path, Path],
    spool: Path,
    monkeypatch: pytest.MonkeyPatch,
    downloader: Downloader,
) -> None:
    """Sessions read requests' environment once: REQUESTS_CA_BUNDLE still decides what verifies."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    fetched = downloader.fetch(https_server.url("/img/secure.jpg"), spool, FAST, never)
    with Image.open(fetched.path) as im:
        assert im.format == "JPEG"


def test_a_proxy_from_the_environment_carries_the_request(
    http_server: LoopbackServer, spool: Path, monkeypatch: pytest.MonkeyPatch, downloader: Downloader
) -> None:
    """HTTP_PROXY is honoured, and NO_PROXY exempts a host (the host below does not resolve, so only a proxy
    can fetch it)."""
    for name in ("HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", http_server.url("/").rstrip("/"))
    url = "http://images.example.invalid/img/proxied.png"
    fetched = downloader.fetch(url, spool, FAST, never)
    with Image.open(fetched.path) as im:
        assert im.format == "PNG"
    fetched.path.unlink()
    assert http_server.requests[-1].target == url  # the absolute form a proxy receives

    monkeypatch.setenv("NO_PROXY", "images.example.invalid")
    with Downloader() as fresh:  # a Downloader reads the environment when it makes its sessions
        err = fails(fresh, url, spool)
    assert "images.example.invalid" in err.message
    assert len(http_server.requests) == 1


# --- size limits --------------------------------------------------------------------------------------


def test_content_length_over_the_cap_is_refused_before_the_body(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    counted: list[int] = []
    started = time.monotonic()
    err = fails(downloader, http_server.url("/huge?claim=2147483648"), spool, on_bytes=counted.append)
    assert err.message == "download over --max-bytes 50.0 MiB (Content-Length says 2.0 GiB)"
    assert not err.retryable and err.http_status == 200
    assert counted == []
    assert time.monotonic() - started < 1
    # what the server pushed into socket buffers before the client hung up, far below the cap
    assert http_server.bytes_served("/huge") < 50 * 1024**2


@pytest.mark.parametrize("query", ["", "?gzip=1"], ids=["plain", "gzip-bomb"])
def test_endless_body_is_cut_at_the_cap(
    http_server: LoopbackServer, spool: Path, query: str, downloader: Downloader
) -> None:
    counted: list[int] = []
    limits = FetchLimits(timeout=5, max_bytes=1024**2)
    started = time.monotonic()
    err = fails(downloader, http_server.url(f"/endless{query}"), spool, limits, counted.append)
    assert err.message.startswith("download over --max-bytes 1.0 MiB")
    assert ("after decompression" in err.message) == bool(query)
    assert sum(counted) <= limits.max_bytes
    assert time.monotonic() - started < 2


# --- redirects ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_chain_is_followed(
    http_server: LoopbackServer, spool: Path, code: int, downloader: Downloader
) -> None:
    got = downloader.fetch(http_server.url(f"/redirect/3?code={code}&to=/img/final.png"), spool, FAST, never)
    assert got.final_url == http_server.url("/img/final.png")
    assert got.path.read_bytes() == image_bytes("final", "png")
    assert [http_server.hits(f"/redirect/{n}") for n in (3, 2, 1)] == [1, 1, 1]


def test_each_hop_and_the_outcome_are_logged_at_debug_level(
    http_server: LoopbackServer, spool: Path, downloader: Downloader, caplog: pytest.LogCaptureFixture
) -> None:
    """What `-v` shows for an item: every redirect (from, to, status), then the answer and the time taken."""
    start = http_server.url("/redirect/2?code=302&to=/img/end.png")
    with caplog.at_level(logging.DEBUG, logger="core.download.fetch"):
        downloader.fetch(start, spool, FAST, never)
        with pytest.raises(FetchError):
            downloader.fetch(http_server.url("/status/404"), spool, FAST, never)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(f"redirect {start} -> {http_server.url('/redirect/1?')}")
    assert lines[0].endswith(" (HTTP 302)")
    assert lines[1].startswith(f"redirect {http_server.url('/redirect/1')}")
    assert lines[1].endswith(f" -> {http_server.url('/img/end.png')} (HTTP 302)")
    size = len(image_bytes("end", "png"))
    assert re.fullmatch(rf"{re.escape(start)}: HTTP 200, {size} bytes in \d+\.\d{{3}} s", lines[2])
    assert re.fullmatch(r".*/status/404: failed after \d+\.\d{3} s: HTTP 404 Not Found", lines[3])
    assert len(lines) == 4


def test_redirect_to_an_absolute_url(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    target = http_server.url("/img/elsewhere.gif")
    got = downloader.fetch(http_server.url(f"/redirect/1?to={target}"), spool, FAST, never)
    assert got.final_url == target and sniff_image(got.path.read_bytes()) == "gif"


def test_redirect_loop(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    err = fails(downloader, http_server.url("/loop"), spool)
    assert err.message.startswith("redirect loop: ") and not err.retryable
    assert http_server.hits("/loop") == 1


@pytest.mark.parametrize("scheme", ["file", "ftp", "data"])
def test_a_web_url_never_redirects_to_another_scheme(
    http_server: LoopbackServer, spool: Path, tmp_path: Path, scheme: str, downloader: Downloader
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(image_bytes("secret", "png"))
    targets = {"file": secret.as_uri(), "ftp": "ftp://127.0.0.1/a.png", "data": "data:image/png;base64,AAAA"}
    err = fails(downloader, http_server.url(f"/redirect/2?to={targets[scheme]}"), spool)
    assert err.message.startswith(f"redirect to unsupported scheme {scheme}:")
    assert not err.retryable


@pytest.mark.parametrize(("hops", "limit"), [(10, 10), (2, 2), (1, 0)])
def test_redirects_up_to_the_limit_are_followed(
    http_server: LoopbackServer, spool: Path, hops: int, limit: int, downloader: Downloader
) -> None:
    limits = FetchLimits(timeout=5, max_redirects=limit)
    if limit:
        got = downloader.fetch(http_server.url(f"/redirect/{hops}"), spool, limits, never)
        assert got.http_status == 200
        got.path.unlink()
    err = fails(downloader, http_server.url(f"/redirect/{hops + 1}"), spool, limits)
    assert err.message == f"too many redirects (over {limit})"


# --- cancelling ---------------------------------------------------------------------------------------


def test_abort_mid_stream_leaves_no_part_file(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    cancel = threading.Event()
    with pytest.raises(Aborted):
        downloader.fetch(
            http_server.url("/drip/big.png?w=200&h=200&bps=100"), spool, FAST, cancel.is_set, lambda n: cancel.set()
        )
    assert leftovers(spool) == []


def test_abort_interrupts_a_server_that_never_answers(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    cancel = threading.Event()
    call_when(lambda: http_server.hits("/hang") == 1, cancel.set)
    started = time.monotonic()
    with pytest.raises(Aborted):
        downloader.fetch(http_server.url("/hang"), spool, FetchLimits(timeout=60), cancel.is_set)
    assert time.monotonic() - started < 2  # not the 60 s timeout
    assert leftovers(spool) == []


def test_already_cancelled_makes_no_request(http_server: LoopbackServer, spool: Path, downloader: Downloader) -> None:
    with pytest.raises(Aborted):
        downloader.fetch(http_server.url("/img/a.jpg"), spool, FAST, lambda: True)
    assert http_server.hits("/img/a.jpg") == 0


# --- file: URLs and other schemes ---------------------------------------------------------------------


def test_local_file_is_used_in_place(tmp_path: Path, spool: Path, downloader: Downloader) -> None:
    photo = tmp_path / "my photos" / "holiday #1.png"
    photo.parent.mkdir()
    photo.write_bytes(image_bytes("holiday", "png"))
    got = downloader.fetch(photo.as_uri(), spool, FAST, never)
    assert got == Fetched(photo, photo.as_uri(), None, photo.stat().st_size, False)
    assert leftovers(spool) == []


@pytest.mark.skipif(sys.platform != "linux", reason="a file name that is not UTF-8 (macOS and Windows refuse one)")
def test_a_local_file_whose_name_is_not_utf8_is_read_and_named_in_words(
    tmp_path: Path, spool: Path, downloader: Downloader
) -> None:
    photo = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png"))  # Latin-1, as an old disk has it
    photo.write_bytes(image_bytes("cafe", "png"))
    assert photo.as_uri().endswith("/caf%E9.png")
    got = downloader.fetch(photo.as_uri(), spool, FAST, never)
    assert got.local_path() == photo and got.bytes == photo.stat().st_size
    photo.write_bytes(b"")
    err = fails(downloader, photo.as_uri(), spool)
    assert err.message == f"file is empty: {tmp_path}/caf\ufffd.png"
    err.message.encode("utf-8")  # what the journal stores


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "file not found: "),
        (lambda p: p.mkdir(), "is a folder, not a file: "),
        (lambda p: p.write_bytes(b""), "file is empty: "),
        (lambda p: p.write_bytes(b"just some notes\n"), "file is text, not an image: "),
        (lambda p: p.write_bytes(image_bytes("big", "bmp", 100, 100)), "file over --max-bytes 1.0 KiB (it is "),
    ],
    ids=["missing", "folder", "empty", "text", "too-big"],
)
def test_local_file_problems(
    tmp_path: Path, spool: Path, make: Callable[[Path], object], message: str, downloader: Downloader
) -> None:
    path = tmp_path / "photo.jpg"
    make(path)
    err = fails(downloader, path.as_uri(), spool, FetchLimits(max_bytes=1024))
    assert err.message.startswith(message) and err.message.endswith(str(path))
    assert (err.retryable, err.http_status) == (False, None)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.jpg", "javascript:alert(1)", "a.jpg"])
def test_other_schemes_are_refused(spool: Path, url: str, downloader: Downloader) -> None:
    err = fails(downloader, url, spool)
    assert err.message.startswith("unsupported URL scheme") and not err.retryable


# --- sniffing -----------------------------------------------------------------------------------------

_WRITABLE = [
    ("JPEG", "RGB", "jpeg"),
    ("PNG", "RGBA", "png"),
    ("GIF", "P", "gif"),
    ("WEBP", "RGB", "webp"),
    ("BMP", "RGB", "bmp"),
    ("TIFF", "RGB", "tiff"),
    ("ICO", "RGBA", "ico"),
    ("PPM", "RGB", "ppm"),
    ("PPM", "L", "ppm"),
    ("QOI", "RGB", "qoi"),
    ("DDS", "RGBA", "dds"),
    ("JPEG2000", "RGB", "jpeg2000"),
    ("AVIF", "RGB", "avif"),
]


@pytest.mark.parametrize(("fmt", "mode", "name"), _WRITABLE, ids=[f"{f}-{m}" for f, m, _ in _WRITABLE])
def test_sniff_recognises_what_pillow_reads(fmt: str, mode: str, name: str) -> None:
    if fmt in ("AVIF", "JPEG2000") and not features.check({"AVIF": "avif", "JPEG2000": "jpg_2000"}[fmt]):
        pytest.skip(f"this Pillow cannot write {fmt}")
    out = io.BytesIO()
    Image.new(mode, (32, 24)).save(out, fmt)
    data = out.getvalue()
    assert sniff_image(data[:2048]) == name
    with Image.open(io.BytesIO(data)) as image:  # and Pillow agrees it can open it
        image.load()


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "avif"),
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 ", "jpeg2000"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "pdf"),  # its first page is rendered
        (b"\xef\xbb\xbf\r\n%PDF-1.4\n", "pdf"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", None),  # an MP4 video
        (b"BMW service notes", None),
        (b"P6 is a parking spot", None),
    ],
)
def test_sniff_from_signatures(head: bytes, name: str | None) -> None:
    assert sniff_image(head) == name


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"", "empty"),
        (b"  \r\n", "empty"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html><body>Sign in</body></html>", "HTML"),
        (b"<!-- cached --><head><title>Login</title></head>", "HTML"),
        (b'<?xml version="1.0"?><rss version="2.0"></rss>', "XML"),
        (b'{"error": "not found"}', "JSON"),
        (b"[1, 2, 3]", "JSON"),
        ("Zugriff verweigert – bitte anmelden".encode(), "text"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "unknown binary data"),
    ],
)
def test_describe_what_is_not_an_image(head: bytes, kind: str) -> None:
    assert sniff_image(head) is None
    assert describe_non_image(head) == kind


# --- small contracts ----------------------------------------------------------------------------------


def test_fetch_error_survives_pickling() -> None:
    err = FetchError("HTTP 503 Service Unavailable", http_status=503, retryable=True, retry_after=2.5)
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.http_status, copy.retryable, copy.retry_after) == (str(err), 503, True, 2.5)


def test_limits_follow_the_settings() -> None:
    settings = Settings(timeout=12.0, max_bytes=3 * 1024**2, user_agent="Tester/1")
    assert settings.fetch_limits() == FetchLimits(12.0, 3 * 1024**2, "Tester/1")


def test_loopback_server_stops_at_once_with_clients_stuck_on_it() -> None:
    server = LoopbackServer().start()
    stuck = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        for sock, path in zip(stuck, ["/hang", "/drip/a.jpg?bps=1", "/img/a.jpg"], strict=True):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        deadline = time.monotonic() + 5
        while server.hits("/img/a.jpg") < 1 or server.in_flight < 2:  # the third idles in keep-alive
            assert time.monotonic() < deadline
            time.sleep(0.005)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1
    finally:
        for sock in stuck:
            sock.close()


def test_loopback_images_are_what_the_url_says(
    http_server: LoopbackServer, spool: Path, downloader: Downloader
) -> None:
    url = http_server.url("/img/x.png?w=40&h=20&color=ff0000&alpha=0&exif=6")
    with Image.open(downloader.fetch(url, spool, FAST, never).path) as image:
        assert (image.size, image.mode, image.getexif()[0x0112]) == ((40, 20), "RGBA", 6)
        assert image.getpixel((39, 19)) == (255, 0, 0, 0)  # the fill, fully transparent
        assert image.getpixel((0, 0)) == (255, 255, 255, 255)  # opaque marker, white on a dark fill
    with Image.open(downloader.fetch(http_server.url("/img/y.gif?frames=3"), spool, FAST, never).path) as image:
        assert image.n_frames == 3


def test_cancel_reaches_every_stuck_download_and_the_server_counts_them(
    http_server: LoopbackServer, tmp_path: Path, downloader: Downloader
) -> None:
    cancel = threading.Event()
    outcomes: list[str] = []

    def worker() -> None:
        try:
            downloader.fetch(http_server.url("/hang"), tmp_path, FetchLimits(timeout=60), cancel.is_set)
        except Aborted:
            outcomes.append("aborted")

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    call_when(lambda: http_server.in_flight == 3, cancel.set).join()
    for thread in threads:
        thread.join(5)
    assert outcomes == ["aborted"] * 3
    assert (http_server.max_concurrent, http_server.total_hits()) == (3, 3)
    assert leftovers(tmp_path) == []


def _watchdog_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "fetch-watchdog"}


def test_two_downloaders_in_one_process_are_independent(http_server: LoopbackServer, tmp_path: Path) -> None:
    """Closing one Downloader (a finished batch) neither cuts nor slows a download in flight in another (a batch
    still running), and leaves no watchdog thread behind; a closed Downloader refuses to fetch."""
    before = _watchdog_threads()
    other_closed = threading.Event()
    results: list[Fetched | BaseException] = []
    first = Downloader()
    second = Downloader()

    def hold_after_the_first_chunk(n: int) -> None:
        other_closed.wait(5)  # the download stays mid-body, its socket open, until the other Downloader is closed

    def download() -> None:
        url = http_server.url("/drip/slow.jpg?w=320&h=240&bps=20000")
        try:
            results.append(first.fetch(url, tmp_path / "a", FAST, never, hold_after_the_first_chunk))
        except BaseException as exc:  # reported below, in the test thread
            results.append(exc)

    thread = threading.Thread(target=download)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while http_server.in_flight < 1 or not _watchdog_threads() - before:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        first_watchdog = _watchdog_threads() - before
        done = second.fetch(http_server.url("/img/b.jpg"), tmp_path / "b", FAST, never)
        assert done.local_path().read_bytes() == image_bytes("b", "jpg")
        second_watchdog = _watchdog_threads() - before - first_watchdog
        assert len(first_watchdog) == len(second_watchdog) == 1

        second.close()
        second.close()  # idempotent
        assert not any(t.is_alive() for t in second_watchdog)
        with pytest.raises(RuntimeError, match="closed"):
            second.fetch(http_server.url("/img/c.jpg"), tmp_path / "b", FAST, never)
    finally:
        other_closed.set()
        thread.join(10)
    got = results[0]
    assert isinstance(got, Fetched), got
    assert got.local_path().read_bytes() == image_bytes("slow", "jpg", 320, 240)
    assert all(t.is_alive() for t in first_watchdog)
    first.close()
    assert _watchdog_threads() == before
