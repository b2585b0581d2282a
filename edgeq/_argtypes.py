"""argparse types for numeric options, used by every ``edgeq/cli/*_cmd.py`` and :mod:`edgeq.cli._bench_device`: every number
is checked (finite, in range) when the command line is parsed, before any work starts.
``--timeout nan`` or ``--runs -5`` is refused with one line naming the option.

    p.add_argument("--timeout", type=seconds(max_value=3600), default=3.0)
    p.add_argument("--runs", type=count(min_value=1), default=100)
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def count(min_value: int = 0, max_value: int | None = None) -> Callable[[str], int]:
    """An integer in ``[min_value, max_value]``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < min_value or (max_value is not None and value > max_value):
            upper = f" and <= {max_value:,}" if max_value is not None else ""
            raise argparse.ArgumentTypeError(f"must be >= {min_value:,}{upper}, got {value}")
        return value

    parse.__name__ = "count"  # argparse names the type in its messages
    return parse


def number(min_value: float, max_value: float, *, min_inclusive: bool = True) -> Callable[[str], float]:
    """A finite float in ``[min_value, max_value]`` (``(min_value, max_value]`` when not ``min_inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        low_ok = value >= min_value if min_inclusive else value > min_value
        if not low_ok or value > max_value:
            op = ">=" if min_inclusive else ">"
            raise argparse.ArgumentTypeError(f"must be {op} {min_value:g} and <= {max_value:g}, got {value:g}")
        return value

    parse.__name__ = "number"
    return parse


def seconds(max_value: float = 24 * 3600) -> Callable[[str], float]:
    """A duration in seconds: finite, > 0, at most ``max_value`` (a day by default)."""
    return number(0.0, max_value, min_inclusive=False)


#: common ranges
SEED = count(0, 2**32 - 1)
THREADS = count(1, 1024)
