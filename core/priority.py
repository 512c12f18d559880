"""Background threads yield the cores to the window's GUI thread.

On two busy cores the GUI thread often waits for a core behind our own worker threads (download, engine,
list reading), and its 10 ms timer then stalls for tens of milliseconds. Linux schedules threads one by one and
`setpriority` on a thread id renices just that thread, so a worker can lower itself to the resizer processes'
niceness: the GUI thread (and the command's main thread) then wins a contended core. Elsewhere this does nothing.
No Qt here: the engine and the worker processes' side of the code use it too.
"""

from __future__ import annotations

import os
import sys
import threading

#: Niceness of a background thread above the process's main thread.
BACKGROUND_NICENESS = 5
#: Niceness of the resizer processes, the bulk of a batch's CPU, while a window shows the batch: the lowest
#: priority, so the GUI thread gets a core the moment it wakes. At nice 10 the window's longest stall during a
#: 10,000-URL batch was 78-82 ms; at 19, 38-58 ms in the same A/B runs and the same batch time. Without a window
#: the resizers run at BACKGROUND_NICENESS: at 19 the command's own download threads preempt them more often,
#: which cost it 2-3% of its throughput.
WINDOW_RESIZER_NICENESS = 19
_MAX_NICENESS = 19


def niceness_above_main(increment: int) -> int:
    """The niceness `increment` above this process's main thread (on Linux, PRIO_PROCESS of the pid is the main
    thread's), capped at the lowest priority there is. POSIX only."""
    return min(_MAX_NICENESS, os.getpriority(os.PRIO_PROCESS, os.getpid()) + increment)


def lower_current_thread(increment: int = BACKGROUND_NICENESS) -> bool:
    """Run the calling thread `increment` nicer than the main thread; returns whether it now does.

    Idempotent (a pool thread may call it for every task it runs) and never raises: the priority is a wish.
    """
    if not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    if tid == os.getpid():
        return False  # the main thread is the one to favour
    try:
        target = niceness_above_main(increment)
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
    except OSError:
        return False
    return True
