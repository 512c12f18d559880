"""A hostile web, one batch: every way a server can fail, next to good images that must still arrive.

All cases run as ONE batch (a URL list, the real sources parser, the real Runner) with small limits
(--timeout 1.5, --retries 1, --max-bytes 1M), then each case is checked on its report row: `done`, or
`failed` with words that say what went wrong and, where a limit was hit, which one.
"""

from __future__ import annotations

import http
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from core.settings import format_bytes
from core.sources import MAX_LINE_BYTES
from tests.support.harness import entries_of, list_file, output_files, run_batch, settings, stray_files
from tests.support.loopback import LoopbackServer, image_bytes

TIMEOUT = 1.5
RETRIES = 1
UNRESOLVABLE = "no-such-host.invalid"  # a reserved name: it must fail, and fail locally
TOOK_TOO_LONG = f"download took longer than --timeout {TIMEOUT:g} s"
GAVE_UP = f"gave up after {RETRIES + 1} attempts, --retries {RETRIES}"


@dataclass(frozen=True)
class Case:
    """One list line and what its report row must say."""

    line: str
    status: str
    says: tuple[str, ...] = ()
    http_status: int | None = None
    attempts: int | None = None  # how many requests the server must have seen for exactly this address

    @property
    def source(self) -> str:
        """The line as the report shows it: a line too long to be a URL is cut to its start."""
        return self.line if len(self.line) < MAX_LINE_BYTES else self.line[:200] + "…"

    @property
    def target(self) -> str:
        """The request target (path and query) as the client sends it, which the server counts."""
        parts = urlsplit(self.line)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def _phrase(code: int) -> str:
    try:
        return f"HTTP {code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _status_cases(base: str) -> dict[str, Case]:
    cases = {}
    client_errors = [*range(400, 419), 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 499]
    server_errors = [*range(500, 509), 510, 511, 599]
    for code in client_errors + server_errors:
        retried = code in (408, 425, 429) or code >= 500
        says = (_phrase(code), GAVE_UP) if retried else (_phrase(code),)
        url = base + f"/status/{code}?case=plain"
        cases[f"status-{code}"] = Case(url, "failed", says, code, 2 if retried else 1)
    for code in (300, 302, 304):
        url = base + f"/status/{code}?case=plain"
        cases[f"status-{code}"] = Case(url, "failed", ("without a Location",), code, 1)
    cases["status-204"] = Case(base + "/status/204", "failed", ("empty response",), 204)
    return cases


def _throttle_cases(base: str) -> dict[str, Case]:
    """429 and 503, with and without Retry-After (seconds, HTTP dates, nonsense, the past, too long)."""
    cases = {}
    for code in (429, 503):
        for variant, query in [
            ("none", ""),
            ("seconds", "after=1"),
            ("date", "after=2&date=1"),
            ("nonsense", "after=soon"),
            ("past-date", "after=-60&date=1"),
        ]:
            path = f"/retry/1/t{code}{variant}.jpg"
            url = base + f"{path}?code={code}" + (f"&{query}" if query else "")
            cases[f"throttled-{code}-{variant}"] = Case(url, "done", attempts=2)
        path = f"/retry/9/stuck{code}.jpg"
        cases[f"throttled-{code}-for-good"] = Case(
            base + f"{path}?code={code}&after=0", "failed", (_phrase(code), GAVE_UP), code, 2
        )
        for variant, query in [("seconds", "after=3600"), ("date", "after=3600&date=1")]:
            path = f"/status/{code}"
            cases[f"throttled-{code}-too-long-{variant}"] = Case(
                base + f"{path}?{query}&v={variant}",
                "failed",
                (_phrase(code), "asked to wait", "longer than this tool waits"),
                code,
            )
    return cases


