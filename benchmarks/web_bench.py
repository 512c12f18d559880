"""The "web" section: the thumbnailer on a simulated web (`benchmarks.web_server`) against what a user would pick
instead, `aria2c -j16` downloading the list and then `vipsthumbnail` two at a time, and against the list's
network floor; then many hosts against one host at zero latency.

Every method is its own process(es), timed from launch to exit into a fresh folder, and meets the same web: the
server forgets which flaky items failed before each. aria2c retries a 503 (`--retry-wait 1`) but not a 429, so
the pipeline runs it again on what it saved as unfinished until every file is there, as a user would (its
re-runs come at once, sooner than the servers' Retry-After: that favours aria2c).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.baselines import BOX, JPEG_QUALITY, vips_commands
from benchmarks.corpus import make_small
from benchmarks.serve import _die_with_parent, _free_port
from benchmarks.stats import ratio_line, spread
from benchmarks.throughput import PROCESSES, ROOT, count_outputs, python, run_lanes, thumbnailer_command
from benchmarks.web_server import RETRY_AFTER, flaky_status, host_address, is_slow

ARIA2_JOBS = 16
ARIA2_ROUNDS = 5  # runs of aria2c on what is still missing
TARGET_PIPELINE = 2.0
TARGET_DOWNLOAD = 1.0
TARGET_FLOOR = 1.3
TARGET_HOSTS = 1.1


@dataclass(frozen=True)
class WebSpec:
    """One simulated web and the list on it: item i is on host i % hosts."""

    items: int
    hosts: int
    rtt: float  # seconds a round trip
    bandwidth: float  # bytes a second a connection (0: unpaced)
    host_connections: int  # connections a host serves at once (0: any number)
    slow_every: int  # every Nth host at a third of the bandwidth
    flaky_every: int  # every Nth item answers 429 or 503 first
    image_size: tuple[int, int]
    files: int  # distinct images served (item i gets file i % files)
    close: bool = False  # a new connection for every answer

    def server_args(self) -> list[str]:
        args = [
            f"--rtt={self.rtt}",
            f"--bandwidth={self.bandwidth}",
            f"--host-connections={self.host_connections}",
            f"--slow-every={self.slow_every}",
            f"--flaky-every={self.flaky_every}",
        ]
        return [*args, "--close"] if self.close else args

    def describe(self) -> str:
        w, h = self.image_size
        pace = f"{self.bandwidth / 1e6:g} MB/s a connection" if self.bandwidth else "unpaced"
        n = self.host_connections
        serves = f"{n} request{'s' if n > 1 else ''} a host served at once" if n else "no per-host limit"
        text = (
            f"{self.items:,} JPEGs {w}x{h} on {self.hosts:,} hosts, {self.rtt * 1000:.0f} ms a round trip"
            f" (per connection and per request), {pace}, {serves}, Set-Cookie on every answer"
        )
        if self.slow_every:
            text += f", every {self.slow_every}th host 3x slower"
        if self.flaky_every:
            text += f", every {self.flaky_every}th item 429/503 first (Retry-After {RETRY_AFTER} s)"
        if self.close:
            text += ", a new connection for every answer"
        return text


WEB = WebSpec(400, 200, 0.08, 1.5e6, 2, 10, 10, (1600, 1067), 40)
WEB_SMOKE = WebSpec(24, 8, 0.02, 1.5e6, 2, 4, 6, (320, 213), 4)
LATENCY = WebSpec(600, 20, 0.08, 1.5e6, 1, 0, 0, (640, 427), 40)
LATENCY_SMOKE = WebSpec(40, 4, 0.02, 1.5e6, 1, 0, 0, (320, 213), 4)
MANY = WebSpec(4000, 4000, 0.0, 0.0, 0, 0, 0, (320, 213), 40, close=True)
MANY_SMOKE = WebSpec(60, 60, 0.0, 0.0, 0, 0, 0, (320, 213), 4, close=True)


def network_floor(spec: WebSpec, sizes: list[int]) -> float:
    """A lower bound of the seconds any client needs for the list: per host, its items' round trips and bytes
    spread over the connections the host serves at once (a connection's handshake paid once, every request's
    round trip, a flaky item's extra request and its Retry-After), and no item sooner than its own chain; the
    slowest host sets the floor. No start-up, no CPU, no decoding: the network alone."""
    worst = 0.0
    for host in range(spec.hosts):
        mine = range(host, spec.items, spec.hosts)
        bandwidth = spec.bandwidth / 3 if is_slow(host, spec.slow_every) else spec.bandwidth
        busy, longest = 0.0, 0.0
        for item in mine:
            transfer = sizes[item % len(sizes)] / bandwidth if bandwidth else 0.0
            extra = spec.rtt if flaky_status(item, spec.flaky_every) else 0.0
            busy += spec.rtt + extra + transfer
            wait = RETRY_AFTER if extra else 0.0
            longest = max(longest, 2 * spec.rtt + extra + wait + transfer)
        lanes = min(len(mine), spec.host_connections or len(mine))
        if lanes:
            worst = max(worst, longest, spec.rtt + busy / lanes)
    return worst


def jobs_floor(spec: WebSpec, sizes: list[int], jobs: int) -> float:
    """The floor of a client that keeps `jobs` downloads going, each on a new connection (aria2c -j16 on a list
    of distinct hosts): the network floor, or every item's handshake, request and bytes shared by `jobs` lanes.
    aria2c near this figure shows the simulated web keeps up with it."""
    busy = 0.0
    for item in range(spec.items):
        bandwidth = spec.bandwidth / 3 if is_slow(item % spec.hosts, spec.slow_every) else spec.bandwidth
        transfer = sizes[item % len(sizes)] / bandwidth if bandwidth else 0.0
        busy += 2 * spec.rtt + transfer + (2 * spec.rtt if flaky_status(item, spec.flaky_every) else 0.0)
    return max(network_floor(spec, sizes), busy / jobs)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (Linux /proc), for the server's own cost."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Web:
    port: int
    pid: int

    def url(self, item: int, spec: WebSpec) -> str:
        return f"http://{host_address(item % spec.hosts)}:{self.port}/i/{item}.jpg"

    def reset(self) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__reset", timeout=10) as resp:
            resp.read()

    def cpu(self) -> float:
        return _cpu_seconds(self.pid)


@contextmanager
def simulated_web(spec: WebSpec, files: list[Path], work: Path) -> Iterator[Web]:
    """The simulated web in a process of its own, stopped with the block."""
    listing = work / f"served-{spec.items}-{spec.rtt}.txt"
    listing.write_text("".join(f"{p}\n" for p in files))
    port = _free_port()
    cmd = [python(), "-m", "benchmarks.web_server", str(listing), f"--port={port}", *spec.server_args()]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "listening":
            raise RuntimeError(f"the simulated web did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield Web(port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _timed_ours(urls: Path, out: Path, items: int) -> float:
    cmd = [*thumbnailer_command(), str(urls), "--out", str(out), "--quiet", "--processes", str(PROCESSES)]
    cmd += ["--size", str(BOX), "--quality", str(JPEG_QUALITY)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"thumbnailer exited {proc.returncode}: {proc.stderr[-1500:]}")
    made = count_outputs(out)
    if made != items:
        raise RuntimeError(f"thumbnailer made {made} thumbnails of {items}")
    return seconds


def _aria2c(listing: Path, folder: Path, items: int) -> float:
    """aria2c -j16 on the list, run again on what it left unfinished until every file is there; seconds."""
    start = time.perf_counter()
    todo = listing
    for round_ in range(ARIA2_ROUNDS):
        session = folder.parent / f"aria2-left-{round_}.txt"
        cmd = ["aria2c", f"-j{ARIA2_JOBS}", "-i", str(todo), "-d", str(folder), "--quiet=true"]
        cmd += ["--retry-wait=1", "--max-tries=5", "--allow-overwrite=true", "--auto-file-renaming=false"]
        cmd += [f"--save-session={session}"]
        subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)  # exits 22 when a 429 ends an item
        if not session.exists() or not session.read_text().strip():
            break
        todo = session
    seconds = time.perf_counter() - start
    got = sum(1 for p in folder.iterdir() if p.suffix == ".jpg")
    if got != items:
        raise RuntimeError(f"aria2c downloaded {got} files of {items} after {ARIA2_ROUNDS} runs")
    return seconds


@dataclass
class WebFigures:
    ours: list[float] = field(default_factory=list)
    aria2c: list[float] = field(default_factory=list)
    vips: list[float] = field(default_factory=list)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)
    aria2c_floor: float = 0.0  # what -j16 allows on this web

    @property
    def pipeline(self) -> list[float]:
        return [a + v for a, v in zip(self.aria2c, self.vips, strict=True)]


def _sizes(files: list[Path]) -> list[int]:
    return [p.stat().st_size for p in files]


def measure_web(spec: WebSpec, runs: int, cache: Path, log: Callable[[str], None]) -> tuple[WebFigures, float]:
    """Seconds of the thumbnailer and of aria2c then vipsthumbnail, `runs` rounds (alternating which goes first),
    and the list's network floor."""
    files = make_small(count=spec.files, size=spec.image_size, cache=cache)
    floor = network_floor(spec, _sizes(files))
    figures = WebFigures(aria2c_floor=jobs_floor(spec, _sizes(files), ARIA2_JOBS))
    has_aria2 = shutil.which("aria2c") is not None
    has_vips = shutil.which("vipsthumbnail") is not None
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        work = Path(tmp)
        with simulated_web(spec, files, work) as web:
            urls = work / "urls.txt"
            urls.write_text("".join(web.url(i, spec) + "\n" for i in range(spec.items)))
            aria_list = work / "aria2.txt"
            aria_list.write_text("".join(f"{web.url(i, spec)}\n  out={i:05d}.jpg\n" for i in range(spec.items)))
            for r in range(runs):
                order = ["ours", "pipeline"] if r % 2 == 0 else ["pipeline", "ours"]
                for method in order:
                    shutil.rmtree(work / "run", ignore_errors=True)
                    (work / "run").mkdir()
                    web.reset()
                    cpu = web.cpu()
                    if method == "ours":
                        figures.ours.append(_timed_ours(urls, work / "run" / "out", spec.items))
                        figures.server_cpu.setdefault("thumbnailer", []).append(web.cpu() - cpu)
                        log(f"  round {r + 1}/{runs}: thumbnailer {figures.ours[-1]:.2f} s")
                    elif has_aria2 and has_vips:
                        downloads = work / "run" / "dl"
                        figures.aria2c.append(_aria2c(aria_list, downloads, spec.items))
                        figures.server_cpu.setdefault("aria2c", []).append(web.cpu() - cpu)
                        got = sorted(downloads.glob("*.jpg"))
                        out = work / "run" / "thumbs"
                        out.mkdir()
                        figures.vips.append(run_lanes(vips_commands(got, out, PROCESSES)))
                        log(
                            f"  round {r + 1}/{runs}: aria2c -j{ARIA2_JOBS} {figures.aria2c[-1]:.2f} s"
                            f" + vipsthumbnail {figures.vips[-1]:.2f} s"
                        )
        shutil.rmtree(work / "run", ignore_errors=True)
    return figures, floor


def report_web(figures: WebFigures, floor: float, spec: WebSpec) -> list[str]:
    n = spec.items
    rate = [n / s for s in figures.ours]
    lines = [f"  thumbnailer {spread(figures.ours, 2)} s; network floor {floor:.2f} s"]
    if figures.aria2c:
        lines.append(
            f"  aria2c -j{ARIA2_JOBS} {spread(figures.aria2c, 2)} s, then vipsthumbnail x{PROCESSES}"
            f" {spread(figures.vips, 2)} s"
        )
        pipeline = [n / s for s in figures.pipeline]
        download = [n / s for s in figures.aria2c]
        lines.append(
            "  " + ratio_line("thumbnailer / aria2c + vipsthumbnail", rate, pipeline, "files/s", TARGET_PIPELINE)
        )
        alone = ratio_line("thumbnailer / aria2c download alone", rate, download, "files/s", TARGET_DOWNLOAD)
        lines.append("  " + alone)
        floors = [figures.aria2c_floor] * len(figures.aria2c)
        lines.append("  " + ratio_line(f"aria2c / its floor at -j{ARIA2_JOBS}", figures.aria2c, floors, "s", digits=2))
    else:
        lines.append("  thumbnailer / aria2c + vipsthumbnail: not measured (apt-get install aria2 libvips-tools)")
    floors = [floor] * len(figures.ours)
    lines.append("  " + ratio_line("thumbnailer / network floor", figures.ours, floors, "s", digits=2))
    for who, cpu in figures.server_cpu.items():
        lines.append(f"  the simulated web's own CPU while {who} ran: {spread(cpu, 2)} s")
    return lines


def measure_latency(
    spec: WebSpec, runs: int, cache: Path, log: Callable[[str], None]
) -> tuple[list[float], list[float], float]:
    """Seconds of the thumbnailer on a list whose network time should outweigh its decoding, the same list from a
    web with no latency, no pacing and no per-host limit (what the machine's CPU allows at this moment: the list is
    latency-bound only if that is well under the floor), and the list's network floor."""
    files = make_small(count=spec.files, size=spec.image_size, cache=cache)
    instant = replace(spec, rtt=0.0, bandwidth=0.0, host_connections=0)
    seconds: dict[WebSpec, list[float]] = {spec: [], instant: []}
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        work = Path(tmp)
        with simulated_web(spec, files, work) as far, simulated_web(instant, files, work) as near:
            lists = {}
            for which, web in ((spec, far), (instant, near)):
                lists[which] = work / f"urls-{web.port}.txt"
                lists[which].write_text("".join(web.url(i, which) + "\n" for i in range(which.items)))
            for r in range(runs):
                for which in (spec, instant) if r % 2 == 0 else (instant, spec):
                    out = work / "out"
                    shutil.rmtree(out, ignore_errors=True)
                    seconds[which].append(_timed_ours(lists[which], out, which.items))
                log(
                    f"  round {r + 1}/{runs}: thumbnailer {seconds[spec][-1]:.2f} s,"
                    f" the same list at zero latency {seconds[instant][-1]:.2f} s"
                )
    return seconds[spec], seconds[instant], network_floor(spec, _sizes(files))


def report_latency(seconds: list[float], instant: list[float], floor: float) -> list[str]:
    floors = [floor] * len(seconds)
    return [
        f"  thumbnailer {spread(seconds, 2)} s; network floor {floor:.2f} s;"
        f" the same list at zero latency {spread(instant, 2)} s",
        "  " + ratio_line("thumbnailer / network floor", seconds, floors, "s", TARGET_FLOOR, False, 2),
    ]


def measure_many(many: WebSpec, runs: int, cache: Path, log: Callable[[str], None]) -> tuple[list[float], list[float]]:
    """Seconds of the same list from `many.hosts` hosts and from one host, same rounds, alternating."""
    one = replace(many, hosts=1)
    files = make_small(count=many.files, size=many.image_size, cache=cache)
    spread_out: list[float] = []
    single: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-hosts-") as tmp:
        work = Path(tmp)
        with simulated_web(many, files, work) as web:
            lists = {}
            for spec in (many, one):
                lists[spec.hosts] = work / f"urls-{spec.hosts}.txt"
                lists[spec.hosts].write_text("".join(web.url(i, spec) + "\n" for i in range(spec.items)))
            for r in range(runs):
                order = [many, one] if r % 2 == 0 else [one, many]
                for spec in order:
                    out = work / "out"
                    shutil.rmtree(out, ignore_errors=True)
                    seconds = _timed_ours(lists[spec.hosts], out, spec.items)
                    (spread_out if spec is many else single).append(seconds)
                log(f"  round {r + 1}/{runs}: {many.hosts:,} hosts {spread_out[-1]:.2f} s, one host {single[-1]:.2f} s")
    return spread_out, single


def report_many(many: WebSpec, spread_out: list[float], single: list[float]) -> list[str]:
    label = f"{many.hosts:,} hosts / one host"
    return ["  " + ratio_line(label, spread_out, single, "s", TARGET_HOSTS, higher_is_better=False, digits=2)]
