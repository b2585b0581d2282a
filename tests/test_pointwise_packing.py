"""The arithmetic edgeq_convolve_1x1_s8's plain-C path relies on (edgeq_convolve_1x1_s8.c, EDGEQ_1X1_PAIR): for raw
int8 inputs x0, x1 and weights a0, a1, b0, b1 in [-127, 127], t = x0 (a0 + b0 2^16) + x1 (a1 + b1 2^16) fits in int32
and (t + 32512) >> 16 = x0 b0 + x1 b1 exactly; and the compiler only picks the kernel for weights in that range."""

from __future__ import annotations

import itertools

import numpy as np

from edgeq.compiler.ops.conv import window_constants


def _check(x0, x1, a0, a1, b0, b1) -> None:
    t = x0 * (a0 + b0 * 65536) + x1 * (a1 + b1 * 65536)  # int64: the C code's int32 must not overflow
    assert np.all(np.abs(t) < 2**31)
    assert np.array_equal((t + 32512) >> 16, x0 * b0 + x1 * b1)
    assert np.array_equal(t - ((t + 32512) >> 16) * 65536, x0 * a0 + x1 * a1)


def test_pair_packing_is_exact_at_the_extremes_and_at_random():
    corners = np.array(list(itertools.product([-128, 127, 0, -1], [-128, 127, 0, -1], [-127, 127, 0],
                                              [-127, 127, 0], [-127, 127, 0], [-127, 127, 0])), np.int64)
    _check(*corners.T)
    rng = np.random.default_rng(15)
    x = rng.integers(-128, 128, size=(2, 1_000_000), dtype=np.int64)
    w = rng.integers(-127, 128, size=(4, 1_000_000), dtype=np.int64)
    _check(x[0], x[1], *w)


def test_weights_of_minus_128_keep_the_general_kernel():
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(6, 10)).astype(np.int8)
    mults, shifts = np.full(6, 1 << 30, np.int32), np.full(6, -8, np.int32)
    packed = window_constants(w, None, 3, mults, shifts)
    assert packed is not None and sorted(packed[0].tolist()) == sorted(w.reshape(-1).tolist())  # same bytes
    natural = window_constants(w, None, 3, mults, shifts, natural=True)
    assert np.array_equal(natural[0], w.reshape(-1)) and np.array_equal(natural[1], 3 * w.astype(int).sum(axis=1))
    w[2, 4] = -128
    assert window_constants(w, None, 3, mults, shifts) is None
