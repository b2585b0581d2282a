"""TFLM's int16 look-up tables, computed as its kernels' Prepare computes them: ``LUTPopulate<int16_t>`` (the float
version of ``detail::LUTPopulateInt16``, tensorflow/lite/kernels/internal/common.h): 512 samples of a function over
the input range plus one end point, each sample biased by half the error of linear interpolation at the midpoint,
in float32 arithmetic step by step as C++ does it (no fused multiply-add). The int16 kernels look them up with
``LUTLookup``: 9 bits of index, 7 bits of interpolation.

The transform is evaluated in float64 and rounded to float32 (a correctly rounded ``expf``); for the tables below
this equals glibc's ``expf``, which the TFLM interpreter on a host uses (tests/test_compiler_int16_ops.py checks it
against the C library on every sample point).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeq.quant.affine import round_half_away_from_zero

_F = np.float32
INT16_RANGE = 65535  # int16 max - int16 min, TFLM's `range` in softmax_common.cc


def sample_points(input_scale: float, input_zero_point: int) -> list[np.float32]:
    """The float32 inputs LUTPopulateInt16 evaluates, in order: per step i the sample, the midpoint and the next
    sample, then the input maximum."""
    in_min = _F(input_scale) * _F(-32768 - input_zero_point)
    in_max = _F(input_scale) * _F(32767 - input_zero_point)
    step = (in_max - in_min) / _F(512)
    half = step / _F(2)
    points = []
    for i in range(512):
        base = in_min + _F(i) * step
        points += [base, base + half, in_min + _F(i + 1) * step]
    return points + [in_max]


def lut_populate_int16(transform: Callable[[np.float32], np.float32], input_scale: float, input_zero_point: int,
                       output_scale: float, output_zero_point: int) -> np.ndarray:
    """The 513 int16 entries of ``LUTPopulate<int16_t>(input_scale, input_zero_point, output_scale,
    output_zero_point, transform, lut)``; ``transform`` takes and returns float32."""
    out_min = _F(output_scale) * _F(-32768 - output_zero_point)
    out_max = _F(output_scale) * _F(32767 - output_zero_point)
    inv = _F(65536) / (out_max - out_min)
    pts = sample_points(input_scale, input_zero_point)
    rnd = lambda v: _F(round_half_away_from_zero(_F(v)))  # noqa: E731 - TfLiteRound on a float
    lut = np.empty(513, dtype=np.int64)
    for i in range(512):
        val, mid, nxt = (_F(transform(p)) for p in pts[3 * i:3 * i + 3])
        sample = rnd(val * inv)
        interp = rnd((nxt * inv + rnd(val * inv)) / _F(2))
        err = interp - rnd(mid * inv)
        bias = rnd(err / _F(2))
        lut[i] = int(min(max(sample - bias, _F(-32768)), _F(32767)))
    lut[512] = int(min(max(rnd(_F(transform(pts[-1])) * inv), _F(-32768)), _F(32767)))
    return lut


def expf(x: np.float32) -> np.float32:
    """exp of a float32, correctly rounded to float32."""
    return _F(np.exp(np.float64(x)))


def softmax_luts() -> tuple[np.ndarray, np.ndarray]:
    """SOFTMAX int16's two tables (softmax_common.cc InitializeLutForInt16): exp over [-10, 0] and 1 / (1 + x) over
    [0, 1], both with output scale 2 / 65535."""
    exp_lut = lut_populate_int16(expf, _F(10.0) / _F(INT16_RANGE), 32767, _F(2.0) / _F(INT16_RANGE), 0)
    one_over = lut_populate_int16(lambda v: _F(1.0) / (_F(1.0) + _F(v)), _F(1.0) / _F(INT16_RANGE), -32768,
                                  _F(2.0) / _F(INT16_RANGE), 0)
    return exp_lut, one_over
