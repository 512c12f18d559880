"""`python -m benchmarks` (what `make bench` runs): every figure as "ours / baseline = ratio".

Sections: `throughput` (the thumbnailer from loopback URLs against vipsthumbnail, the textbook approach and the
decode floor), `skip` (a re-run where 100,000 items are already done), `gui` (GUI-thread stalls during a
10,000-URL batch, a 1,000,000-URL list, cold start of the window), `crop` (`--fit cover --crop attention` against
`--crop centre` on local JPEGs of the throughput corpus), `web` (a simulated web of many loopback hosts with
latency, pacing, cookies and 429/503 against aria2c then vipsthumbnail and the network floor; 4,000 hosts against
one), `cluster` (`thumbnailer --cluster` on a local
Dask cluster of 1, 2 and 4 workers against the local process pool). Each figure is the median of `--runs` runs
with the min-max spread; ratios pair runs of the same round. `--smoke` shrinks everything to seconds, for CI:
it proves each benchmark runs and prints its ratios, and its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import PIL
from PIL import features

from benchmarks import cluster_bench, crop_bench, skip, throughput, web_bench
from benchmarks.baselines import BOX, JPEG_QUALITY
from benchmarks.corpus import CACHE, CorpusSpec, distinct_copies, make_corpus, make_small
from benchmarks.serve import serve
from benchmarks.stats import ratio_line, spread
from benchmarks.throughput import ROOT, python

SECTIONS = ("throughput", "web", "skip", "gui", "crop", "cluster")
FROZEN_APP = ROOT / "dist" / "batch-thumbnailer" / "batch-thumbnailer"
STALL_TARGET_MS = 50.0
LOAD_TARGET_S = 10.0
LOAD_RSS_TARGET_MB = 400.0


def log(text: str = "") -> None:
    print(text, flush=True)


def _version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "not installed"


def header() -> None:
    load = os.getloadavg()
    log(f"machine: {os.cpu_count()} cores, {platform.machine()}, load average {load[0]:.2f} {load[1]:.2f}")
    jpeg = "libjpeg-turbo " + str(features.version("libjpeg_turbo")) if features.check("libjpeg_turbo") else "libjpeg"
    log(
        f"Python {platform.python_version()}, Pillow {PIL.__version__} ({jpeg}),"
        f" {_version(['vipsthumbnail', '--vips-version'])}"
    )
    log("PNG decoding: Pillow, its image data inflated by zlib-ng (core/imaging/png_inflate.py)")
    if load[0] > 0.5 * (os.cpu_count() or 1):
        log("WARNING: the machine is already busy; wall-clock figures will be low and spread wide")


def gui_env(home: Path) -> dict[str, str]:
    """Offscreen, with settings in a private folder: no user configuration read or written."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(home / "config"), HOME=str(home))
    env.pop("DISPLAY", None)
    return env


def _json_run(cmd: list[str], env: dict[str, str], timeout: float) -> dict:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:4])} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _smoke_seconds(cmd: list[str], env: dict[str, str]) -> float:
    """Launch to exit of a window that quits SMOKE_MS after showing, minus that wait: start-up to a shown window."""
    from benchmarks.gui_bench import SMOKE_MS

    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start - SMOKE_MS / 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-800:]}")
    return seconds


def run_throughput(args: argparse.Namespace) -> None:
    spec = CorpusSpec(jpegs=args.jpegs, pngs=args.pngs, jpeg_size=args.jpeg_size, png_size=args.png_size)
    started = time.perf_counter()
    corpus = make_corpus(spec, cache=args.cache)
    made = time.perf_counter() - started
    log(
        f"corpus: {len(corpus.files)} files ({spec.jpegs} JPEG {spec.jpeg_size[0]}x{spec.jpeg_size[1]}"
        f" q{spec.jpeg_quality},"
        f" {spec.pngs} RGBA PNG {spec.png_size[0]}x{spec.png_size[1]}), {corpus.total_bytes / 1e6:.0f} MB,"
        f" {'made' if made > 1 else 'cached'} in {corpus.folder}"
    )
    with serve(corpus.folder, prefer_nginx=not args.python_server) as served:
        log(f"served by {served.server} on {served.base_url}")
        log("output: 256 px box, JPEG q85 (PNG where there is alpha); 2 resizer processes / parallel lanes")
        methods = throughput.measure(corpus, served, args.runs, log)
    for line in throughput.report(methods):
        log(line)


