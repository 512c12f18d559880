"""Does this PySide6 keep Python's reference counts on signal emits? (README.md, "Known issues")

PySide6-Essentials 6.12.0 drops one reference to `True` on every emit, whatever the signal carries. On Python
3.11 `True` is an ordinary object: once its count reaches zero the interpreter aborts with "Fatal Python error:
bool_dealloc: deallocating True or False", a few hundred emits (progress updates) into a batch. Python 3.12 made
`True` immortal (PEP 683), which hides the bug there.

Run it with the Python and PySide6 to check: `python packaging/qt_signal_refcount.py`. It emits a few kinds of
signal 50 times each (too few to reach the abort) and prints how the counts of True, False and None moved per
emit; it exits 1 when any moved by half a reference or more per emit (a leak or a drop on each emit,
not the few references the script itself holds). tests/core/test_qt_signals.py runs it against the installed PySide6.
"""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, Signal

EMITS = 50


class _Emitter(QObject):
    flag = Signal(bool)
    anything = Signal(object)
    number = Signal(int)
    nothing = Signal()


def _counts() -> tuple[int, int, int]:
    return sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)


def main() -> int:
    emitter = _Emitter()
    received: list[object] = []
    cases = {
        "Signal(bool).emit(False)": (emitter.flag, (False,)),
        "Signal(object).emit(None)": (emitter.anything, (None,)),
        "Signal(int).emit(7)": (emitter.number, (7,)),
        "Signal().emit()": (emitter.nothing, ()),
    }
    print(f"PySide6 {PySide6.__version__}, Python {sys.version.split()[0]}: references gained per emit")
    print("  signal                      True   False  None")
    stable = True
    for label, (signal, args) in cases.items():
        signal.connect(lambda *a: received.append(len(a)))  # a connected slot, as in the app
        before = _counts()
        for _ in range(EMITS):
            signal.emit(*args)
        moved = [(after - start) / EMITS for after, start in zip(_counts(), before, strict=True)]
        stable = stable and all(abs(m) < 0.5 for m in moved)
        print(f"  {label:26} {moved[0]:+6.2f} {moved[1]:+6.2f} {moved[2]:+6.2f}")
    assert len(received) == EMITS * len(cases), "a slot missed an emit"
    print("stable" if stable else "UNSTABLE: this PySide6 leaks or drops references on signal emits")
    return 0 if stable else 1


if __name__ == "__main__":
    sys.exit(main())
