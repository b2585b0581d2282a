"""Synthetic accelerometer gestures: 64 x 3 windows, 4 classes, generated deterministically (numpy only).

The kind of data a hobbyist's IMU gesture classifier sees, without a download: ``circle`` (x/y rotate), ``shake``
(fast oscillation along x), ``lift`` (one slow up-and-down along z) and ``idle`` (gravity and noise). Each sample
has a random amplitude, frequency, phase, orientation offset and sensor noise, so the classes overlap a little and a
model has something to learn. Used by ``benchmarks/hobbyist.py`` and the tests of recurrent / 1-D models.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("circle", "shake", "lift", "idle")
LENGTH = 64
AXES = 3


def make_gestures(n: int, *, length: int = LENGTH, seed: int = 0, noise: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: ``x`` float32 ``(n, length, 3)`` in g, ``y`` int64 ``(n,)`` with balanced classes 0..3."""
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % len(CLASSES)
    rng.shuffle(y)
    t = np.linspace(0.0, 1.0, length, dtype=np.float64)[None, :]
    amp = rng.uniform(0.4, 1.2, (n, 1))
    freq = rng.uniform(0.7, 1.6, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.zeros((n, length, AXES))
    x[..., 2] = 1.0  # gravity
    circ = np.where(y == 0)[0]
    x[circ, :, 0] += (amp * np.cos(2 * np.pi * freq * t + phase))[circ]
    x[circ, :, 1] += (amp * np.sin(2 * np.pi * freq * t + phase))[circ]
    shake = np.where(y == 1)[0]
    x[shake, :, 0] += (amp * np.sin(2 * np.pi * 5 * freq * t + phase))[shake]
    lift = np.where(y == 2)[0]
    x[lift, :, 2] += (amp * np.sin(np.pi * np.clip(freq * t, 0, 1)))[lift]
    x += rng.normal(0, 0.15, (n, 1, AXES))  # orientation offset
    x += rng.normal(0, noise, x.shape)  # sensor noise
    return x.astype(np.float32), y
