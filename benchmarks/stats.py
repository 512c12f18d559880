"""Medians, spreads and the one line format every figure is printed in: "ours / baseline = ratio"."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], digits: int = 1) -> str:
    """'median [min-max]' of several runs."""
    med = statistics.median(values)
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def verdict(ratio: float, target: float, higher_is_better: bool = True) -> str:
    ok = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    return f"target {sign} {target:g}x: {'MET' if ok else 'MISSED'}"


def ratio_line(
    label: str,
    ours: Sequence[float],
    base: Sequence[float],
    unit: str,
    target: float | None = None,
    higher_is_better: bool = True,
    digits: int = 1,
) -> str:
    """One figure: medians of both sides, the ratio of medians, and the spread of the per-run ratios.

    Runs are paired by index (the same round measured both), so a slow moment of the machine moves both sides.
    """
    pairs = [o / b for o, b in zip(ours, base, strict=True) if b]
    ratio = statistics.median(ours) / statistics.median(base)
    line = (
        f"{label}: {spread(ours, digits)} / {spread(base, digits)} {unit} = {ratio:.2f}x"
        f" [{min(pairs):.2f}-{max(pairs):.2f}]"
    )
    if target is not None:
        line += f"  ({verdict(ratio, target, higher_is_better)})"
    return line
