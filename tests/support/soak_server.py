"""The loopback server in a process of its own, for the soak test: `python -m tests.support.soak_server`.

Prints its port on the first line of standard output and serves until standard input closes, so the process
that measures the runner (memory, threads, sockets) does not also carry the server's bookkeeping.
"""

from __future__ import annotations

import sys

from tests.support.images import cut_before_scan_data
from tests.support.loopback import LoopbackServer, image_bytes


def main() -> None:
    with LoopbackServer() as server:
        broken = cut_before_scan_data(image_bytes("broken", "jpg", 200, 200))
        server.add("/broken.jpg", broken, {"Content-Type": "image/jpeg"})
        print(server.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
