"""Calibration observers: watch activations batch by batch and propose a real range ``[min, max]`` to quantize.

Post-training quantization runs a few hundred representative inputs through the float model; an observer sees each
activation tensor (``update(batch)``) and finally says which range to map onto int8 (``range()``). Then
:func:`edgeq.quant.affine.choose_qparams` turns the range into a scale and a zero point.

The choice matters because int8 has only 256 levels: the step is ``(max - min) / 255``. Covering a rare outlier makes
the step coarse for everything else; clipping it costs error on that outlier only. The observers:

================================  ====================================================================================
``MinMaxObserver``                the exact running min / max (what the TFLite converter does). Never clips.
``MovingAverageMinMaxObserver``   exponential moving average of per-batch min / max (QAT / TF ``EMA`` style):
                                  ``ema = momentum * ema + (1 - momentum) * batch_value``, first batch initializes.
``PercentileObserver``            the ``(100 - p)``-th and ``p``-th percentiles of everything seen (histogram).
``MSEObserver``                   the range ``[a * min, a * max]`` minimizing the expected quantization MSE.
``EntropyObserver``               TensorRT's KL-divergence calibration on the histogram of ``|x|``.
================================  ====================================================================================

Streaming histograms: the last three keep a fixed number of bins (2048 by default) over a range that starts as the
first batch's ``[min, max]`` and **only grows by doubling** when later data falls outside it. A doubling merges
pairs of adjacent bins, which is exact (no interpolation, no re-reading old data), so the final histogram depends only
on the data, not on how it was batched beyond the resolution of the final bin width. Bins are therefore never finer
than ``(first batch range) / bins``; feed a representative first batch.

Per-channel ranges (``axis=``) are offered by the min/max observers, where they are meaningful (weights, QAT).
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.quant.affine import QParams, QuantizationError, choose_qparams

__all__ = [
    "Observer",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "StreamingHistogram",
    "PercentileObserver",
    "MSEObserver",
    "EntropyObserver",
    "OBSERVERS",
    "make_observer",
]


class Observer:
    """Base class: ``update(batch)`` any number of times, then ``range()`` or ``qparams()``."""

    def __init__(self, axis: int | None = None):
        self.axis = axis
        self.batches = 0

    def update(self, batch) -> "Observer":
        """Record one batch (any shape; with ``axis``, channels are along that axis). Returns ``self``."""
        x = np.asarray(batch, dtype=np.float64)
        if x.size == 0:
            return self
        if not np.all(np.isfinite(x)):
            raise QuantizationError("calibration data contains inf or NaN")
        self._update(x)
        self.batches += 1
        return self

    def range(self):
        """``(min, max)``: floats, or 1-D arrays (one per channel) when observing per channel."""
        if self.batches == 0:
            raise QuantizationError(f"{type(self).__name__} has seen no data", hint="call update() with a batch first")
        return self._range()

    def qparams(self, dtype: str = "int8", symmetric: bool = False) -> QParams:
        """The observed range turned into quantization parameters (see ``choose_qparams``)."""
        lo, hi = self.range()
        return choose_qparams(lo, hi, dtype=dtype, symmetric=symmetric, axis=self.axis)

    def _channel_minmax(self, x: np.ndarray):
        if self.axis is None:
            return float(x.min()), float(x.max())
        axis = self.axis if self.axis >= 0 else self.axis + x.ndim
        other_axes = tuple(i for i in range(x.ndim) if i != axis)
        return x.min(axis=other_axes), x.max(axis=other_axes)

    def _update(self, x: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _range(self):  # pragma: no cover - abstract
        raise NotImplementedError


class MinMaxObserver(Observer):
    """Running minimum and maximum of everything seen: ``min = min(min, batch.min())``."""

    def __init__(self, axis: int | None = None):
        super().__init__(axis)
        self.min = None
        self.max = None

    def _update(self, x):
        lo, hi = self._channel_minmax(x)
        self.min = lo if self.min is None else np.minimum(self.min, lo)
        self.max = hi if self.max is None else np.maximum(self.max, hi)

    def _range(self):
        if self.axis is None:
            return float(self.min), float(self.max)
        return np.array(self.min), np.array(self.max)


class MovingAverageMinMaxObserver(Observer):
    """Exponential moving average of the per-batch min and max (as TF's QAT fake-quant EMA does it)::

        min = momentum * min + (1 - momentum) * batch_min        (the first batch sets min directly)

    A large ``momentum`` (0.99) averages over ~100 batches: robust to one odd batch, slow to follow a drift.
    """

    def __init__(self, momentum: float = 0.99, axis: int | None = None):
        super().__init__(axis)
        if not 0.0 <= momentum < 1.0:
            raise QuantizationError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.min = None
        self.max = None

    def _update(self, x):
        lo, hi = self._channel_minmax(x)
        if self.min is None:
            self.min, self.max = lo, hi
        else:
            m = self.momentum
            self.min = m * self.min + (1 - m) * lo
            self.max = m * self.max + (1 - m) * hi

    def _range(self):
        if self.axis is None:
            return float(self.min), float(self.max)
        return np.array(self.min), np.array(self.max)


class StreamingHistogram:
    """Equal-width bins started on the first data and extended, exactly, as later data falls outside them.

    The first ``add`` spreads ``bins`` bins over the data's ``[min, max]`` (or ``[anchor, max]``: 0 for a histogram of
    magnitudes). When a later value falls outside, empty bins of the same width are added on that side, so old
    counts never move and the resolution stays that of the first batch. Only if that would exceed ``max_bins`` are
    neighbouring pairs of bins merged (the width doubles, still exact) until it fits. So the histogram never
    interpolates or re-reads old data, and it is as fine as the first batch allows.
    """

    def __init__(self, bins: int = 2048, max_bins: int = 65536, anchor: float | None = None):
        if bins < 2 or max_bins < bins:
            raise QuantizationError(f"need 2 <= bins <= max_bins, got bins={bins}, max_bins={max_bins}")
        self.initial_bins = bins
        self.max_bins = max_bins
        self.anchor = anchor
        self.counts = np.zeros(0, dtype=np.float64)
        self.lo = None
        self.width = None

    @property
    def bins(self) -> int:
        return self.counts.size

    @property
    def hi(self) -> float:
        return self.lo + self.bins * self.width

    @property
    def edges(self) -> np.ndarray:
        return self.lo + self.width * np.arange(self.bins + 1)

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def _merge_pairs(self) -> None:
        """Sum neighbouring pairs of bins (aligned at ``lo``): half as many bins, twice as wide."""
        counts = self.counts if self.bins % 2 == 0 else np.append(self.counts, 0.0)
        self.counts = counts.reshape(-1, 2).sum(axis=1)
        self.width *= 2

    def _extend_to(self, vmin: float, vmax: float) -> None:
        """Add empty bins (merging pairs first if there would be too many) until ``[vmin, vmax]`` is covered."""
        while True:
            # in floats first: a range far wider than the bins must merge pairs, never count bins one by one
            left_f = max(0.0, (self.lo - vmin) / self.width)
            right_f = max(0.0, (vmax - self.lo) / self.width + 1 - self.bins)
            if self.bins + left_f + right_f > self.max_bins + 2:
                self._merge_pairs()
                continue
            left, right = math.ceil(left_f), math.floor(right_f)
            while self.lo - left * self.width > vmin:  # guard against floating-point rounding of the ratios
                left += 1
            while self.lo + (self.bins + right) * self.width <= vmax:
                right += 1
            if self.bins + left + right <= self.max_bins:
                break
            self._merge_pairs()
        if left or right:
            self.counts = np.concatenate([np.zeros(left), self.counts, np.zeros(right)])
            self.lo -= left * self.width

    def add(self, values) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        vmin, vmax = float(values.min()), float(values.max())
        if self.lo is None:
            start = vmin if self.anchor is None else min(float(self.anchor), vmin)
            span = vmax - start
            if span <= 0:  # a constant first batch: give it a small range above the value
                span = max(abs(start), 1.0) * 1e-3
            self.lo = start
            # (1 + 1e-9): vmax falls inside the last bin. The floor keeps a bin wider than 2^12 ulps of the values
            # (and than float32's smallest normal), so stepping by one bin always moves a bound: a first batch
            # spanning a few ulps (or 0 and a subnormal) would otherwise give bins no float sum can step over.
            floor = max(abs(start), abs(vmax)) * 2.0**-40
            self.width = max(span / self.initial_bins * (1 + 1e-9), floor, 2.0**-126)
            self.counts = np.zeros(self.initial_bins, dtype=np.float64)
        self._extend_to(vmin, vmax)
        index = np.floor((values - self.lo) / self.width).astype(np.int64)
        np.add.at(self.counts, np.clip(index, 0, self.bins - 1), 1.0)


class _HistogramObserver(Observer):
    """Base of the histogram observers (per tensor only); also tracks the exact min / max."""

    def __init__(self, bins: int = 2048, max_bins: int = 65536, axis: int | None = None):
        if axis is not None:
            raise QuantizationError(f"{type(self).__name__} observes a whole tensor; per-channel (axis=) is not offered")
        super().__init__(None)
        self.histogram = StreamingHistogram(bins, max_bins)
        self.min = math.inf
        self.max = -math.inf

    def _update(self, x):
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        self.histogram.add(x)


class PercentileObserver(_HistogramObserver):
    """``[P(100 - p), P(p)]`` of all values seen (two-sided), read off the cumulative histogram.

    ``percentile=99.99`` ignores the most extreme 0.01 % on each side. The bounds are bin edges chosen outward (the
    lower edge of the bin holding the low percentile, the upper edge of the bin holding the high one), and never
    beyond the exact min / max.
    """

    def __init__(self, percentile: float = 99.99, bins: int = 2048, max_bins: int = 65536, axis: int | None = None):
        super().__init__(bins, max_bins, axis)
        if not 50.0 < percentile <= 100.0:
            raise QuantizationError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile

    def _range(self):
        h = self.histogram
        cumulative = np.cumsum(h.counts)
        tail = (100.0 - self.percentile) / 100.0 * cumulative[-1]
        low_bin = int(np.searchsorted(cumulative, tail, side="right"))  # first bin whose cumulative count > tail
        high_bin = int(np.searchsorted(cumulative, cumulative[-1] - tail, side="left"))
        low_bin = min(low_bin, h.bins - 1)
        high_bin = min(max(high_bin, low_bin), h.bins - 1)
        lo = max(self.min, h.lo + low_bin * h.width)
        hi = min(self.max, h.lo + (high_bin + 1) * h.width)
        return float(lo), float(hi)


class MSEObserver(_HistogramObserver):
    """The clipping range ``[a * min, a * max]`` (``0 < a <= 1``) with the smallest expected quantization error.

    For a candidate range with step ``s = (hi - lo) / (2**bits - 1)``, each histogram bin (centre ``c``, count ``n``)
    costs ``n * s**2 / 12`` if ``c`` is inside (uniform rounding error) and ``n * (c - clip(c))**2`` if it is clipped.
    ``a`` is searched on a grid of ``steps`` values; the best is returned.

    Squared error punishes clipping hard: a far outlier is kept unless it is very rare (for a unit Gaussian with
    outliers at 50, clipping pays off only below roughly one outlier in 10**5 values). MSE clips the long tails of
    heavy-tailed distributions (Laplace-like activations) rather than isolated spikes; for spikes use percentile or
    entropy.
    """

    def __init__(self, bits: int = 8, steps: int = 200, bins: int = 2048, max_bins: int = 65536, axis: int | None = None):
        super().__init__(bins, max_bins, axis)
        self.bits = bits
        self.steps = steps

    def quantization_error(self, lo: float, hi: float) -> float:
        """Expected squared error of quantizing the observed histogram with the range ``[lo, hi]``."""
        h = self.histogram
        centres = h.edges[:-1] + h.width / 2
        step = (hi - lo) / (2**self.bits - 1)
        clipped = np.clip(centres, lo, hi)
        inside = (centres >= lo) & (centres <= hi)
        per_value = np.where(inside, step * step / 12.0, (centres - clipped) ** 2)
        return float(np.sum(h.counts * per_value) / max(h.total, 1.0))

    def _range(self):
        lo, hi = min(self.min, 0.0), max(self.max, 0.0)  # the quantized range always contains 0
        if hi - lo <= 0:
            return self.min, self.max
        best = (math.inf, 1.0)
        for a in np.linspace(1.0 / self.steps, 1.0, self.steps):
            error = self.quantization_error(a * lo, a * hi)
            if error < best[0]:
                best = (error, float(a))
        a = best[1]
        return float(max(self.min, a * lo)), float(min(self.max, a * hi))


class EntropyObserver(Observer):
    """TensorRT's entropy (KL-divergence) calibration: a symmetric threshold ``T`` on ``|x|``.

    TensorRT builds a histogram of ``|x|`` with 2048 bins over ``[0, max|x|]``. Here ``|x|`` is collected in a
    streaming histogram (as fine as the first batch allows) which is then summed, in whole groups of bins, down to
    at most ``bins`` (2048) bins covering ``[0, max|x|]``: the TensorRT histogram, up to the rounding of the group
    size. For every candidate threshold of ``i`` bins (``i`` from ``num_quantized_bins`` to the number of bins):

    * the reference distribution ``P`` is the first ``i`` bins, with everything beyond (the outliers clipped to
      ``T``) added to the last one;
    * the quantized distribution ``Q`` merges those ``i`` bins into ``num_quantized_bins`` groups (128: the
      positive half of int8) and spreads each group's total evenly over the bins where ``P`` is non-empty;
    * the cost is ``KL(P || Q) = sum(P * log(P / Q))`` (empty bins smoothed, both normalized).

    The threshold with the smallest KL divergence wins: ``T = i * bin_width``. The returned range is the observed
    ``[min, max]`` clipped to ``[-T, T]`` (so an all-positive tensor keeps its minimum).

    Like TensorRT's, the result depends on the histogram resolution: when a few extreme outliers squeeze the bulk
    of the data into fewer than ``num_quantized_bins`` bins, the KL curve is nearly flat and the threshold becomes
    arbitrary within that region. More ``bins`` helps there.
    """

    def __init__(
        self,
        bins: int = 2048,
        num_quantized_bins: int = 128,
        stride: int = 1,
        max_bins: int = 65536,
        axis: int | None = None,
    ):
        if axis is not None:
            raise QuantizationError("EntropyObserver observes a whole tensor; per-channel (axis=) is not offered")
        if not 2 <= num_quantized_bins <= bins:
            raise QuantizationError(f"need 2 <= num_quantized_bins <= bins, got {num_quantized_bins} and {bins}")
        super().__init__(None)
        self.bins = bins
        self.histogram = StreamingHistogram(bins, max(bins, max_bins), anchor=0.0)
        self.num_quantized_bins = num_quantized_bins
        self.stride = max(1, int(stride))
        self.min = math.inf
        self.max = -math.inf

    def _update(self, x):
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        self.histogram.add(np.abs(x))

    def reference_histogram(self) -> tuple[np.ndarray, float]:
        """``(counts, bin_width)``: the histogram of ``|x|`` summed down to at most ``bins`` bins from 0."""
        h = self.histogram
        used = int(np.nonzero(h.counts)[0].max()) + 1 if h.total else 1  # up to the bin holding max|x|
        group = math.ceil(used / self.bins)
        counts = h.counts[:used]
        counts = np.append(counts, np.zeros((-used) % group))  # pad to whole groups
        return counts.reshape(-1, group).sum(axis=1), h.width * group

    @staticmethod
    def _smooth(counts: np.ndarray, eps: float = 1e-4) -> np.ndarray | None:
        """Give empty bins a tiny count ``eps`` taken from the others, so that ``log(P / Q)`` stays finite.

        Works on raw counts (>= 1 where non-empty), as TensorRT / MXNet do; ``None`` if it cannot be done.
        """
        zeros = counts == 0
        n_zeros, n_nonzeros = int(zeros.sum()), int(counts.size - zeros.sum())
        if n_nonzeros == 0:
            return None
        taken = eps * n_zeros / n_nonzeros
        smoothed = np.where(zeros, eps, counts - taken)
        return smoothed if np.all(smoothed > 0) else None

    def kl_divergence(self, counts: np.ndarray, i: int) -> float:
        """``KL(P || Q)`` for a threshold at the end of bin ``i - 1`` of ``counts`` (see the class docstring)."""
        p = counts[:i].copy()
        p[-1] += counts[i:].sum()  # outliers are clipped to the threshold
        # Merge the i bins into num_quantized_bins groups (the last group takes the remainder); Q uses the counts
        # without the clipped outliers, spread evenly over the bins where P is non-empty.
        group_size = i // self.num_quantized_bins
        starts = np.arange(self.num_quantized_bins) * group_size
        group_totals = np.add.reduceat(counts[:i], starts)
        nonzero = (p != 0).astype(np.float64)
        group_nonzero = np.add.reduceat(nonzero, starts)
        group_of_bin = np.minimum(np.arange(i) // group_size, self.num_quantized_bins - 1)
        per_bin = np.divide(group_totals, group_nonzero, out=np.zeros_like(group_totals), where=group_nonzero > 0)
        q = np.where(nonzero > 0, per_bin[group_of_bin], 0.0)
        p, q = self._smooth(p), self._smooth(q)
        if p is None or q is None:
            return math.inf
        p, q = p / p.sum(), q / q.sum()
        return float(np.sum(p * np.log(p / q)))

    def threshold(self) -> float:
        """The KL-optimal threshold ``T`` on ``|x|``."""
        if self.batches == 0:
            raise QuantizationError("EntropyObserver has seen no data", hint="call update() with a batch first")
        counts, width = self.reference_histogram()
        if counts.size <= self.num_quantized_bins:  # fewer bins than levels: nothing to clip
            return counts.size * width
        candidates = list(range(self.num_quantized_bins, counts.size + 1, self.stride))
        divergences = [self.kl_divergence(counts, i) for i in candidates]
        return candidates[int(np.argmin(divergences))] * width

    def _range(self):
        t = self.threshold()
        return float(max(self.min, -t)), float(min(self.max, t))


#: name -> observer class, the names :func:`make_observer` accepts.
OBSERVERS = {
    "minmax": MinMaxObserver,
    "moving_average": MovingAverageMinMaxObserver,
    "percentile": PercentileObserver,
    "mse": MSEObserver,
    "entropy": EntropyObserver,
}


def make_observer(name: str, **kwargs) -> Observer:
    """A new observer by name: ``minmax``, ``moving_average``, ``percentile``, ``mse`` or ``entropy``.

    Keyword arguments go to the class (``percentile=99.9``, ``momentum=0.9``, ``bins=1024``, ``axis=0``...).
    """
    key = str(name).lower().replace("-", "_")
    if key not in OBSERVERS:
        raise QuantizationError(f"unknown observer {name!r}", hint=f"use one of {', '.join(OBSERVERS)}")
    try:
        return OBSERVERS[key](**kwargs)
    except TypeError as e:
        raise QuantizationError(f"bad option for the {key} observer: {e}") from None
