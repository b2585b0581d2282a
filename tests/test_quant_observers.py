"""edgeq.quant.observers: calibration ranges on known distributions, streaming behaviour, the factory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeq.quant import (
    OBSERVERS,
    EntropyObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    PercentileObserver,
    QuantizationError,
    StreamingHistogram,
    choose_qparams,
    make_observer,
)

FAST = settings(max_examples=60, deadline=None)


def _feed(observer, data, batches=10):
    for batch in np.array_split(data, batches):
        observer.update(batch)
    return observer


@pytest.fixture(scope="module")
def gaussian_with_outliers():
    """Unit Gaussian plus two huge outliers (5 per million), shuffled into the stream."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400_000)
    x[:2] = [60.0, -60.0]
    rng.shuffle(x)
    return x


def test_uniform_minmax_is_the_bounds():
    x = np.random.default_rng(1).uniform(-2.0, 3.0, 50_000)
    for name in ("minmax", "percentile", "entropy"):
        lo, hi = _feed(make_observer(name) if name != "percentile" else PercentileObserver(99.999), x).range()
        assert lo == pytest.approx(-2.0, abs=0.02) and hi == pytest.approx(3.0, abs=0.02), name
    lo, hi = _feed(MinMaxObserver(), x).range()
    assert (lo, hi) == (x.min(), x.max())
    lo, hi = _feed(MSEObserver(), x).range()  # uniform data: nothing worth clipping
    assert lo == pytest.approx(-2.0, rel=0.03) and hi == pytest.approx(3.0, rel=0.03)


@pytest.mark.parametrize("name", ["percentile", "mse", "entropy"])
def test_outliers_are_clipped(gaussian_with_outliers, name):
    x = gaussian_with_outliers
    full_lo, full_hi = _feed(MinMaxObserver(), x).range()
    lo, hi = _feed(make_observer(name), x, batches=20).range()
    assert hi - lo < 0.6 * (full_hi - full_lo)  # much smaller than min/max
    assert lo <= -3.0 and hi >= 3.0  # but still covers +-3 sigma
    assert full_lo <= lo < hi <= full_hi


def test_percentile_values():
    x = np.random.default_rng(2).standard_normal(200_000)
    lo, hi = _feed(PercentileObserver(percentile=99.0), x).range()
    assert lo == pytest.approx(np.percentile(x, 1.0), abs=0.02)
    assert hi == pytest.approx(np.percentile(x, 99.0), abs=0.02)
    assert _feed(PercentileObserver(100.0), x).range() == pytest.approx((x.min(), x.max()))


def test_relu_activations_keep_zero_as_minimum(gaussian_with_outliers):
    x = np.maximum(gaussian_with_outliers, 0.0)
    for name in OBSERVERS:
        lo, hi = _feed(make_observer(name), x).range()
        assert lo == 0.0, name
        assert hi > 2.0, name
        qp = choose_qparams(lo, hi)
        assert qp.zero_point == -128  # a ReLU output uses the whole int8 range for positives


def test_mse_clips_heavy_tails_not_isolated_spikes():
    rng = np.random.default_rng(3)
    laplace = rng.laplace(size=200_000)
    lo, hi = _feed(MSEObserver(), laplace).range()
    assert hi - lo < 0.95 * (laplace.max() - laplace.min())
    obs = _feed(MSEObserver(), laplace)
    best = obs.quantization_error(lo, hi)
    assert best <= obs.quantization_error(laplace.min(), laplace.max())
    assert best <= obs.quantization_error(0.5 * lo, 0.5 * hi)


def test_entropy_threshold_on_a_gaussian():
    x = np.random.default_rng(4).standard_normal(300_000)
    obs = _feed(EntropyObserver(), x)
    t = obs.threshold()
    _, width = obs.reference_histogram()
    assert 2.5 < t <= np.abs(x).max() + width  # a threshold in the tail, never beyond the data (+ one bin)
    assert obs.range() == (max(x.min(), -t), min(x.max(), t))


def test_moving_average_follows_batches():
    obs = MovingAverageMinMaxObserver(momentum=0.9)
    obs.update(np.array([-1.0, 1.0]))
    assert obs.range() == (-1.0, 1.0)  # the first batch initializes
    obs.update(np.array([-11.0, 11.0]))
    assert obs.range() == pytest.approx((-2.0, 2.0))  # 0.9 * 1 + 0.1 * 11
    for _ in range(200):
        obs.update(np.array([-5.0, 5.0]))
    assert obs.range() == pytest.approx((-5.0, 5.0), abs=1e-6)
    with pytest.raises(QuantizationError):
        MovingAverageMinMaxObserver(momentum=1.0)


