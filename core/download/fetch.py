"""Download one URL (or check one local file) into a spool file, within the limits the user set.

Called from download threads; plain requests, no Qt. A `Downloader` per batch owns the sessions and the
watchdog thread; nothing here is process-global. One `Downloader.fetch` call is one attempt: the runner schedules
retries with backoff itself, from `FetchError.retryable` and `FetchError.retry_after`. Each attempt's redirects,
outcome and time are logged at debug level (logger `core.download.fetch`).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.message
import email.utils
import hashlib
import http
import http.client
import io
import ipaddress
import logging
import os
import re
import socket
import ssl
import stat
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote_to_bytes, urljoin, urlsplit
from urllib.request import getproxies, url2pathname

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.response import HTTPResponse

from core.download.limits import FetchLimits
from core.download.rate import RateLimiter
from core.download.shared_spool import SharedSpool, Slot, SlotWriter
from core.models import Entry
from core.priority import lower_current_thread
from core.settings import format_bytes
from core.sources import entries_from_page

#: Bytes asked for per read: a few trips through urllib3 per image rather than dozens, and under the size at
#: which glibc would mmap (and page-fault in) every buffer anew. urllib3 decompresses at most this much per read.
CHUNK = 256 * 1024
_DRAIN_MAX = 64 * 1024  # error and redirect bodies up to this size are read so the connection can be reused
HEAD_BYTES = 2048  # what the sniffers look at
CONNECT_TIMEOUT = 10.0
WEB_SCHEMES = ("http", "https")
_WATCH_INTERVAL = 0.05
_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.9,*/*;q=0.5"
_RETRYABLE_4XX = frozenset({408, 425, 429})
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})  # answers read for their images under --pages
#: Hosts a download thread keeps connections to (urllib3's pools, least recently used dropped): the state a
#: thread holds stays this size however many hosts a list names.
KEPT_HOSTS = 10
_KEPT_PER_HOST = 2  # a thread makes one request at a time; one more for a redirect's hop back to the same host

_log = logging.getLogger(__name__)


@dataclass
class Fetched:
    """A downloaded (or local) file ready to be decoded: at `path` (when `spooled`, the caller deletes it), or,
    with `path` None, in `slot` of the shared spool (the caller gives it back)."""

    path: Path | None
    final_url: str
    http_status: int | None
    bytes: int
    spooled: bool
    slot: Slot | None = None
    page: tuple[Entry, ...] | None = None  # a web page read for its images (`read_page`): no file, no slot
    digest: str | None = None  # SHA-256 (hex) of the downloaded bytes, hashed as they passed; None for a local file

    def local_path(self) -> Path:
        """The file, for callers that never pass a shared spool."""
        assert self.path is not None, "a download held in a shared-spool slot has no path"
        return self.path


class FetchError(Exception):
    """Why an attempt failed, in words a user understands, and whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __reduce__(
        self,
    ) -> tuple[
        Callable[..., FetchError], tuple[object, ...]
    ]:  # keep the fields when queued or pickled across processes
        return _rebuild_error, (self.message, self.http_status, self.retryable, self.retry_after)


def _rebuild_error(message: str, http_status: int | None, retryable: bool, retry_after: float | None) -> FetchError:
    return FetchError(message, http_status=http_status, retryable=retryable, retry_after=retry_after)


class Aborted(Exception):
    """The batch was cancelled mid-download; the spool file is already removed."""


# ---------------------------------------------------------------------------------------------------------
# Sniffing: the bytes decide, never the Content-Type.