def _network_cases(base: str, refused_port: int, silent_port: int) -> dict[str, Case]:
    size = len(image_bytes("cut", "jpg", 400, 400))
    cases = {
        "connection-refused": Case(f"http://127.0.0.1:{refused_port}/a.jpg", "failed", ("connection refused", GAVE_UP)),
        "accepts-never-answers": Case(base + "/hang?case=1", "failed", (TOOK_TOO_LONG, GAVE_UP), None, 2),
        "listens-never-accepts": Case(f"http://127.0.0.1:{silent_port}/a.jpg", "failed", (TOOK_TOO_LONG, GAVE_UP)),
        "drips-a-byte-a-second": Case(base + "/drip/drip.jpg?bps=1", "failed", (TOOK_TOO_LONG, GAVE_UP), None, 2),
        "drips-its-headers": Case(base + "/drip/head.jpg?bps=4&headers=1", "failed", (TOOK_TOO_LONG, GAVE_UP)),
        "hangs-up-mid-body": Case(
            base + "/hangup/cut.jpg?w=400&h=400", "failed", (f"of {format_bytes(size)}", "connection closed", GAVE_UP)
        ),
    }
    cases["dns-failure"] = Case(f"http://{UNRESOLVABLE}/a.jpg", "failed", (f"could not resolve host {UNRESOLVABLE}",))
    return cases


def _body_cases(base: str) -> dict[str, Case]:
    cases = {
        "wrong-content-type": Case(base + "/img/ct-html.jpg?ct=text/html", "done"),
        "no-content-type": Case(base + "/img/ct-none.png?ct=", "done"),
        "octet-stream": Case(base + "/img/ct-bin.webp?ct=application/octet-stream", "done"),
        "gzip-body": Case(base + "/img/gz.png?gzip=1", "done"),
        "chunked-body": Case(base + "/img/chunked.jpg?nolength=1", "done"),
        "gzip-and-chunked": Case(base + "/img/both.gif?gzip=1&nolength=1", "done"),
        "html-as-image": Case(base + "/html?ct=image/jpeg", "failed", ("server sent HTML, not an image",), 200),
        "empty-body": Case(base + "/empty", "failed", ("empty response",), 200),
        "svg": Case(base + "/svg", "done"),
        "content-length-over-cap": Case(
            base + "/huge?claim=2000000000",
            "failed",
            ("over --max-bytes 1.0 MiB", "Content-Length says 1.9 GiB"),
            200,
            1,
        ),
        "endless-chunked": Case(base + "/endless?n=1", "failed", ("over --max-bytes 1.0 MiB",), 200, 1),
        "endless-gzip": Case(base + "/endless?gzip=1", "failed", ("over --max-bytes 1.0 MiB after decompression",)),
    }
    return cases


def _redirect_cases(base: str, local_image: Path) -> dict[str, Case]:
    cases = {
        "redirect-chain": Case(base + "/redirect/3", "done"),
        "redirect-ten": Case(base + "/redirect/10?to=/img/ten.jpg", "done"),
        "redirect-eleven": Case(base + "/redirect/11?to=/img/eleven.jpg", "failed", ("too many redirects",)),
        "redirect-loop": Case(base + "/loop", "failed", ("redirect loop",), 302),
        "redirect-308": Case(base + "/redirect/2?code=308&to=/img/r308.png", "done"),
        "redirect-to-bad-ipv6": Case(base + "/redirect/1?to=http://[zz]/a.jpg", "failed", ("malformed address",)),
        "redirect-to-bad-port": Case(base + "/redirect/1?to=http://127.0.0.1:99999/", "failed", ("malformed address",)),
    }
    for scheme, target in [
        ("file", local_image.as_uri()),
        ("ftp", "ftp://127.0.0.1/a.jpg"),
        ("data", "data:image/png;base64,iVBORw0KGgo="),
        ("javascript", "javascript:alert(1)"),
        ("gopher", "gopher://127.0.0.1/a.jpg"),
    ]:
        cases[f"redirect-to-{scheme}"] = Case(
            base + f"/redirect/2?to={target}", "failed", (f"redirect to unsupported scheme {scheme}:",)
        )
    return cases


