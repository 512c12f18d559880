"""One batch per output folder at a time: an OS lock on OUT/.thumbnailer/lock while a batch has the journal open.

Two batches on one folder would both run the whole list and overwrite each other's thumbnails. The lock is
the operating system's (flock on Linux and macOS, a locked byte on Windows), so it ends with the process
however the process ends: a killed batch leaves a lock file behind but never a lock, and the next batch
takes it at once. The holder writes its pid, host name and start time into the file, so a second batch can
say who is writing there.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_NAME = "lock"
_HOLDER_WAIT = 1.0  # seconds a refused batch waits for the holder to finish writing who it is
_WINDOWS_LOCK_OFFSET = 1 << 30  # the locked byte, far past the holder's text, which stays readable
# A file system that has no locks (some network shares) runs batches unguarded, as before locks existed.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


class OutputFolderError(Exception):
    """The output folder cannot take this batch. str() is the whole message for the user."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a folder's lock."""

    pid: int
    host: str
    started: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"process {self.pid} on {self.host}, started {when}"


class FolderBusy(OutputFolderError):
    """Another batch (this process or another, this machine or another sharing the folder) holds the lock."""

    def __init__(self, out_dir: Path, holder: Holder | None) -> None:
        who = holder.describe() if holder else "which process is not recorded"
        super().__init__(
            f"another batch is writing to the output folder {out_dir} ({who}); "
            "wait until it ends, or choose another output folder"
        )
        self.holder = holder


class FolderLock:
    """The lock of one output folder, taken on creation; `release()` (or the process ending) frees it."""

    def __init__(self, state_dir: Path, out_dir: Path) -> None:
        """Take the lock in `state_dir` (which must exist) or raise FolderBusy naming the holder."""
        self.path = Path(state_dir) / LOCK_NAME
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _try_lock(fd)
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                os.close(fd)
                raise
            locked = True
        if not locked:
            os.close(fd)
            raise FolderBusy(out_dir, _wait_for_holder(self.path))
        self._fd: int | None = fd
        me = Holder(os.getpid(), socket.gethostname(), time.time())
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(asdict(me)).encode())
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Free the lock (the file stays: deleting it could let two batches lock two different files)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with suppress(OSError):  # a file system without locks; closing frees the lock anyway
                _unlock(fd)  # Windows frees a closed file's locks only "eventually": unlock first
            os.close(fd)


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in a lock file, or None while it is empty or half written."""
    try:
        data = json.loads(path.read_bytes())
        return Holder(int(data["pid"]), str(data["host"]), float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _wait_for_holder(path: Path) -> Holder | None:
    """The holder writes who it is just after taking the lock; give it a moment if we came in between."""
    deadline = time.monotonic() + _HOLDER_WAIT
    while (holder := read_holder(path)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return holder


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
