"""A simulated web for the benchmarks: every 127.x.y.z address its own host, served by one asyncio process.

    python -m benchmarks.web_server FILES.txt --port N [--rtt 0.08] [--bandwidth 1.5e6] [--host-connections 2]
        [--slow-every 10] [--flaky-every 10] [--close]

`GET /i/<n>.jpg` answers file `n % len(FILES)` (read into memory once). The host is the address the client
connected to, so a list spread over `127.1.0.1`, `127.1.0.2`, ... is a list spread over many servers. What a
real server far away does to a client is simulated without spending CPU (the server is the web, not what is
measured; all waiting is `asyncio.sleep`):

- a round trip before a new connection's first request is read (the TCP handshake) and one before each answer;
- each connection paced to `--bandwidth` bytes a second (a slow host, every `--slow-every`-th, to a third);
- at most `--host-connections` requests served per host at once (0: no limit), as nginx's limit_conn counts
  them (idle kept-alive connections do not count); more wait their turn;
- a `Set-Cookie` on every answer (two cookies, named after the host);
- every `--flaky-every`-th item answers its first request with 429 or 503 (alternately) and `Retry-After: 1`;
- `--close`: `Connection: close` on every answer, so every item costs a new connection.

`GET /__reset` forgets which flaky items have failed once, so every method measured meets the same web.
It prints `listening` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
from pathlib import Path

CHUNK = 32 * 1024
RETRY_AFTER = 1


def host_index(host: str) -> int:
    """127.1.A.B -> the host's number, as `host_address` made it."""
    _, _, a, b = (int(part) for part in host.split("."))
    return a * 250 + b - 1


def host_address(index: int) -> str:
    """The address of simulated host number `index` (0-based; up to 62,500 hosts)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


def is_slow(host: int, slow_every: int) -> bool:
    return slow_every > 0 and host % slow_every == slow_every // 2


def flaky_status(item: int, flaky_every: int) -> int | None:
    """429 or 503 for the items that fail their first request, else None."""
    if flaky_every <= 0 or item % flaky_every != flaky_every - 1:
        return None
    return 429 if (item // flaky_every) % 2 == 0 else 503


class Web:
    def __init__(self, files: list[bytes], args: argparse.Namespace) -> None:
        self.files = files
        self.rtt: float = args.rtt
        self.bandwidth: float = args.bandwidth
        self.host_connections: int = args.host_connections
        self.slow_every: int = args.slow_every
        self.flaky_every: int = args.flaky_every
        self.close: bool = args.close
        self.failed_once: set[int] = set()
        self.slots: dict[str, asyncio.Semaphore] = {}
        self.cookies = itertools.count()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            if self.rtt:
                await asyncio.sleep(self.rtt)
            await self.serve(host, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def serve(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            keep = not self.close and b"connection: close" not in head.lower()
            if self.host_connections:
                async with self.slots.setdefault(host, asyncio.Semaphore(self.host_connections)):
                    await self.respond(host, head, keep, writer)
            else:
                await self.respond(host, head, keep, writer)
            if not keep:
                return

    async def respond(self, host: str, head: bytes, keep: bool, writer: asyncio.StreamWriter) -> None:
        """One answer, a round trip after the request came in."""
        if self.rtt:
            await asyncio.sleep(self.rtt)
        status, body, bandwidth = self.answer(host, head.split(b" ", 2)[1].decode())
        reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}[status]
        n = next(self.cookies)
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Length: {len(body)}",
            "Content-Type: image/jpeg" if status == 200 else "Content-Type: text/plain",
            f"Set-Cookie: session-{host}={n:x}; Path=/; Max-Age=3600",
            f"Set-Cookie: seen-{host}=1; Path=/; Max-Age=86400",
            "Connection: keep-alive" if keep else "Connection: close",
        ]
        if status in (429, 503):
            lines.append(f"Retry-After: {RETRY_AFTER}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.paced(writer, body, bandwidth)

    def answer(self, host: str, target: str) -> tuple[int, bytes, float]:
        if target == "/__reset":
            self.failed_once.clear()
            return 200, b"reset", 0.0
        name = target.split("?", 1)[0].rsplit("/", 1)[-1]
        stem = name.split(".", 1)[0]
        if not target.startswith("/i/") or not stem.isdigit():
            return 404, b"not found", 0.0
        item = int(stem)
        flaky = flaky_status(item, self.flaky_every)
        if flaky is not None and item not in self.failed_once:
            self.failed_once.add(item)
            return flaky, b"busy, come back later", 0.0
        slow = is_slow(host_index(host), self.slow_every) if host.startswith("127.1.") else False
        bandwidth = self.bandwidth / 3 if slow else self.bandwidth
        return 200, self.files[item % len(self.files)], bandwidth

    async def paced(self, writer: asyncio.StreamWriter, body: bytes, bandwidth: float) -> None:
        """Write `body` at `bandwidth` bytes a second (unpaced when 0)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for offset in range(0, len(body), CHUNK):
            writer.write(body[offset : offset + CHUNK])
            await writer.drain()
            if bandwidth:
                ahead = start + (offset + CHUNK) / bandwidth - loop.time()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if not body:
            await writer.drain()


async def main_async(args: argparse.Namespace) -> None:
    files = [Path(line).read_bytes() for line in args.files.read_text().splitlines() if line]
    web = Web(files, args)
    server = await asyncio.start_server(web.connection, "0.0.0.0", args.port, backlog=4096, reuse_address=True)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.web_server")
    p.add_argument("files", type=Path, help="a file listing the image files to serve, one a line")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rtt", type=float, default=0.08, help="seconds per round trip")
    p.add_argument("--bandwidth", type=float, default=1.5e6, help="bytes a second per connection (0: unpaced)")
    p.add_argument("--host-connections", type=int, default=2, help="connections served per host at once")
    p.add_argument("--slow-every", type=int, default=10, help="every Nth host is 3x slower (0: none)")
    p.add_argument("--flaky-every", type=int, default=10, help="every Nth item fails once with 429/503 (0: none)")
    p.add_argument("--close", action="store_true", help="a new connection for every answer")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
