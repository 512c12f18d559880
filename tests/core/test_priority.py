"""A background thread lowers its own priority, once, and never the main thread's."""

import os
import sys
import threading

import pytest

from core.priority import BACKGROUND_NICENESS, lower_current_thread

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads are reniced on Linux only")


def _in_thread(work) -> list[object]:
    """Run `work` on a new thread; its results, after it ended."""
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.extend(work()))
    thread.start()
    thread.join()
    return results


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux_only
def test_a_worker_thread_runs_nicer_than_the_main_thread_and_stays_there() -> None:
    main = _niceness()

    def work() -> list[object]:
        first = lower_current_thread()
        after_first = _niceness()
        again = lower_current_thread()  # a pool thread calls it for every task
        return [first, after_first, again, _niceness()]

    first, after_first, again, after_again = _in_thread(work)
    expected = min(19, main + BACKGROUND_NICENESS)
    assert first and again
    assert after_first == after_again == expected
    assert _niceness() == main  # the process and its main thread are untouched


@linux_only
def test_the_main_thread_is_never_lowered() -> None:
    if threading.get_native_id() != os.getpid():
        pytest.skip("pytest is not running on the process's main thread")
    before = _niceness()
    assert not lower_current_thread()
    assert _niceness() == before