def run_cluster(args: argparse.Namespace) -> None:
    why = cluster_bench.missing()
    if why:
        log(f"skipped: {why}")
        return
    spec = CorpusSpec(jpegs=args.jpegs, pngs=args.pngs, jpeg_size=args.jpeg_size, png_size=args.png_size)
    corpus = cluster_bench.subset(make_corpus(spec, cache=args.cache), args.cluster_jpegs, args.cluster_pngs)
    log(
        f"corpus: the first {args.cluster_jpegs} JPEGs and {args.cluster_pngs} PNGs of the throughput corpus"
        f" (a subset, for time): {len(corpus.files)} files, {corpus.total_bytes / 1e6:.0f} MB, in {corpus.folder}"
    )
    with serve(corpus.folder, prefer_nginx=not args.python_server) as served:
        log(f"served by {served.server} on {served.base_url}")
        log(
            f"output: 256 px box, JPEG q85; baseline the local pool (--processes {throughput.PROCESSES}), against"
            " --cluster on a LocalCluster of N single-threaded worker processes started before each timed command"
        )
        log("the scheduler and nannies run in this benchmark's process: its CPU during the command is 'scheduler'")
        log(cluster_bench.machine_note(args.cluster_workers))
        setups = cluster_bench.measure(corpus, served, args.runs, args.cluster_workers, log)
    for line in cluster_bench.report(setups, len(corpus.files)):
        log(line)


def run_skip(args: argparse.Namespace) -> None:
    log(f"re-run of {args.skip_items:,} items all done already (journal on, nothing to fetch)")
    ours, floor = skip.measure(args.skip_items, args.runs, log)
    budget = [skip.BUDGET] * len(ours)
    log(f"  re-run {spread(ours, 2)} s, reading the list alone {spread(floor, 2)} s")
    log("  " + ratio_line("re-run / 5 s budget", ours, budget, "s", 1.0, higher_is_better=False, digits=2))
    log("  " + ratio_line("re-run / reading the list alone", ours, floor, "s", digits=2))


