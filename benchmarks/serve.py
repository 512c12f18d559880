"""Serve a folder on 127.0.0.1 for the benchmarks: Debian's nginx when installed, else a threaded Python server.

nginx runs in the foreground as a child of the benchmark (its own prefix, config, pid and logs in a temporary
folder) and is stopped with it, so nothing is left listening. The fallback is said out loud in the output
because a Python server spends the same two cores the thumbnailer is measured on.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PR_SET_PDEATHSIG = 1
NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    types {{ image/jpeg jpg; image/png png; text/plain txt; }}
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass(frozen=True)
class Served:
    base_url: str
    server: str  # what serves it, for the output ("nginx 1.22.1" or the fallback's note)

    def url(self, root: Path, path: Path) -> str:
        return f"{self.base_url}/{path.relative_to(root).as_posix()}"


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"nginx exited at start-up with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the benchmark's web server did not listen on 127.0.0.1:{port} within {timeout:g} s")


def _die_with_parent() -> None:
    """In the child before exec: on Linux, nginx gets SIGTERM if the benchmark dies without stopping it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextmanager
def _nginx(binary: str, root: Path) -> Iterator[Served]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        # As root, nginx's workers would switch to `nobody`, who may not be able to read the corpus folder.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, user=user, port=port, root=root.resolve()))
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        proc = subprocess.Popen(
            [binary, "-p", tmp, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        try:
            try:
                _wait_listening(port, proc)
            except RuntimeError as exc:
                err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None and proc.stderr else ""
                raise RuntimeError(f"{exc}: {err.strip()}") from None
            yield Served(f"http://127.0.0.1:{port}", version.replace("nginx version: ", ""))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _QuietHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _python(root: Path) -> Iterator[Served]:
    handler = partial(_QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="bench-http", daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        yield Served(f"http://127.0.0.1:{port}", "Python ThreadingHTTPServer (FALLBACK: nginx is not installed)")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextmanager
def serve(root: Path, prefer_nginx: bool = True) -> Iterator[Served]:
    """Serve `root` on a free loopback port for the duration of the block."""
    binary = find_nginx() if prefer_nginx else None
    cm = _nginx(binary, root) if binary else _python(root)
    with cm as served:
        yield served