def _address_cases(base: str) -> dict[str, Case]:
    """Odd addresses; `/` and `/photo.php` are registered by the fixture (a page answering with an image)."""
    long_name = "a" * 20_000
    return {
        "very-long-url": Case(base + f"/img/{long_name}.jpg", "done"),
        "url-longer-than-a-line": Case(base + f"/img/{'b' * 70_000}.jpg", "invalid", ("line longer than 64 KiB",)),
        "unicode-path": Case(base + "/img/写真.jpg", "done"),
        "percent-encoded-path": Case(base + "/img/caf%C3%A9.jpg", "done"),
        "space-in-path": Case(base + "/img/my photo.jpg", "done"),
        "query-only-1": Case(base + "/?id=1", "done"),
        "query-only-2": Case(base + "/?id=2", "done"),
        "script-with-query": Case(base + "/photo.php?id=3&size=large", "done"),
        "fragment": Case(base + "/img/frag.jpg#section", "done"),
    }


def _resolves_locally_as_missing(host: str) -> bool:
    """True when the resolver answers 'no such host' at once (a sandbox may hang or answer anything)."""
    outcome: list[bool] = []

    def probe() -> None:
        try:
            socket.getaddrinfo(host, 80)
            outcome.append(False)
        except socket.gaierror:
            outcome.append(True)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(3)
    return bool(outcome and outcome[0])


def all_cases(base: str, refused_port: int, silent_port: int, local_image: Path) -> dict[str, Case]:
    return {
        **{f"good-{i}": Case(base + f"/img/good{i}.jpg?w=300&h=200", "done") for i in range(8)},
        **_status_cases(base),
        **_throttle_cases(base),
        **_network_cases(base, refused_port, silent_port),
        **_body_cases(base),
        **_redirect_cases(base, local_image),
        **_address_cases(base),
    }


CASE_IDS = list(all_cases("http://127.0.0.1:1", 1, 1, Path("/x.png")))


def _one_host_each(cases: dict[str, Case], server: LoopbackServer) -> dict[str, Case]:
    """Each case on a host of its own (127.0.x.y): a real host failing this many ways in a row would be paused
    (core/batch/lanes.py), and each case must show its own words."""
    base = server.url("")
    return {
        name: replace(case, line=case.line.replace(base, server.url("", f"127.0.{1 + i // 250}.{1 + i % 250}"), 1))
        for i, (name, case) in enumerate(cases.items())
    }


