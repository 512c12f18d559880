"""The one loopback HTTP server every test uses: real generated images, and misbehaviour on demand.

Cases are composed from the URL alone, no handlers to register:

    /img/<name>.<ext>?w=640&h=480&color=ff0000&alpha=0&exif=6&frames=3
                              a real image (jpg, png, webp, gif, bmp, tiff): `color` fill (default derived
                              from <name>) with the top-left quarter black (white on dark fills), so
                              orientation can be checked; alpha (png/webp/gif/tiff), EXIF orientation,
                              animation frames
    /status/<code>?after=5&date=1&location=/x
                              that status with a small HTML body, optional Retry-After and Location
    /retry/<n>/<name>.<ext>?after=1&date=1&code=429
                              503 (or `code`) with Retry-After (`after` seconds, or an HTTP date with
                              date=1) for the first n requests of that exact URL, then the image
    /drip/<name>.<ext>?bps=1  Content-Length, then the image at `bps` bytes per second (headers=1: the
                              status line and headers drip too)
    /hang                     reads the request and never answers (until the server stops)
    /hangup/<name>.<ext>      Content-Length of the whole image, then closes after half of it
    /redirect/<n>?to=<url>&code=302
                              n chained redirects (relative Location), the last to `to` (any scheme)
    /loop                     redirects to itself
    /huge?claim=2000000000    claims that Content-Length and streams zeros behind a JPEG marker
    /endless                  a chunked body that never ends (JPEG marker, then zeros)
    /html  /empty  /svg       a 200 login page, a 200 with no body, an SVG image
    /any/<anything>           a small JPEG whatever the rest of the path says (names from hostile URLs)

Modifiers that apply to every route: `ct=<type>` overrides Content-Type (`ct=` leaves it out),
`nolength=1` sends chunked transfer-encoding, `gzip=1` gzip Content-Encoding, `delay=<s>` waits before
answering. `server.add(path, body, headers, status)` registers an exact path instead.

Counters: `server.hits(path)` (a path, or path?query for that exact URL), `server.bytes_served(path)`,
`server.total_hits()`, `server.requests`, `server.connections_opened`, `server.in_flight` and
`server.max_concurrent` (requests being answered at once, at most); `server.reset()` zeroes them.
"""

from __future__ import annotations

import functools
import gzip
import io
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from PIL import Image, ImageDraw

# extension -> (Pillow format, Content-Type)
IMAGE_TYPES = {
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
    "gif": ("GIF", "image/gif"),
    "bmp": ("BMP", "image/bmp"),
    "tif": ("TIFF", "image/tiff"),
    "tiff": ("TIFF", "image/tiff"),
}
_ALPHA_FORMATS = {"PNG", "WEBP", "GIF", "TIFF"}
_EXIF_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF"}
_BLOCK = 64 * 1024
_ZEROS = bytes(_BLOCK)
_JPEG_MARKER = b"\xff\xd8\xff\xe0"