def run_gui(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gui-") as tmp:
        home = Path(tmp)
        env = gui_env(home)
        _gui_stalls(args, home, env)
        _gui_load(args, home, env)
        _gui_cold_start(args, env)


def _gui_stalls(args: argparse.Namespace, home: Path, env: dict[str, str]) -> None:
    files = distinct_copies(make_small(cache=args.cache), args.gui_urls, cache=args.cache)
    folder = files[0].parent
    with serve(folder, prefer_nginx=not args.python_server) as served:
        urls = home / "urls.txt"
        urls.write_text("".join(f"{served.url(folder, f)}\n" for f in files))
        log(f"window: a {args.gui_urls:,}-URL batch of 640x427 JPEGs from {served.server}, queue and grid tabs")
        log("  switched every second, offscreen; a stall is the longest gap between ticks of a 10 ms timer")
        idle_max, idle_p99, max_ms, p99_ms, rss_ratio, rates = [], [], [], [], [], []
        engine_max, engine_p99 = [], []
        for r in range(args.runs):
            out = home / f"out{r}"
            res = _json_run([python(), "-m", "benchmarks.gui_bench", "stalls", str(urls), str(out)], env, 900)
            shutil.rmtree(out, ignore_errors=True)
            bare = _json_run([python(), "-m", "benchmarks.gui_bench", "engine", str(urls), str(out)], env, 900)
            shutil.rmtree(out, ignore_errors=True)
            engine_max.append(bare["batch"]["max_ms"])
            engine_p99.append(bare["batch"]["p99_ms"])
            idle_max.append(res["idle"]["max_ms"])
            idle_p99.append(res["idle"]["p99_ms"])
            max_ms.append(res["batch"]["max_ms"])
            p99_ms.append(res["batch"]["p99_ms"])
            rss_ratio.append(res["rss_at_end_mb"] / res["rss_at_10pct_mb"])
            rates.append(res["done"] / res["seconds"])
            log(
                f"  round {r + 1}/{args.runs}: {res['done']} done in {res['seconds']} s,"
                f" longest gap {res['batch']['max_ms']} ms,"
                f" p99 {res['batch']['p99_ms']} ms (idle: {res['idle']['max_ms']} / {res['idle']['p99_ms']} ms),"
                f" RSS {res['rss_at_10pct_mb']} MB at 10% -> {res['rss_at_end_mb']} MB at the end;"
                f" no window: longest {bare['batch']['max_ms']} ms, p99 {bare['batch']['p99_ms']} ms"
            )
    n = len(max_ms)
    log("  " + ratio_line("longest gap / 50 ms target", max_ms, [STALL_TARGET_MS] * n, "ms", 1.0, False))
    log("  " + ratio_line("longest gap / idle window's", max_ms, idle_max, "ms"))
    log("  " + ratio_line("p99 gap / idle window's", p99_ms, idle_p99, "ms"))
    log("  " + ratio_line("longest gap / same batch with no window", max_ms, engine_max, "ms"))
    log("  " + ratio_line("p99 gap / same batch with no window", p99_ms, engine_p99, "ms"))
    log(f"  engine + window memory through the batch: RSS at end / RSS at 10% = {spread(rss_ratio, 2)}x")
    log(f"  batch throughput in the window: {spread(rates)} files/s")


def _gui_load(args: argparse.Namespace, home: Path, env: dict[str, str]) -> None:
    listing = home / "long.txt"
    with listing.open("w") as f:
        for i in range(args.load_urls):
            f.write(f"http://127.0.0.1:9/list/{i // 1000}/photo-{i:07d}.jpg\n")
    log(f"window: loading a {args.load_urls:,}-URL list (queue usable = every row in and the view at the last)")
    secs, peaks, gaps, floor = [], [], [], []
    parse = f"from core.sources import iter_entries; sum(1 for _ in iter_entries([{str(listing)!r}]))"
    for r in range(args.runs):
        res = _json_run([python(), "-m", "benchmarks.gui_bench", "load", str(listing)], env, 300)
        start = time.perf_counter()
        subprocess.run([python(), "-c", parse], cwd=ROOT, check=True)
        floor.append(time.perf_counter() - start)
        secs.append(res["seconds"])
        peaks.append(res["peak_rss_mb"])
        gaps.append(res["gaps"]["max_ms"])
        log(
            f"  round {r + 1}/{args.runs}: {res['rows']:,} rows in {res['seconds']} s,"
            f" longest gap {res['gaps']['max_ms']} ms (p99 {res['gaps']['p99_ms']} ms),"
            f" peak RSS {res['peak_rss_mb']} MB; reading the list alone {floor[-1]:.2f} s"
        )
    n = len(secs)
    log("  " + ratio_line("queue usable / 10 s target", secs, [LOAD_TARGET_S] * n, "s", 1.0, False, 2))
    log("  " + ratio_line("queue usable / reading the list alone", secs, floor, "s", digits=2))
    log("  " + ratio_line("peak RSS / 400 MB target", peaks, [LOAD_RSS_TARGET_MB] * n, "MB", 1.0, False, 0))
    log("  " + ratio_line("longest gap while loading / 50 ms target", gaps, [STALL_TARGET_MS] * n, "ms", 1.0, False))


def _gui_cold_start(args: argparse.Namespace, env: dict[str, str]) -> None:
    gui = Path(sys.executable).parent / "thumbnailer-gui"
    apps: list[tuple[str, list[str]]] = [("source install (thumbnailer-gui)", [str(gui), "--smoke"])]
    if FROZEN_APP.exists():
        apps.append(("frozen app (dist/)", [str(FROZEN_APP), "--smoke"]))
    log("window: cold start to a shown window (launch to exit of --smoke, minus its 1 s wait; warm disk cache)")
    base = [_smoke_seconds([python(), "-m", "benchmarks.gui_bench", "hello"], env) for _ in range(args.runs)]
    log(f"  bare PySide6 window: {spread(base, 2)} s")
    for name, cmd in apps:
        try:
            ours = [_smoke_seconds(cmd, env) for _ in range(args.runs)]
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log(f"  {name}: did not start: {str(exc).strip().splitlines()[-1]}")
            continue
        log("  " + ratio_line(f"{name} / bare PySide6 window", ours, base, "s", digits=2))
    if not FROZEN_APP.exists():
        log("  frozen app: not measured (no dist/batch-thumbnailer; `make package` builds it)")


def run_web(args: argparse.Namespace) -> None:
    spec, many = (web_bench.WEB, web_bench.MANY) if not args.smoke else (web_bench.WEB_SMOKE, web_bench.MANY_SMOKE)
    log(f"simulated web (benchmarks/web_server.py, one asyncio process on 0.0.0.0): {spec.describe()}")
    log(
        f"output: {BOX} px box, JPEG q{JPEG_QUALITY}, --processes {throughput.PROCESSES}, every other setting default;"
        f" baseline aria2c -j{web_bench.ARIA2_JOBS} (re-run on what it left),"
        f" then vipsthumbnail x{throughput.PROCESSES}"
    )
    figures, floor = web_bench.measure_web(spec, args.runs, args.cache, log)
    for line in web_bench.report_web(figures, floor, spec):
        log(line)
    latency = web_bench.LATENCY_SMOKE if args.smoke else web_bench.LATENCY
    log(f"a latency-bound list on the same kind of web: {latency.describe()}")
    seconds, instant, floor = web_bench.measure_latency(latency, args.runs, args.cache, log)
    for line in web_bench.report_latency(seconds, instant, floor):
        log(line)
    log(f"many hosts against one: {many.describe()}")
    spread_out, single = web_bench.measure_many(many, args.runs, args.cache, log)
    for line in web_bench.report_many(many, spread_out, single):
        log(line)


def run_crop(args: argparse.Namespace) -> None:
    spec = CorpusSpec(jpegs=args.jpegs, pngs=args.pngs, jpeg_size=args.jpeg_size, png_size=args.png_size)
    files = sorted(p for p in make_corpus(spec, cache=args.cache).files if p.suffix == ".jpg")[: args.crop_jpegs]
    log(
        f"{len(files)} JPEGs {spec.jpeg_size[0]}x{spec.jpeg_size[1]} of the throughput corpus, local files,"
        f" --fit cover, 256 px box, --processes {throughput.PROCESSES}"
    )
    seconds = crop_bench.measure(files, args.runs, log)
    attention, centre = seconds["attention"], seconds["centre"]
    log(
        "  "
        + ratio_line("attention / centre", attention, centre, "s", crop_bench.TARGET, higher_is_better=False, digits=2)
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one run: proves each benchmark runs")
    p.add_argument("--python-server", action="store_true", help="serve with Python even where nginx is installed")
    p.add_argument("--cache", type=Path, default=CACHE, help="where generated images are kept (default: %(default)s)")
    args = p.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section {unknown[0]!r}: choose from {', '.join(SECTIONS)}")
    args.sections = args.sections or list(SECTIONS)
    full = not args.smoke
    args.runs = args.runs if full else 1
    args.jpegs, args.pngs = (300, 80) if full else (4, 2)
    args.jpeg_size, args.png_size = ((3000, 2000), (1600, 1200)) if full else ((600, 400), (320, 240))
    args.skip_items = 100_000 if full else 500
    args.gui_urls = 10_000 if full else 40
    args.load_urls = 1_000_000 if full else 2_000
    args.crop_jpegs = 60 if full else 4
    args.cluster_jpegs, args.cluster_pngs = (120, 30) if full else (4, 2)
    args.cluster_workers = (1, 2, 4) if full else (1, 2)
    return args


SECTION_RUNNERS: dict[str, Callable[[argparse.Namespace], None]] = {
    "throughput": run_throughput,
    "web": run_web,
    "skip": run_skip,
    "gui": run_gui,
    "crop": run_crop,
    "cluster": run_cluster,
}


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the web server and temporary folders are cleaned up


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    started = time.perf_counter()
    header()
    for name in args.sections:
        log()
        log(f"== {name} ==")
        SECTION_RUNNERS[name](args)
    log()
    log(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