@pytest.fixture(scope="module")
def hostile(qapp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(batch, cases, server): every case above plus good images, run once."""
    with LoopbackServer(bind="0.0.0.0") as server:
        yield _hostile_batch(server, tmp_path_factory)


def _hostile_batch(server: LoopbackServer, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    server.add("/", image_bytes("root", "jpg"), {"Content-Type": "image/jpeg"})
    server.add("/photo.php", image_bytes("php", "png"), {"Content-Type": "image/png"})
    folder = tmp_path_factory.mktemp("http")
    local_image = folder / "private.png"
    Image.new("RGB", (32, 32), "purple").save(local_image)
    with socket.socket() as probe:  # a port that was free a moment ago and nobody listens on
        probe.bind(("127.0.0.1", 0))
        refused_port = probe.getsockname()[1]
    with socket.socket() as silent:  # listens (the kernel completes connections) but never accepts
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        cases = _one_host_each(all_cases(server.url(""), refused_port, silent.getsockname()[1], local_image), server)
        if not _resolves_locally_as_missing(UNRESOLVABLE):
            del cases["dns-failure"]
        listing = list_file(folder, [c.line for c in cases.values()])
        config = settings(folder / "out", timeout=TIMEOUT, retries=RETRIES, max_bytes=1024**2, threads=16, per_host=16)
        batch = run_batch(config, entries_of(listing), timeout=60)
    return batch, cases, server


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_each_case_ends_done_or_failed_in_words(hostile: tuple, case_id: str) -> None:
    batch, cases, server = hostile
    if case_id not in cases:
        pytest.skip("this machine's resolver does not answer 'no such host' for reserved names")
    case: Case = cases[case_id]
    row = batch.item(case.source)
    assert row["status"] == case.status, row
    error = row["error"] or ""
    for words in case.says:
        assert words in error, f"{words!r} not in {error!r}"
    if case.status == "done":
        assert not error
        for path in output_files(batch, row):
            with Image.open(path) as im:
                im.load()
    if case.http_status is not None:
        assert row["http_status"] == case.http_status
    if case.attempts is not None:
        assert server.hits(case.target) == case.attempts


def test_every_line_has_exactly_one_outcome(hostile: tuple) -> None:
    batch, cases, _ = hostile
    assert sorted(i["source"] for i in batch.items) == sorted(c.source for c in cases.values())
    assert {i["status"] for i in batch.items} <= {"done", "failed", "invalid"}
    assert batch.summary.total == len(cases)


def test_the_batch_ends_in_bounded_time(hostile: tuple) -> None:
    batch, _, _ = hostile
    # The slowest item: two attempts cut at --timeout, plus at most 0.75 s of backoff between them.
    bound = (RETRIES + 1) * TIMEOUT + 0.75 + 1.0
    slow = {i["source"]: i["seconds"] for i in batch.items if (i["seconds"] or 0) > bound}
    assert not slow
    assert batch.seconds < 20


def test_nothing_is_left_behind(hostile: tuple) -> None:
    batch, _, _ = hostile
    assert stray_files(batch.out) == []


def test_retry_after_is_waited_for(hostile: tuple) -> None:
    batch, cases, _ = hostile
    for code in (429, 503):
        waited = batch.item(cases[f"throttled-{code}-seconds"].line)["seconds"]
        assert waited >= 1.0  # Retry-After: 1
        dated = batch.item(cases[f"throttled-{code}-date"].line)["seconds"]
        assert dated >= 1.0  # an HTTP date 2 s ahead, to the second: at least 1 s of waiting
        too_long = batch.item(cases[f"throttled-{code}-too-long-seconds"].line)["seconds"]
        assert too_long < 1.0  # an hour's wait is refused at once, not slept through


def test_redirects_end_at_the_last_address(hostile: tuple) -> None:
    batch, cases, _ = hostile
    line = cases["redirect-chain"].line
    assert batch.item(line)["url"] == line.replace("/redirect/3", "/img/redirected.jpg")


def test_a_web_redirect_never_reads_the_local_disk(hostile: tuple) -> None:
    batch, cases, _ = hostile
    row = batch.item(cases["redirect-to-file"].line)
    assert row["outputs"] == [] and row["bytes"] is None


def test_names_from_odd_addresses_are_readable_and_distinct(hostile: tuple) -> None:
    batch, cases, _ = hostile

    def name(case_id: str) -> str:
        (path,) = output_files(batch, batch.item(cases[case_id].line))
        return path.name

    assert name("unicode-path") == "写真.jpg"
    assert name("percent-encoded-path") == "café.jpg"
    assert name("space-in-path") == "my_photo.jpg"
    assert name("script-with-query") == "photo.jpg"
    first, second = name("query-only-1"), name("query-only-2")  # the same name asked twice: numbered in input order
    assert re.fullmatch(r"image(-\d+)?\.jpg", first) and re.fullmatch(r"image-\d+\.jpg", second) and first != second
    long_name = name("very-long-url")
    assert len(long_name.encode()) < 120


def test_no_thread_of_the_batch_outlives_it(hostile: tuple) -> None:
    """The download watchdog, the resizer dispatcher and the engine end with the batch (the soak test checks
    the same, and sockets and processes too, over 100,000 items)."""
    names = {t.name for t in threading.enumerate()}
    assert not names & {"fetch-watchdog", "resize-dispatch", "thumbnailer-engine"}