LOGIN_PAGE = b"""<!DOCTYPE html>
<html><head><title>Sign in</title></head>
<body><form method="post" action="/login"><input name="user"><input name="password" type="password">
<button>Sign in</button></form></body></html>
"""
SVG_IMAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48" fill="red"/></svg>
"""


@functools.lru_cache(maxsize=512)
def image_bytes(
    name: str,
    ext: str = "jpg",
    width: int = 64,
    height: int = 48,
    color: str | None = None,
    alpha: int | None = None,
    exif: int | None = None,
    frames: int = 1,
) -> bytes:
    """The exact bytes `/img/<name>.<ext>?...` serves, so tests can compare what arrived."""
    fmt = IMAGE_TYPES[ext.lower()][0]
    rgb = _rgb(color) if color else _rgb(f"{zlib.crc32(name.encode()) & 0xFFFFFF:06x}")
    use_alpha = alpha is not None and fmt in _ALPHA_FORMATS
    images = [_frame(width, height, _rotate(rgb, i), alpha if use_alpha else None) for i in range(frames)]
    options: dict[str, object] = {}
    if exif is not None and fmt in _EXIF_FORMATS:
        tags = Image.Exif()
        tags[0x0112] = exif
        options["exif"] = tags
    if fmt == "JPEG":
        options["quality"] = 90
    if frames > 1 and fmt in {"GIF", "WEBP", "PNG", "TIFF"}:
        options.update(save_all=True, append_images=images[1:], duration=100, loop=0)
    out = io.BytesIO()
    images[0].save(out, fmt, **options)
    return out.getvalue()


def _rgb(hex_color: str) -> tuple[int, int, int]:
    value = int(hex_color.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _rotate(rgb: tuple[int, int, int], i: int) -> tuple[int, int, int]:
    return rgb if i == 0 else _rotate((rgb[1], rgb[2], rgb[0]), i - 1)


def _frame(width: int, height: int, rgb: tuple[int, int, int], alpha: int | None) -> Image.Image:
    light = sum(rgb) > 3 * 128
    marker = (0, 0, 0) if light else (255, 255, 255)
    if alpha is None:
        image = Image.new("RGB", (width, height), rgb)
        ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=marker)
    else:
        image = Image.new("RGBA", (width, height), (*rgb, alpha))
        ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=(*marker, 255))
    return image


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    target: str  # path and query as sent
    path: str
    headers: dict[str, str]


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 (HTTP/1.1, keep-alive) in a daemon thread; see the module doc.

    Use as a context manager. Stopping never hangs: open /hang and /drip connections are shut down and
    every handler thread is joined. A handler that crashed (a bug here, not a client going away) makes
    `stop()` raise, so such bugs cannot hide.
    """

    def __init__(self, tls: ssl.SSLContext | None = None, bind: str = "127.0.0.1") -> None:
        """`bind` "0.0.0.0" lets the server play many hosts: every 127.x.y.z address reaches it (`url(host=)`)."""
        self.tls = tls
        self.bind = bind
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._retry_counts: Counter[str] = Counter()
        self._httpd = _HTTPServer(self)
        self._serve_thread: threading.Thread | None = None
        self.errors: list[str] = []
        self.in_flight = 0
        self.reset()

    # -- life cycle

    def start(self) -> LoopbackServer:
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="loopback", daemon=True
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        if self._serve_thread is None:
            return
        self.stopping.set()
        self._httpd.shutdown()
        self._serve_thread.join()
        self._serve_thread = None
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd.server_close()
        stuck = [t for t in threads if t.is_alive()]
        if stuck:
            raise RuntimeError(f"loopback server: {len(stuck)} handler thread(s) did not stop")
        if self.errors:
            raise AssertionError("loopback server handler failed:\n" + "\n".join(self.errors))

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and explicit routes

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def add(self, path: str, body: bytes, headers: dict[str, str] | None = None, status: int = 200) -> str:
        """Serve `body` at exactly `path` (query ignored); returns its URL."""
        with self._lock:
            self._routes[path] = (status, body, dict(headers or {}))
        return self.url(path)

    # -- counters

    def reset(self) -> None:
        with self._lock:
            self._hits: Counter[str] = Counter()
            self._bytes: Counter[str] = Counter()
            self._retry_counts.clear()
            self.requests: list[Request] = []
            self._intervals: list[tuple[float, float]] = []
            self.connections_opened = 0
            self.max_concurrent = self.in_flight

    def hits(self, path: str) -> int:
        """Requests for `path` (any query), or for exactly `path?query` when a query is given."""
        with self._lock:
            return self._hits[path]

    def total_hits(self) -> int:
        """All requests since start (or the last reset)."""
        with self._lock:
            return len(self.requests)

    def bytes_served(self, path: str | None = None) -> int:
        """Body bytes written (to `path`, or in total)."""
        with self._lock:
            return self._bytes[path] if path is not None else sum(self._bytes.values())

    # -- used by the handler threads

    def _record(self, handler: _Handler, path: str) -> None:
        request = Request(handler.command, handler.path, path, dict(handler.headers.items()))
        with self._lock:
            self.requests.append(request)
            self._hits[path] += 1
            if handler.path != path:
                self._hits[handler.path] += 1

    def peak_transfers(self) -> int:
        """Most responses in transfer at once, each counted from its request's arrival to its last byte
        written. Unlike `max_concurrent` this is causal: a client can only send its next request after it
        got the previous last byte, so a limit it keeps is never over-counted by a handler still unwinding."""
        with self._lock:
            events = sorted([(t0, 1) for t0, _ in self._intervals] + [(t1, -1) for _, t1 in self._intervals])
        peak = now = 0
        for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
            now += step
            peak = max(peak, now)
        return peak

    @contextmanager
    def _serving(self, handler: _Handler) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)
        handler.last_write = started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
                self._intervals.append((started, handler.last_write))

    def _count_bytes(self, path: str, n: int) -> None:
        with self._lock:
            self._bytes[path] += n

    def _count_retry(self, target: str) -> int:
        with self._lock:
            self._retry_counts[target] += 1
            return self._retry_counts[target]

    def _route(self, path: str) -> tuple[int, bytes, dict[str, str]] | None:
        with self._lock:
            return self._routes.get(path)

    def _opened(self, conn: socket.socket, thread: threading.Thread) -> None:
        with self._lock:
            self._conns.add(conn)
            self._threads.add(thread)
            self.connections_opened += 1

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)
            self._threads.discard(threading.current_thread())

    def _error(self, exc: BaseException | None) -> None:
        if isinstance(exc, OSError):  # the client went away, refused our certificate, or we shut it down
            return
        with self._lock:
            self.errors.append("".join(traceback.format_exception(exc)) if exc else "unknown error")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # LoopbackServer.stop joins the handler threads itself, with a deadline
    request_queue_size = 128

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__((owner.bind, 0), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def get_request(self) -> tuple[socket.socket, object]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle/delayed-ACK stalls
        if self.owner.tls is not None:  # the handshake happens in the handler thread, never in this one
            conn = self.owner.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, address

    def process_request(self, request, client_address) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="loopback-handler"
        )
        thread.daemon = True
        self.owner._opened(request, thread)
        thread.start()

    def shutdown_request(self, request) -> None:
        self.owner._closed(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        self.owner._error(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    last_write: float  # when the last body bytes left, for peak_transfers()

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        target = urlsplit(self.path)
        self.route_path = target.path
        self.q = dict(parse_qsl(target.query, keep_blank_values=True))
        owner._record(self, target.path)
        with owner._serving(self):
            try:
                delay = float(self.q.get("delay", 0))
                if delay and owner.stopping.wait(delay):
                    self.close_connection = True
                    return
                self._dispatch(target.path)
            except ValueError as exc:  # a malformed test URL, not a server bug
                self._send(400, _page(400, str(exc)), {"Content-Type": "text/html"})

    def _dispatch(self, path: str) -> None:
        registered = self.server.owner._route(path)
        if registered is not None:
            status, body, headers = registered
            self._send(status, body, headers)
            return
        head, _, rest = path.lstrip("/").partition("/")
        routes = {
            "img": self._img,
            "status": self._status,
            "retry": self._retry,
            "drip": self._drip,
            "hang": self._hang,
            "hangup": self._hangup,
            "redirect": self._redirect,
            "loop": self._loop,
            "huge": self._huge,
            "endless": self._endless,
            "html": lambda _: self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"}),
            "empty": lambda _: self._send(200, b"", {"Content-Type": "image/jpeg"}),
            "svg": lambda _: self._send(200, SVG_IMAGE, {"Content-Type": "image/svg+xml"}),
            "any": lambda _: self._send(200, image_bytes("any", "jpg"), {"Content-Type": "image/jpeg"}),
        }
        route = routes.get(head)
        if route is None:
            self._send(404, _page(404), {"Content-Type": "text/html"})
        else:
            route(rest)

    # -- routes

    def _img(self, filename: str) -> None:
        image = self._image(filename)
        if image is None:
            self._send(404, _page(404), {"Content-Type": "text/html"})
        else:
            self._send(200, image[0], {"Content-Type": image[1]})

    def _status(self, rest: str) -> None:
        code = int(rest)
        headers = {"Content-Type": "text/html", **self._retry_after()}
        if "location" in self.q:
            headers["Location"] = self.q["location"]
        self._send(code, b"" if code in (204, 304) else _page(code), headers)

    def _retry(self, rest: str) -> None:
        n, _, filename = rest.partition("/")
        if self.server.owner._count_retry(self.path) <= int(n):
            code = int(self.q.get("code", 503))
            self._send(code, _page(code), {"Content-Type": "text/html", **self._retry_after()})
        else:
            self._img(filename)

    def _drip(self, filename: str) -> None:
        image = self._image(filename)
        if image is None:
            self._send(404, _page(404), {"Content-Type": "text/html"})
            return
        body, content_type = image
        bps = float(self.q.get("bps", 1))
        tick = max(1 / bps, 0.02)
        step = max(1, round(bps * tick))
        if self.q.get("headers") == "1":  # drip the status line and headers too
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            body = head.encode() + body
        else:
            self._start(200, {"Content-Type": content_type, "Content-Length": str(len(body))})
        for i in range(0, len(body), step):
            self._write(body[i : i + step])
            if self.server.owner.stopping.wait(tick):
                self.close_connection = True
                return

    def _hang(self, _: str) -> None:
        self.server.owner.stopping.wait()
        self.close_connection = True

    def _hangup(self, filename: str) -> None:
        image = self._image(filename)
        if image is None:
            self._send(404, _page(404), {"Content-Type": "text/html"})
            return
        body, content_type = image
        self._start(200, {"Content-Type": content_type, "Content-Length": str(len(body))})
        self._write(body[: len(body) // 2])
        self.close_connection = True

    def _redirect(self, rest: str) -> None:
        n = int(rest or 1)
        code = int(self.q.get("code", 302))
        last = self.q.get("to", "/img/redirected.jpg")
        location = f"/redirect/{n - 1}?{urlencode(self.q)}" if n > 1 else last
        self._send(code, _page(code), {"Content-Type": "text/html", "Location": location})

    def _loop(self, _: str) -> None:
        self._send(302, _page(302), {"Content-Type": "text/html", "Location": "/loop"})

    def _huge(self, _: str) -> None:
        claim = int(self.q.get("claim", 2_000_000_000))
        self._start(200, {"Content-Type": "image/jpeg", "Content-Length": str(claim)})
        sent = 0
        for block in self._zeros_after_marker():
            block = block[: claim - sent]
            self._write(block)
            sent += len(block)
            if sent >= claim:
                return
        self.close_connection = True

    def _endless(self, _: str) -> None:
        self._send(200, self._zeros_after_marker(), {"Content-Type": "image/jpeg"})

    # -- helpers

    def _image(self, filename: str) -> tuple[bytes, str] | None:
        name, _, ext = filename.rpartition(".")
        kind = IMAGE_TYPES.get(ext.lower())
        if not name or kind is None:
            return None
        q = self.q
        body = image_bytes(
            name,
            ext.lower(),
            width=int(q.get("w", 64)),
            height=int(q.get("h", 48)),
            color=q.get("color") or None,
            alpha=int(q["alpha"]) if "alpha" in q else None,
            exif=int(q["exif"]) if "exif" in q else None,
            frames=int(q.get("frames", 1)),
        )
        return body, kind[1]

    def _retry_after(self) -> dict[str, str]:
        if "after" not in self.q:
            return {}
        if self.q.get("date") == "1":
            return {"Retry-After": formatdate(time.time() + float(self.q["after"]), usegmt=True)}
        return {"Retry-After": self.q["after"]}

    def _zeros_after_marker(self) -> Iterator[bytes]:
        yield _JPEG_MARKER + _ZEROS[len(_JPEG_MARKER) :]
        while not self.server.owner.stopping.is_set():
            yield _ZEROS

    def _send(self, status: int, body: bytes | Iterable[bytes], headers: dict[str, str]) -> None:
        """Send a whole response, applying the ct, gzip and nolength modifiers of the query."""
        headers = dict(headers)
        if "ct" in self.q:
            headers.pop("Content-Type", None)
            if self.q["ct"]:
                headers["Content-Type"] = self.q["ct"]
        gzipped = self.q.get("gzip") == "1"
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        if isinstance(body, bytes):
            body = gzip.compress(body) if gzipped else body
            chunked = self.q.get("nolength") == "1"
            chunks: Iterable[bytes] = [body]
        else:
            chunked = True
            chunks = _gzip_stream(body) if gzipped else body
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(len(body))
        self._start(status, headers)
        for chunk in chunks:
            if chunk:
                self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            self._write(b"0\r\n\r\n")

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _write(self, data: bytes) -> None:
        self.last_write = time.monotonic()  # before the bytes leave: the client cannot react earlier
        self.wfile.write(data)
        self.server.owner._count_bytes(self.route_path, len(data))


def _gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """gzip as it goes (a sync flush per chunk), so an endless body becomes an endless gzip bomb."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    for chunk in chunks:
        yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


def _page(code: int, detail: str = "") -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"<!DOCTYPE html><html><title>{code}</title><h1>{code} {phrase}</h1><p>{detail}</p></html>".encode()


# ---------------------------------------------------------------------------------------------------------
# Fixtures


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1 made with the openssl command (skips when missing)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A fresh loopback server per test (start-up is about a millisecond)."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed certificate for 127.0.0.1, made once per test session."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(tls_cert: tuple[Path, Path]) -> Iterator[LoopbackServer]:
    """The same server behind TLS with a self-signed certificate no client trusts."""
    cert, key = tls_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with LoopbackServer(tls=context) as server:
        yield server
