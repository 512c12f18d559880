"""One resize job as a worker process runs it: the job and its outcome, the worker's settle-in and main loop.

This is the code that runs inside resizer processes (and inside Dask tasks): no Qt and no settings here. The
pool that starts and feeds the processes is `core.batch.backends.resize_pool`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import sys
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from core.download import shared_spool
from core.download.shared_spool import Slot
from core.imaging.focus import Focus
from core.imaging.spec import ResizeError, ResizeResult, ResizeSpec

#: errno values that mean "the output folder cannot take files": the batch stops instead of failing every item.
#: EFBIG is a file-size limit (RLIMIT_FSIZE, a quota): no thumbnail is large for its own sake.
FATAL_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EPERM, errno.EDQUOT, errno.EFBIG}

#: What a new worker sends once its imports are done and it can take a job.
READY = "ready"


@dataclass(frozen=True, slots=True)
class ResizeJob:
    src: str | Slot  # a file, or a download held in the batch's shared spool
    out_dir: str
    stem: str  # the item's name (the journal's): each output's name is `core.naming.output_filename(stem, ...)`
    spec: ResizeSpec
    focus: Focus | None = None  # this item's crop chosen by hand (the spec is the whole batch's)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """`result` on success; else `error` (a user-facing message) and `fatal` when the disk refused;
    `cancelled` when the job was dropped from the queue before it started."""

    result: ResizeResult | None = None
    error: str | None = None
    fatal: bool = False
    cancelled: bool = False


def memory_limit_for(max_pixels: int) -> int:
    """Address-space cap per worker: room to decode the largest allowed image plus the interpreter and the
    largest output canvas, so one hostile image cannot take the machine down.

    16 bytes a pixel: the worst paths measured keep three full-size copies alive at once (an LA or palette
    image expanded to RGBA, its alpha band, the upright copy after an EXIF rotation: 13.5 bytes a pixel)."""
    return 768 * 1024**2 + max_pixels * 16


def _limit_memory(limit: int | None) -> None:
    if not limit:
        return
    try:
        import resource
    except ImportError:  # not on Windows
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_job(job: ResizeJob, limit_note: str = "") -> JobOutcome:
    """One job's outcome, never an exception: run by the local workers and by Dask tasks (backends.dask).
    `limit_note`: the words for the worker's memory limit, added to an out-of-memory error."""
    from core.imaging.resize import make_thumbnails  # the decoders: only where jobs run, not where they are handed out

    try:
        src = shared_spool.read(job.src) if isinstance(job.src, Slot) else job.src
        return JobOutcome(result=make_thumbnails(src, Path(job.out_dir), job.stem, job.spec, job.focus))
    except ResizeError as exc:
        cause = exc.__cause__
        fatal = isinstance(cause, OSError) and cause.errno in FATAL_ERRNOS
        if isinstance(cause, MemoryError) and limit_note:
            return JobOutcome(error=f"{exc} ({limit_note})")
        return JobOutcome(error=str(exc), fatal=fatal)
    except MemoryError:
        return JobOutcome(error="out of memory while making thumbnails" + (f" ({limit_note})" if limit_note else ""))
    except OSError as exc:
        if exc.errno in FATAL_ERRNOS:
            return JobOutcome(error=disk_error(exc, job.out_dir), fatal=True)
        return JobOutcome(error=f"cannot read or write image: {exc}")
    except Exception as exc:  # a decoder bug must fail one item, not the worker
        return JobOutcome(error=f"cannot make thumbnail: {type(exc).__name__}: {exc}")


def disk_error(exc: OSError, folder: str, doing: str = "write thumbnails") -> str:
    """The words for a FATAL_ERRNOS error: what failed, why, and in which folder (not a temporary name)."""
    where = str(Path(exc.filename).parent) if exc.filename else folder
    hint = " (a file-size limit: ulimit -f, or a quota)" if exc.errno == errno.EFBIG else ""
    return f"cannot {doing}: {exc.strerror}{hint}: {where}"


#: glibc mallopt() parameters: keep up to this much freed memory at the top of the heap (M_TRIM_THRESHOLD), and
#: serve requests up to the second from the heap, not from fresh mmap()s (M_MMAP_THRESHOLD; glibc's maximum,
#: above Pillow's 16 MiB image blocks).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED = 64 * 1024**2
_HEAP_UP_TO = 32 * 1024**2


def _keep_freed_memory() -> bool:
    """Let the worker reuse the memory of the last image for the next one.

    By default glibc hands each image's buffers (Pillow allocates them in blocks of up to 16 MiB) back to the
    kernel when they are freed, so every decode page-faults them in again: about 4,000 faults and 8 ms of
    kernel time for a 1600x1200 RGBA PNG, 15% of the job. Kept, they cost up to about _KEEP_FREED of resident
    memory between jobs; the address-space limit still counts them. Other C libraries are left alone."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and other libcs without mallopt()
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)) and bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO))


def settle_in(memory_limit: int | None, niceness: int | None) -> None:
    """A new resizer process's signals, limits, memory habits and priority, before its first job.

    Ctrl+C in a terminal reaches every process of the foreground group: a resizer must not die of it in the
    middle of a decode (its item would be recorded as a crash). The program that started it cancels it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from core.imaging import png_inflate, resize  # noqa: F401 -- the decoders, loaded before the worker says it is ready

    _limit_memory(memory_limit)
    if _keep_freed_memory():
        png_inflate.enable()  # it pays only where the previous image's buffers are reused
    if niceness is not None:  # when cores are short, the window and the downloads go first
        with contextlib.suppress(OSError):  # a niceness below the inherited one needs privileges: keep that
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    warnings.simplefilter("ignore")  # Pillow's notes about odd files would fill the user's terminal


def worker_main(conn: Connection, memory_limit: int | None, niceness: int | None, limit_note: str = "") -> None:
    """Loop of one resizer process: receive a job, send its outcome, until the pipe closes. When the program
    that started it is gone (killed), it ends quietly; when the pool is done, at once."""
    settle_in(memory_limit, niceness)
    message: object = READY  # imports done: from now on a death is the job's fault, not start-up's
    while True:
        try:
            conn.send(message)
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:  # nothing to flush or close: an interpreter's teardown would only delay the batch's end
            os._exit(0)
        message = run_job(job, limit_note)