# ISO base media brands, most specific first: an AVIF often has the generic HEIF brand "mif1" as major brand.
_FTYP_KINDS = (
    ("avif", (b"avif", b"avis")),
    ("heif", (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")),
    ("jpeg2000", (b"jp2 ",)),
)
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_PREFIXES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000"),
    (b"\xff\x4f\xff\x51", "jpeg2000"),
    (b"\xff\x0a", "jxl"),  # JPEG XL codestream
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jxl"),  # JPEG XL in its ISO BMFF container
    (b"qoif", "qoi"),
    (b"8BPS", "psd"),
    (b"DDS ", "dds"),
    (b"icns", "icns"),
    (b"\x01\xda", "sgi"),
    (b"\xb1\x68\xde\x3a", "dcx"),
    (b"\x59\xa6\x6a\x95", "sun"),
    (b"DanM", "msp"),
    (b"LinS", "msp"),
    (b"FTEX", "ftex"),
    (b"BLP1", "blp"),
    (b"BLP2", "blp"),
    (b"/* XPM */", "xpm"),
    (b"P7 332", "xvthumb"),
    (b"Image type:", "im"),
)
_PNM = re.compile(rb"P[1-6f](?:\s|#[^\n]*\n)+\d")  # magic, then (comments and) the width
# Formats whose header is text, so that `describe_non_image` would call them text.
_XBM = re.compile(rb"\s*#define[ \t]+\S*_width[ \t]+\d")
_FITS = re.compile(rb"SIMPLE  =\s+T\b")
_PDF = re.compile(rb"(?:\xef\xbb\xbf)?\s*%PDF-")  # as `core.imaging.documents.pdf` tells one
_HTML_TAGS = (b"<html", b"<head", b"<body", b"<title", b"<meta", b"<script", b"<div", b"<form", b"<p>")


def sniff_image(head: bytes) -> str | None:
    """The image format the first bytes announce ('jpeg', 'png', 'svg', 'svgz', ...), or None when they are not an
    image.

    Everything named here is a format Pillow reads (HEIF and JPEG XL through the plugins the resizer registers),
    or a document the resizer renders (PDF's first page)."""
    for prefix, name in _PREFIXES:
        if head.startswith(prefix):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
        return next((kind for kind, known in _FTYP_KINDS if brands.intersection(known)), None)
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and head[4:6] not in (b"", b"\x00\x00"):
        return "ico" if head[2] == 1 else "cur"
    if _PNM.match(head):
        return "ppm"
    if head[:1] == b"\x0a" and head[1:2] in (b"\0", b"\2", b"\3", b"\4", b"\5") and head[2:3] == b"\1":
        return "pcx"
    if head[4:6] in (b"\x11\xaf", b"\x12\xaf"):
        return "fli"
    if head[20:24] == b"GIMP":
        return "gbr"
    if _XBM.match(head):
        return "xbm"
    if _FITS.match(head):
        return "fits"
    if _PDF.match(head):
        return "pdf"
    if describe_non_image(head) == "SVG":
        return "svg"
    if head.startswith(b"\x1f\x8b") and describe_non_image(_inflated_start(head)) == "SVG":
        return "svgz"
    return None


def _inflated_start(head: bytes) -> bytes:
    """The first KiB a gzip stream's head inflates to (an .svgz), or nothing when it is not gzip."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 1024)
    except zlib.error:
        return b""


def _clearly_not_an_image(head: bytes) -> bool:
    """True when the first bytes are recognisably something else than an image (HTML, text, SVG, ...).

    Binary data no signature names goes on to the decoder, which tries every format it reads (TGA, for
    one, has no signature) and says what the data is when it is none of them."""
    return sniff_image(head) is None and describe_non_image(head) != "unknown binary data"


def describe_non_image(head: bytes) -> str:
    """What the bytes are instead of an image: 'HTML', 'SVG', 'XML', 'JSON', 'PDF', 'PostScript', 'text',
    'empty' or 'unknown binary data'."""
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body:
        return "empty"
    low = body.lower()
    if low.startswith(b"%pdf-"):
        return "PDF"
    if low.startswith(b"%!ps"):
        return "PostScript"
    if low.startswith(b"<"):
        if low.startswith((b"<!doctype html", b"<html")):
            return "HTML"
        svg_at = low.find(b"<svg")
        if svg_at >= 0 and not any(tag in low[:svg_at] for tag in _HTML_TAGS):  # not a page with an inline icon
            return "SVG"
        if any(tag in low for tag in _HTML_TAGS):
            return "HTML"
        return "XML"
    if not _is_text(body):
        return "unknown binary data"
    return "JSON" if body[:1] in (b"{", b"[") else "text"


def _is_text(data: bytes) -> bool:
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=False)  # a cut last char is fine
    except UnicodeDecodeError:
        return False
    return all(ch >= " " or ch in "\t\n\r\f" for ch in text)


def _not_an_image(source: str, head: bytes) -> str:
    kind = describe_non_image(head)
    if kind == "PostScript":
        return f"{source} PostScript (EPS), which is not opened: reading it would run Ghostscript on untrusted data"
    return f"{source} {kind}, not an image"


# ---------------------------------------------------------------------------------------------------------
# Private-network safety: a redirect never leads from a public address into a more private network.


class Reach(IntEnum):
    """Where an address is, from the most public to this computer, ranked as browsers' Private Network Access
    ranks them: a redirect may lead only to an address as public as the most public one its chain has been at."""

    PUBLIC = 0
    PRIVATE = 1  # a private network: RFC 1918, CGNAT, link-local (cloud metadata at 169.254.169.254), ULA
    LOCAL = 2  # this computer: loopback, and 0.0.0.0 / :: (which reach it too)

    @property
    def words(self) -> str:
        return _REACH_WORDS[self]


_REACH_WORDS = {
    Reach.PUBLIC: "a public address",
    Reach.PRIVATE: "a private-network address",
    Reach.LOCAL: "an address of this computer",
}
_LOCAL_NETWORKS = tuple(map(ipaddress.ip_network, ("0.0.0.0/8", "127.0.0.0/8", "::/128", "::1/128")))
_PRIVATE_NETWORKS = tuple(
    map(
        ipaddress.ip_network,
        (
            *("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"),
            *("fc00::/7", "fe80::/10", "fec0::/10"),
        ),
    )
)


def reach_of(address: str) -> Reach:
    """The reach of an IP address as a socket reports it ('10.0.0.5', '::ffff:127.0.0.1', 'fe80::1%eth0');
    an IPv4 address mapped into IPv6 counts as itself. Anything `ipaddress` calls private (reserved and
    documentation ranges too) is not public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _LOCAL_NETWORKS):
        return Reach.LOCAL
    if ip.is_private or any(ip in network for network in _PRIVATE_NETWORKS):
        return Reach.PRIVATE
    return Reach.PUBLIC


def _resolved_reach(host: str, reach: Callable[[str], Reach]) -> Reach | None:
    """The most private reach of the addresses `host` resolves to here (behind a proxy, which resolves the name
    itself), or None when it does not resolve here."""
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    return max((reach(str(info[4][0])) for info in answers), default=None)


# ---------------------------------------------------------------------------------------------------------
# The watchdog: one thread per Downloader that enforces every attempt's total deadline and its cancel flag.