def test_per_channel_minmax_observers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 8, 8, 3)) * np.array([1.0, 5.0, 0.1])
    for cls in (MinMaxObserver, MovingAverageMinMaxObserver):
        obs = _feed(cls(axis=3), x, batches=4)
        lo, hi = obs.range()
        assert lo.shape == (3,) and hi.shape == (3,)
        qp = obs.qparams(symmetric=True)
        assert qp.per_channel and qp.axis == 3 and qp.scale.shape == (3,)
        assert qp.scale[1] > qp.scale[0] > qp.scale[2]
    lo, hi = _feed(MinMaxObserver(axis=-1), x, batches=4).range()
    np.testing.assert_array_equal(lo, x.min(axis=(0, 1, 2)))
    np.testing.assert_array_equal(hi, x.max(axis=(0, 1, 2)))
    for name in ("percentile", "mse", "entropy"):
        with pytest.raises(QuantizationError):
            make_observer(name, axis=0)


@FAST
@given(
    st.lists(
        hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-1e3, 1e3, allow_nan=False)), min_size=1, max_size=6
    )
)
def test_streaming_histogram_counts_everything_and_covers_the_data(batches):
    h = StreamingHistogram(bins=64)
    for b in batches:
        h.add(b)
    data = np.concatenate(batches)
    assert h.total == data.size
    assert h.lo <= data.min() and data.max() < h.hi
    # every value is in the bin its position says (doublings only merge neighbouring bins)
    assert np.all(np.diff(h.edges) > 0)


@pytest.mark.parametrize("batches", [
    [[0.0, 1e-300], [-1000.0, 1000.0]],  # a first batch spanning a subnormal-sized range, then real data
    [[1000.0, 1000.0000000000002], [-1000.0]],  # a first batch one ulp wide
    [[0.0, 5e-324], [1.0]],
    [[-5e-324, 0.0], [1e3, -1e3]],
], ids=["subnormal-span", "one-ulp-span", "smallest-subnormal", "negative-subnormal"])
def test_streaming_histogram_covers_data_after_a_degenerate_first_batch(batches):
    """A first batch of (almost) one value gave bins narrower than a float step, and covering the next batch then
    counted bins one by one without end (found by the property test above)."""
    h = StreamingHistogram(bins=64)
    for b in batches:
        h.add(np.array(b))
    data = np.concatenate([np.array(b) for b in batches])
    assert h.total == data.size
    assert h.lo <= data.min() and data.max() < h.hi
    assert 64 <= h.bins <= h.max_bins
    assert np.all(np.diff(h.edges) > 0)


def test_streaming_histogram_regrowth_is_exact_rebinning():
    rng = np.random.default_rng(6)
    first = rng.uniform(0.0, 1.0, 1000)
    later = rng.uniform(-3.0, 7.0, 5000)
    h = StreamingHistogram(bins=128)
    h.add(first)
    h.add(later)
    # the same data counted directly on the final bins gives the same histogram
    direct, _ = np.histogram(np.concatenate([first, later]), bins=h.edges)
    np.testing.assert_array_equal(h.counts, direct)


def test_streaming_observers_agree_with_one_big_batch(gaussian_with_outliers):
    x = gaussian_with_outliers[:50_000]
    x = np.concatenate([x, [60.0, -60.0]])  # the outliers arrive in the last batch
    for name in ("percentile", "mse", "entropy"):
        streamed = _feed(make_observer(name), x, batches=25).range()
        at_once = make_observer(name).update(x).range()
        width = at_once[1] - at_once[0]
        assert streamed == pytest.approx(at_once, abs=0.05 * width), name


def test_factory_and_errors():
    assert set(OBSERVERS) == {"minmax", "moving_average", "percentile", "mse", "entropy"}
    assert isinstance(make_observer("Moving-Average", momentum=0.5), MovingAverageMinMaxObserver)
    assert make_observer("percentile", percentile=99.9).percentile == 99.9
    with pytest.raises(QuantizationError):
        make_observer("kmeans")
    with pytest.raises(QuantizationError):
        make_observer("minmax", percentile=99.0)
    with pytest.raises(QuantizationError):
        MinMaxObserver().range()  # nothing seen yet
    with pytest.raises(QuantizationError):
        MinMaxObserver().update(np.array([1.0, np.nan]))
    with pytest.raises(QuantizationError):
        PercentileObserver(percentile=40.0)
    assert MinMaxObserver().update(np.array([])).batches == 0  # empty batches are ignored


def test_constant_input():
    for name in OBSERVERS:
        lo, hi = _feed(make_observer(name), np.full(1000, 2.5)).range()
        assert lo <= 2.5 <= hi + 1e-9, name
        qp = choose_qparams(lo, hi)
        assert qp.scale > 0
