"""Latency statistics from device timer samples: min, p50, mean, p90, p99, max, std (population), in one unit."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

STAT_KEYS = ("min", "p50", "mean", "p90", "p99", "max", "std")

#: units a device timer can count in (edgeq-info "timer.unit"); instructions come from QEMU -icount, never "us"
UNITS = ("us", "cycles", "instructions")


def summarize(values: Iterable[float], unit: str) -> dict:
    """``{min, p50, mean, p90, p99, max, std, unit, n}``; percentiles interpolate linearly (numpy's default)."""
    if unit not in UNITS:
        raise ValueError(f"unknown timer unit {unit!r}")
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return {**{k: None for k in STAT_KEYS}, "unit": unit, "n": 0}
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    out = {"min": v.min(), "p50": p50, "mean": v.mean(), "p90": p90, "p99": p99, "max": v.max(), "std": v.std()}
    return {**{k: _round(float(x)) for k, x in out.items()}, "unit": unit, "n": int(v.size)}


def _round(x: float) -> float:
    if not math.isfinite(x):
        return x
    if x == int(x):
        return float(int(x))
    return round(x, 3)


def to_microseconds(value: float, unit: str, clock_hz: float | None) -> float | None:
    """A latency in ``unit`` as real microseconds, when that means something (never for instructions)."""
    if unit == "us":
        return value
    if unit == "cycles" and clock_hz:
        return value / clock_hz * 1e6
    return None


def throughput(mean_latency: float | None, unit: str, clock_hz: float | None) -> dict | None:
    """Inferences per second from the device's own timer; for instruction counts, per 1e9 instructions instead."""
    if not mean_latency:
        return None
    us = to_microseconds(mean_latency, unit, clock_hz)
    if us:
        return {"value": round(1e6 / us, 3), "unit": "inferences/s"}
    if unit == "instructions":
        return {"value": round(1e9 / mean_latency, 3), "unit": "inferences per 1e9 instructions"}
    return None


def ticks_delta(t0: int, t1: int, bits: int = 32) -> int:
    """``t1 - t0`` on a free-running ``bits``-bit counter (wraps around)."""
    return (t1 - t0) % (1 << bits)