class _Attempt:
    """One download attempt as the watchdog sees it; `reason` is set once the watchdog cut its socket.

    It also follows where the attempt's redirect chain has been (`url`, `hop`, `widest`), so that each
    request's connection can refuse a redirect into a more private network (`check_peer`)."""

    __slots__ = ("deadline", "hop", "rate", "reach", "reason", "should_abort", "sock", "url", "widest")

    def __init__(
        self,
        deadline: float,
        should_abort: Callable[[], bool],
        reach: Callable[[str], Reach],
        rate: RateLimiter | None = None,
    ) -> None:
        self.deadline = deadline
        self.should_abort = should_abort
        self.reach = reach
        self.rate = rate  # --max-rate, shared by the batch's downloads
        self.sock: socket.socket | None = None
        self.reason: str | None = None  # "timeout" or "abort"
        self.url = ""  # the address being requested: the user's, then each redirect's
        self.hop = 0  # 0 for the user's address, which may be anywhere (an intranet's pictures)
        self.widest = Reach.LOCAL  # the most public reach the chain has been at

    def check_peer(self, peer: str | None) -> None:
        """Before a request goes out on a connection to `peer` (its IP address; None behind a proxy, where
        the name is resolved here instead): refuse a redirect to a more private address than the chain has
        been at. The connection's own peer is checked, not a separate DNS answer, so a name that resolves
        anew (DNS rebinding) cannot slip past."""
        host = urlsplit(self.url).hostname or ""
        reach = self.reach(peer) if peer is not None else _resolved_reach(host, self.reach)
        if reach is None:
            return
        if self.hop and reach > self.widest:
            shown = peer or host
            raise FetchError(
                f"redirect refused: {host} is {reach.words} ({shown}), and a redirect that came from "
                f"{self.widest.words} may not lead there (private-network safety)"
            )
        self.widest = min(self.widest, reach)


class _Watchdog:
    """Shuts a download's socket down at its deadline, or as soon as its batch is cancelled.

    A socket timeout bounds each read, not the sum of them, and a thread blocked in recv() cannot look at a
    cancel flag. Shutting the socket down from this one thread (per Downloader) makes the blocked read return at
    once, whether it waits for headers or for the body. The thread starts with the first web download, so a batch
    of local files never starts one, and ends at `close`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._attempts: set[_Attempt] = set()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._local = threading.local()  # the attempt the calling download thread is making, if any

    @contextmanager
    def watching(self, attempt: _Attempt) -> Iterator[None]:
        with self._cond:
            if self._closing:
                raise RuntimeError("this Downloader is closed")
            self._attempts.add(attempt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        self._local.attempt = attempt
        try:
            yield
        finally:
            self._local.attempt = None
            with self._cond:
                self._attempts.discard(attempt)
                self._cond.notify()

    def current(self) -> _Attempt | None:
        """The attempt the calling download thread is making, if any."""
        attempt: _Attempt | None = getattr(self._local, "attempt", None)
        return attempt

    def attach(self, sock: socket.socket) -> None:
        """Called by a connection about to wait for a response: this socket carries the current attempt."""
        attempt: _Attempt | None = getattr(self._local, "attempt", None)
        if attempt is None:
            return
        with self._cond:
            attempt.sock = sock
            if attempt.reason is not None:
                _cut(sock)

    def close(self) -> None:
        """Refuse new attempts and end the thread once the attempts still watched are over (each is bounded by its
        deadline, which the thread keeps enforcing); returns when the thread is gone. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        lower_current_thread()  # a window's GUI thread wins a contended core
        while True:
            with self._cond:
                while not self._attempts:
                    if self._closing:
                        return
                    self._cond.wait()
                attempts = list(self._attempts)
            now = time.monotonic()
            for attempt in attempts:
                if attempt.reason is not None:
                    continue
                reason = "timeout" if now >= attempt.deadline else "abort" if _asks(attempt) else None
                if reason is None:
                    continue
                with self._cond:
                    if attempt in self._attempts:  # not finished meanwhile: never cut a pooled idle socket
                        attempt.reason = reason
                        if attempt.sock is not None:
                            _cut(attempt.sock)
            with self._cond:
                self._cond.wait(_WATCH_INTERVAL)


def _asks(attempt: _Attempt) -> bool:
    try:
        return bool(attempt.should_abort())
    except Exception:  # a broken callback must not kill the watchdog; the download thread will see it
        return False


def _cut(sock: socket.socket) -> None:
    # The plain socket call: SSLSocket.shutdown would also drop its TLS state under the reader's feet.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """A connection that hands its socket to its Downloader's watchdog before waiting for a response, and that
    lets the attempt check where it is connected before each request (a new or a kept-alive connection)."""

    sock: socket.socket | None
    proxy: object

    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def request(self, *args: Any, **kwargs: Any) -> None:
        attempt = self._watchdog.current()
        if attempt is not None:
            if self.sock is None:
                self.connect()  # type: ignore[attr-defined]  # now, not while sending: the peer is checked first
            peer = None if self.proxy is not None else str(self.sock.getpeername()[0])  # type: ignore[union-attr]
            attempt.check_peer(peer)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> HTTPResponse:
        assert self.sock is not None
        self._watchdog.attach(self.sock)
        response: HTTPResponse = super().getresponse()  # type: ignore[misc]  # the connection class's, after this
        return response


# urllib3 narrows http.client's getresponse() to its own HTTPResponse (with an ignore of its own); mypy then
# finds the mixin's matching method "incompatible" with the one http.client declares.
class _WatchedHTTPConnection(_Watched, HTTPConnection):  # type: ignore[misc]
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):  # type: ignore[misc]
    pass


_WATCHED: dict[object, type[HTTPConnection]] = {
    HTTPConnection: _WatchedHTTPConnection,
    HTTPSConnection: _WatchedHTTPSConnection,
}


class _WatchedAdapter(HTTPAdapter):
    """Pools whose connections hand their socket to `watchdog`. Other pools (SOCKS proxies) are left alone and
    fall back to the per-read timeout."""

    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__(pool_connections=KEPT_HOSTS, pool_maxsize=_KEPT_PER_HOST)
        self._watchdog = watchdog

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        proxies: dict[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> HTTPConnectionPool:
        pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        watched = _WATCHED.get(pool.ConnectionCls)
        if watched is not None:  # a fresh pool (connections are made lazily), or one already set up here
            pool.ConnectionCls = watched
            pool.conn_kw["watchdog"] = self._watchdog
        return pool


def _read_environment(session: requests.Session) -> None:
    """Take the environment's settings for requests once, when the session is made, where that is exact.

    requests looks up proxy variables, a CA bundle and a netrc file again for every request, walking the
    whole environment and the home folder: 0.5 ms of CPU, a third of a loopback download's. Without proxy
    variables or a netrc file, the only setting left is the CA bundle, which the session then keeps. With
    them (their per-host rules need the URL), requests keeps its usual per-request behaviour."""
    if getproxies():  # *_proxy and no_proxy variables (and the system's proxy settings on macOS and Windows)
        return
    if os.environ.get("NETRC") or any(Path(f"~/{name}").expanduser().exists() for name in (".netrc", "_netrc")):
        return
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


# ---------------------------------------------------------------------------------------------------------
# fetch


class Downloader:
    """The downloads of one batch (or one worker process): it owns their kept-alive sessions and the watchdog
    thread that enforces their deadlines and cancel flags, and `close` ends both. Nothing is shared with another
    Downloader, so two batches in one process (a window and a test, two Dask tasks) never close each other's
    connections.

    Thread-safe: download threads call `fetch` at once, each on its own session (for keep-alive). Sessions are
    keyed by OS thread id rather than kept in a threading.local: a QThreadPool thread gets a fresh Python thread
    state per runnable, which would drop a threading.local (and its kept-alive connections) after every download.

    Nothing a session holds grows with the hosts a list names: its cookie jar lives for one fetch (cookies
    set along a redirect chain go with it, none to the next item: a jar of 10,000 hosts' cookies took 123 ms
    to prepare each request), and it keeps connections to at most `KEPT_HOSTS` hosts.

    `reach` says where an IP address is (`reach_of`); a test names its loopback addresses public or private
    with it, as it has no public address to serve from.
    """

    def __init__(self, *, reach: Callable[[str], Reach] = reach_of, rate: RateLimiter | None = None) -> None:
        """`rate`: the batch's --max-rate bucket, which every read of this Downloader's downloads draws from."""
        self._reach = reach
        self._watchdog = _Watchdog()
        self._rate = rate
        self._sessions: dict[int, requests.Session] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        spool_dir: Path,
        limits: FetchLimits,
        should_abort: Callable[[], bool],
        on_bytes: Callable[[int], None] | None = None,
        shared: SharedSpool | None = None,
        *,
        read_page: bool = False,
    ) -> Fetched:
        """Make ONE attempt to get `url` as an image file.

        http/https: streamed into a slot of `shared` when the size is known and a slot is free, else to
        `spool_dir/<random>.part` (the folder is created if missing), redirects
        followed by hand so every hop's scheme is checked, the body cut at `limits.max_bytes` (decoded size)
        and at the total `limits.timeout`. `on_bytes(n)` is called after each chunk. `should_abort` is checked
        between chunks and also polled (about 20 times a second) from the watchdog thread, so it must be
        thread-safe (e.g. `threading.Event.is_set`); once it returns True, `Aborted` is raised.
        With `read_page` (--pages), an answer whose Content-Type says HTML is read for its images instead, as an
        HTML list file is (within the same limits): `Fetched.page` holds them, `url` named as their list.
        file: the local file is checked and used in place (`spooled=False`).
        data: an inline image (a page's, as core.sources keeps it) is decoded into a spool file, within
        `limits.max_bytes`.
        Raises FetchError (with `retryable`/`retry_after`) or Aborted; no spool file or slot is held either way.
        OSError from writing the spool file (disk full) propagates unchanged: it is not the item's fault.
        RuntimeError once the Downloader is closed.
        """
        if self._closed:
            raise RuntimeError("this Downloader is closed")
        if should_abort():
            raise Aborted("download cancelled")
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            return _fetch_file(url, limits)
        if scheme == "data":
            return _fetch_data(url, spool_dir, limits)
        if scheme not in WEB_SCHEMES:
            shown = f"{scheme}:" if scheme else "(none)"
            raise FetchError(f"unsupported URL scheme {shown} (only http, https, file and data: URLs can be fetched)")
        spool_dir.mkdir(parents=True, exist_ok=True)
        attempt = _Attempt(time.monotonic() + limits.timeout, should_abort, self._reach, self._rate)
        session = self._session()
        session.cookies.clear()  # cookies live for one item's redirect chain (a login's redirect sets one)
        try:
            with self._watchdog.watching(attempt):
                return _fetch_http(session, url, spool_dir, limits, attempt, on_bytes, shared, read_page)
        finally:
            session.cookies.clear()

    def footprint(self) -> Footprint:
        """What the sessions hold now, summed over the download threads: cookies and per-host connection pools."""
        with self._lock:
            sessions = list(self._sessions.values())
        cookies = sum(len(session.cookies) for session in sessions)
        pools = sum(len(adapter.poolmanager.pools) for s in sessions for adapter in _watched_adapters(s))
        return Footprint(sessions=len(sessions), cookies=cookies, pools=pools)

    def close(self) -> None:
        """Close every session this Downloader made (and their kept-alive connections) and end its watchdog
        thread; later fetches raise RuntimeError. Call when none of its downloads runs (a download still running
        keeps its deadline and ends by it). Idempotent."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
        self._watchdog.close()

    def _session(self) -> requests.Session:
        """The calling thread's session."""
        ident = threading.get_ident()
        with self._lock:
            if self._closed:
                raise RuntimeError("this Downloader is closed")
            session = self._sessions.get(ident)
            if session is None:
                session = requests.Session()
                _read_environment(session)
                session.mount("http://", _WatchedAdapter(self._watchdog))
                session.mount("https://", _WatchedAdapter(self._watchdog))
                self._sessions[ident] = session
        return session


@dataclass(frozen=True)
class Footprint:
    """What a Downloader's sessions hold (`Downloader.footprint`): bounded whatever the hosts seen."""

    sessions: int
    cookies: int
    pools: int


def _watched_adapters(session: requests.Session) -> list[_WatchedAdapter]:
    return [adapter for adapter in session.adapters.values() if isinstance(adapter, _WatchedAdapter)]


def _fetch_http(
    session: requests.Session,
    url: str,
    spool_dir: Path,
    limits: FetchLimits,
    attempt: _Attempt,
    on_bytes: Callable[[int], None] | None,
    shared: SharedSpool | None,
    read_page: bool,
) -> Fetched:
    started = time.monotonic()
    first = url
    seen = {url}
    hops = 0
    try:
        while True:
            if attempt.should_abort():
                raise Aborted("download cancelled")
            attempt.url, attempt.hop = url, hops
            resp = _request(session, url, limits, attempt)
            try:
                location = session.get_redirect_target(resp)
                if location is None:
                    if not 200 <= resp.status_code < 300:
                        _discard_body(resp)
                        raise _status_error(resp)
                    page_charset = _page_charset(resp) if read_page else None
                    if page_charset is not None:
                        got = _read_page(resp, url, first, page_charset, limits, attempt, on_bytes)
                    else:
                        got = _download(resp, url, spool_dir, limits, attempt, on_bytes, shared)
                    _log.debug(
                        "%s: HTTP %d, %d bytes in %.3f s", first, got.http_status, got.bytes, time.monotonic() - started
                    )
                    return got
                target = _redirect_target(url, location, resp.status_code)
                _log.debug("redirect %s -> %s (HTTP %d)", url, target, resp.status_code)
                _check_redirect(target, seen, hops, limits, resp.status_code)
                _discard_body(resp)
            finally:
                resp.close()
            seen.add(target)
            url = target
            hops += 1
    except (FetchError, Aborted) as exc:
        _log.debug("%s: failed after %.3f s: %s", first, time.monotonic() - started, exc)
        raise


def _request(session: requests.Session, url: str, limits: FetchLimits, attempt: _Attempt) -> requests.Response:
    remaining = attempt.deadline - time.monotonic()
    if remaining <= 0:
        raise _timeout_error(limits)
    headers = {"User-Agent": limits.user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
    try:
        return session.get(
            url,
            headers=headers,
            stream=True,
            allow_redirects=False,
            verify=session.verify or True,  # a CA bundle from the environment, or requests' own: never off
            timeout=(min(CONNECT_TIMEOUT, remaining), remaining),
        )
    except requests.RequestException as exc:
        raise _request_error(exc, url, limits, attempt) from exc
    except ValueError as exc:  # requests parses a redirect's Location even when it does not follow it
        raise FetchError(f"redirect to a malformed address ({exc})") from None


def _redirect_target(url: str, location: str, status: int) -> str:
    """The absolute address a Location header points to; a malformed one (a bad IPv6 host, ...) fails here."""
    try:
        target = urljoin(url, location)
        urlsplit(target).port  # noqa: B018 -- parsing the port is what validates it
    except ValueError:
        shown = location if len(location) <= 200 else location[:200] + "…"
        raise FetchError(f"redirect to a malformed address: {shown!r}", http_status=status) from None
    return target


def _check_redirect(target: str, seen: set[str], hops: int, limits: FetchLimits, status: int) -> None:
    scheme = urlsplit(target).scheme.lower()
    if scheme not in WEB_SCHEMES:
        raise FetchError(
            f"redirect to unsupported scheme {scheme}: (only http and https redirects are followed)",
            http_status=status,
        )
    if target in seen:
        raise FetchError(f"redirect loop: {target} redirects back to an earlier address", http_status=status)
    if hops >= limits.max_redirects:
        raise FetchError(f"too many redirects (over {limits.max_redirects})", http_status=status)


def _download(
    resp: requests.Response,
    url: str,
    spool_dir: Path,
    limits: FetchLimits,
    attempt: _Attempt,
    on_bytes: Callable[[int], None] | None,
    shared: SharedSpool | None,
) -> Fetched:
    status = resp.status_code
    length = _content_length(resp)
    if length is not None and length > limits.max_bytes:
        raise FetchError(
            f"download over --max-bytes {format_bytes(limits.max_bytes)} (Content-Length says {format_bytes(length)})",
            http_status=status,
        )
    if shared is not None and length is not None and not resp.headers.get("Content-Encoding"):
        slot = shared.take(length)
        if slot is not None:
            return _download_to_slot(resp, url, slot, shared, limits, attempt, on_bytes)
    fd, name = tempfile.mkstemp(prefix="dl-", suffix=".part", dir=spool_dir)
    path = Path(name)
    digest = _digest()
    try:
        with open(fd, "wb") as out:
            total, head = _stream(resp, out, length, limits, attempt, on_bytes, digest)
        if total == 0:
            raise FetchError("empty response", http_status=status)
        if _clearly_not_an_image(head):
            raise FetchError(_not_an_image("server sent", head), http_status=status)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Fetched(path=path, final_url=url, http_status=status, bytes=total, spooled=True, digest=digest.hexdigest())


def _page_charset(resp: requests.Response) -> str | None:
    """For an answer whose Content-Type is a web page, its charset parameter ('' when it names none); None when
    the answer is not a page."""
    header = email.message.Message()
    header["Content-Type"] = resp.headers.get("Content-Type", "")
    if header.get_content_type() not in _PAGE_TYPES:
        return None
    charset = header.get_param("charset")
    return charset if isinstance(charset, str) else ""


def _read_page(
    resp: requests.Response,
    url: str,
    first: str,
    charset: str,
    limits: FetchLimits,
    attempt: _Attempt,
    on_bytes: Callable[[int], None] | None,
) -> Fetched:
    """A web page read for its images (--pages), within --max-bytes and the timeout, parsed as an HTML list file
    is: relative links resolve against `url` (where the redirects ended), the items name `first` as their list."""
    length = _content_length(resp)
    if length is not None and length > limits.max_bytes:
        raise FetchError(
            f"web page over --max-bytes {format_bytes(limits.max_bytes)} (Content-Length says {format_bytes(length)})",
            http_status=resp.status_code,
        )
    body = io.BytesIO()
    total, _ = _stream(resp, body, length, limits, attempt, on_bytes, _digest())
    found = entries_from_page(body.getvalue(), url, charset or None, file=first)
    return Fetched(
        path=None, final_url=url, http_status=resp.status_code, bytes=total, spooled=False, page=tuple(found)
    )


def _download_to_slot(
    resp: requests.Response,
    url: str,
    slot: Slot,
    shared: SharedSpool,
    limits: FetchLimits,
    attempt: _Attempt,
    on_bytes: Callable[[int], None] | None,
) -> Fetched:
    """`_download` into a slot of the shared spool: the same checks, no file."""
    status = resp.status_code
    view = shared.view(slot)
    length = _content_length(resp)
    digest = _digest()
    try:
        plain = getattr(resp.raw, "_fp", None)  # urllib3's http.client response, read past urllib3 when plain
        if isinstance(plain, http.client.HTTPResponse) and not plain.chunked and plain.length == length:
            total, head = _read_into(resp, plain, view, limits, attempt, on_bytes, digest)
        else:
            try:
                total, head = _stream(resp, SlotWriter(view), length, limits, attempt, on_bytes, digest)
            except OverflowError:  # http.client stops at Content-Length; this is only a guard
                raise FetchError("the server sent more than its Content-Length said", http_status=status) from None
        if total == 0:
            raise FetchError("empty response", http_status=status)
        if _clearly_not_an_image(head):
            raise FetchError(_not_an_image("server sent", head), http_status=status)
    except BaseException:
        view.release()
        shared.give_back(slot)
        raise
    view.release()
    held = Slot(slot.name, slot.offset, slot.capacity, total)
    return Fetched(
        path=None, final_url=url, http_status=status, bytes=total, spooled=False, slot=held, digest=digest.hexdigest()
    )


def _read_into(
    resp: requests.Response,
    plain: http.client.HTTPResponse,
    view: memoryview,
    limits: FetchLimits,
    attempt: _Attempt,
    on_bytes: Callable[[int], None] | None,
    digest: _Hasher,
) -> tuple[int, bytes]:
    """A plain body of known length read from http.client's buffered socket straight into `view`: no copy in
    between and none of urllib3's per-read bookkeeping, 0.6 ms less CPU for a 1.7 MB photo. One socket read at
    a time (`readinto1`), so a slow server's bytes are counted as they come. The response is then closed and the
    connection goes back to urllib3's pool, as urllib3 itself does when a body ends."""
    assert plain.length is not None
    length, total = plain.length, 0
    while total < length:
        if attempt.reason == "abort" or attempt.should_abort():
            raise Aborted("download cancelled")
        step = _allowance(attempt, min(length - total, CHUNK))
        if not step:
            raise _stopped(resp, length, limits, attempt, total)
        try:
            n = plain.fp.readinto1(view[total : total + step]) if plain.fp else 0
        except TimeoutError:  # the per-read timeout, set to what is left of the total
            if attempt.reason == "abort":
                raise Aborted("download cancelled") from None
            raise _timeout_error(limits, total, length) from None
        except OSError:  # the watchdog cut the socket, or the peer reset it
            n = 0
        if attempt.reason is not None or not n:  # the watchdog ended the read, or the server closed early
            raise _body_error(None, resp, length, limits, attempt, total)
        digest.update(view[total : total + n])
        _refund(attempt, step - n)
        total += n
        if on_bytes is not None:
            on_bytes(n)
    plain.length = 0
    plain.close()  # the response, not the connection (as http.client does itself at a body's end)
    resp.raw.release_conn()  # so the connection goes back to urllib3's pool, reusable
    return total, bytes(view[: min(total, HEAD_BYTES)])


def _stream(
    resp: requests.Response,
    out: IO[bytes] | SlotWriter,
    length: int | None,
    limits: FetchLimits,
    attempt: _Attempt,
    on_bytes: Callable[[int], None] | None,
    digest: _Hasher,
) -> tuple[int, bytes]:
    """Copy the decoded body to `out` and into `digest`; return its size and first bytes."""
    raw = resp.raw
    total = 0
    head = b""
    while True:
        if attempt.reason == "abort" or attempt.should_abort():
            raise Aborted("download cancelled")
        step = _allowance(attempt, CHUNK)
        if not step:
            raise _stopped(resp, length, limits, attempt, None)
        try:
            chunk = raw.read1(step, decode_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise _body_error(exc, resp, length, limits, attempt) from exc
        _refund(attempt, step - len(chunk))
        if attempt.reason is not None:  # the watchdog ended the read; what came back may look like an end
            raise _body_error(None, resp, length, limits, attempt)
        if not chunk:
            return total, head
        total += len(chunk)
        if total > limits.max_bytes:
            decoded = " after decompression" if resp.headers.get("Content-Encoding") else ""
            raise FetchError(
                f"download over --max-bytes {format_bytes(limits.max_bytes)}{decoded}",
                http_status=resp.status_code,
            )
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        out.write(chunk)
        digest.update(chunk)
        if on_bytes is not None:
            on_bytes(len(chunk))


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def _digest() -> _Hasher:
    """The running hash of a download's bytes, updated as each read passes (see `Fetched.digest`); identical
    downloads are decoded once (backends/dedup.py). SHA-256: no two different images share one, and CPUs with SHA
    extensions hash it at about 1.8 GB/s (BLAKE2b: 1.2 GB/s on the same machine, which cost 0.5 ms more CPU for an
    average photo of the benchmark)."""
    return hashlib.sha256()


def content_digest(data: bytes) -> str:
    """`Fetched.digest` of a download of `data`."""
    return hashlib.sha256(data).hexdigest()


def _allowance(attempt: _Attempt, wanted: int) -> int:
    """Bytes the next read may take: `wanted`, or what --max-rate grants (after waiting for it); 0 when the
    attempt was cancelled or timed out meanwhile."""
    if attempt.rate is None:
        return wanted
    return attempt.rate.grant(wanted, lambda: attempt.reason is not None or attempt.should_abort())


def _refund(attempt: _Attempt, unused: int) -> None:
    if attempt.rate is not None:
        attempt.rate.refund(unused)


def _stopped(
    resp: requests.Response, length: int | None, limits: FetchLimits, attempt: _Attempt, received: int | None
) -> FetchError | Aborted:
    """Why a download waiting for --max-rate's leave stopped: cancelled, or out of time."""
    if attempt.should_abort():
        return Aborted("download cancelled")
    return _body_error(None, resp, length, limits, attempt, received)


def _discard_body(resp: requests.Response) -> None:
    """Read a small error or redirect body so its connection goes back to the pool for the next hop."""
    length = _content_length(resp)
    if length is not None and length <= _DRAIN_MAX:
        resp.raw.drain_conn()


def _content_length(resp: requests.Response) -> int | None:
    try:
        length = int(resp.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


# ---------------------------------------------------------------------------------------------------------
# Errors in words


def _status_error(resp: requests.Response) -> FetchError:
    code = resp.status_code
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = resp.reason or ""
    message = f"HTTP {code} {phrase}".rstrip()
    if 300 <= code < 400:
        message += " (a redirect without a Location header)"
    retryable = code in _RETRYABLE_4XX or code >= 500
    retry_after = _retry_after(resp.headers.get("Retry-After")) if retryable else None
    return FetchError(message, http_status=code, retryable=retryable, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), never negative."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _timeout_error(limits: FetchLimits, received: int = 0, length: int | None = None) -> FetchError:
    progress = ""
    if received:
        of = f" of {format_bytes(length)}" if length else ""
        progress = f" (got {format_bytes(received)}{of})"
    return FetchError(f"download took longer than --timeout {limits.timeout:g} s{progress}", retryable=True)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest them several levels deep)."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(e for e in nested if isinstance(e, BaseException))


def _innermost(exc: BaseException) -> str:
    causes = list(_causes(exc))
    return str(causes[-1]) or type(causes[-1]).__name__


def _request_error(
    exc: requests.RequestException, url: str, limits: FetchLimits, attempt: _Attempt
) -> FetchError | Aborted:
    if attempt.reason == "abort":
        return Aborted("download cancelled")
    if attempt.reason == "timeout" or isinstance(exc, requests.ReadTimeout):
        return _timeout_error(limits)
    parts = urlsplit(url)
    host = parts.hostname or url
    causes = list(_causes(exc))
    if isinstance(exc, requests.ConnectTimeout):
        return FetchError(
            f"could not connect to {host} within {min(CONNECT_TIMEOUT, limits.timeout):g} s", retryable=True
        )
    if isinstance(exc, requests.exceptions.SSLError):
        for cause in causes:
            if isinstance(cause, ssl.SSLCertVerificationError):
                detail = cause.verify_message or cause.reason or str(cause)
                return FetchError(f"TLS certificate verification failed: {detail}")
        return FetchError(f"TLS error talking to {host}: {_innermost(exc)}", retryable=True)
    for cause in causes:
        if isinstance(cause, socket.gaierror | urllib3.exceptions.NameResolutionError):
            gai = next((c for c in causes if isinstance(c, socket.gaierror)), None)
            transient = gai is not None and gai.errno == getattr(socket, "EAI_AGAIN", None)
            return FetchError(f"could not resolve host {host}", retryable=transient)
        if isinstance(cause, ConnectionRefusedError):
            return FetchError("connection refused", retryable=True)
        if isinstance(cause, http.client.RemoteDisconnected):
            return FetchError("server closed the connection without answering", retryable=True)
        if isinstance(cause, ConnectionResetError):
            return FetchError("connection reset by the server", retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return FetchError(f"connection to {host} failed: {_innermost(exc)}", retryable=True)
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return FetchError(f"invalid URL: {_innermost(exc)}")
    return FetchError(f"download failed: {_innermost(exc)}", retryable=True)


def _body_error(
    exc: urllib3.exceptions.HTTPError | None,
    resp: requests.Response,
    length: int | None,
    limits: FetchLimits,
    attempt: _Attempt,
    received: int | None = None,
) -> FetchError | Aborted:
    """Why a body ended early. `received`: bytes read so far, when not read through urllib3 (which counts)."""
    if received is None:
        received = resp.raw.tell()
    if attempt.reason == "abort":
        return Aborted("download cancelled")
    if attempt.reason == "timeout" or isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return _timeout_error(limits, received, length)
    if isinstance(exc, urllib3.exceptions.DecodeError):
        encoding = resp.headers.get("Content-Encoding", "")
        return FetchError(
            f"could not decompress the {encoding} download: {_innermost(exc)}", http_status=resp.status_code
        )
    of = f" of {format_bytes(length)}" if length is not None else ""
    return FetchError(f"connection closed after {format_bytes(received)}{of}", retryable=True)


# ---------------------------------------------------------------------------------------------------------
# file: URLs, read in place


def _fetch_file(url: str, limits: FetchLimits) -> Fetched:
    path = _file_path(url)
    shown = _shown(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FetchError(f"file not found: {shown}") from None
    except OSError as exc:
        raise FetchError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FetchError(f"is a folder, not a file: {shown}")
    if not stat.S_ISREG(info.st_mode):
        raise FetchError(f"not a regular file: {shown}")
    if info.st_size > limits.max_bytes:
        raise FetchError(
            f"file over --max-bytes {format_bytes(limits.max_bytes)} (it is {format_bytes(info.st_size)}): {shown}"
        )
    if info.st_size == 0:
        raise FetchError(f"file is empty: {shown}")
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise FetchError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if _clearly_not_an_image(head):
        raise FetchError(f"{_not_an_image('file is', head)}: {shown}")
    return Fetched(path=path, final_url=url, http_status=None, bytes=info.st_size, spooled=False)


# ---------------------------------------------------------------------------------------------------------
# data: URLs, decoded here


def _fetch_data(url: str, spool_dir: Path, limits: FetchLimits) -> Fetched:
    """An inline image: its bytes, within --max-bytes (judged from the encoded length before decoding)."""
    header, comma, payload = url[len("data:") :].partition(",")
    encoded = header.lower().endswith(";base64")
    size = len(payload) * 3 // 4 if encoded else len(payload)  # at most this many bytes once decoded
    if not comma:
        raise FetchError("a data: URL without the comma that starts its data")
    if size > limits.max_bytes:
        raise FetchError(
            f"data: image over --max-bytes {format_bytes(limits.max_bytes)} (it is about {format_bytes(size)})"
        )
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4)) if encoded else unquote_to_bytes(payload)
    except binascii.Error as exc:
        raise FetchError(f"a data: URL whose base64 does not decode ({exc})") from None
    if not data:
        raise FetchError("a data: URL with no data")
    if _clearly_not_an_image(data[:HEAD_BYTES]):
        raise FetchError(_not_an_image("data: URL holds", data[:HEAD_BYTES]))
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="data-", suffix=".part", dir=spool_dir)
    try:
        with open(fd, "wb") as out:
            out.write(data)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Fetched(path=Path(name), final_url=url, http_status=None, bytes=len(data), spooled=True)


def _file_path(url: str) -> Path:
    """The file a file: URL names. On POSIX its path is the name's bytes, percent-escaped (as `Path.as_uri` writes
    it), so a name that is not valid UTF-8 is found too."""
    parts = urlsplit(url)
    if parts.netloc in ("", "localhost"):
        if os.name == "nt":
            return Path(url2pathname(parts.path))
        return Path(os.fsdecode(unquote_to_bytes(parts.path)))
    if os.name == "nt":  # file://server/share/x.jpg is a UNC path on Windows
        return Path(url2pathname(f"//{parts.netloc}{parts.path}"))
    raise FetchError(f"file URL with a host ({parts.netloc}) cannot be read here; use file:///path")


def _shown(path: Path) -> str:
    """A path for a message: a name that is not valid UTF-8 gets U+FFFD for each stray byte (a message is stored
    in the journal, which takes UTF-8 only)."""
    return os.fsencode(path).decode("utf-8", "replace")
