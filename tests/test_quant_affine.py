"""edgeq.quant.affine: scale / zero point, quantize / dequantize, and bit-exactness with the TFLite converter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeq.errors import EdgeqError
from edgeq.quant import (
    QParams,
    QuantizationError,
    choose_qparams,
    dequantize,
    qrange,
    quantize,
    quantize_bias,
    quantize_weights,
    quantize_weights_per_channel,
    round_half_away_from_zero,
)

FAST = settings(max_examples=80, deadline=None)
# Noise from the converter and LiteRT that says nothing about edgeq.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected:UserWarning"),
    pytest.mark.filterwarnings("ignore:Warning. Enabling .experimental_preserve_all_tensors.:UserWarning"),
]
f32 = np.float32


# --------------------------------------------------------------------------------------------------------------------
# Rounding
# --------------------------------------------------------------------------------------------------------------------


def test_round_half_away_from_zero_known_values():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.49999997, 2.4, -2.6, 0.0], np.float32)
    assert round_half_away_from_zero(x).tolist() == [1, 2, 3, -1, -2, -3, 0, 0, 2, -3, 0]
    assert round_half_away_from_zero(x).dtype == np.float32
    # the classic floor(x + 0.5) bug: in float32, 0.49999997 + 0.5 == 1.0
    assert np.floor(f32(0.49999997) + f32(0.5)) == 1.0
    assert round_half_away_from_zero(0.49999999999999994) == 0.0


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False, width=32) | st.floats(allow_nan=False, allow_infinity=False))
def test_round_half_away_from_zero_is_std_round(x):
    r = float(round_half_away_from_zero(x))
    assert r == math.floor(r)
    assert abs(r - x) <= 0.5
    if abs(r - x) == 0.5:
        assert abs(r) > abs(x)  # ties go away from zero


# --------------------------------------------------------------------------------------------------------------------
# choose_qparams
# --------------------------------------------------------------------------------------------------------------------


def test_choose_qparams_known_values():
    qp = choose_qparams(-1.0, 1.0)
    assert qp.scale == f32(2.0) / f32(255) and qp.zero_point == -1  # -128 + 127.5 rounds away from zero
    qp = choose_qparams(0.0, 6.0)
    assert qp.scale == f32(6.0) / f32(255) and qp.zero_point == -128
    qp = choose_qparams(-6.0, 0.0)
    assert qp.zero_point == 127
    assert choose_qparams(2.0, 5.0) == choose_qparams(0.0, 5.0)  # the range is widened to contain 0
    assert choose_qparams(-5.0, -2.0) == choose_qparams(-5.0, 0.0)
    qp = choose_qparams(0.0, 6.0, dtype="uint8")
    assert qp.zero_point == 0 and qp.dtype == "uint8" and (qp.qmin, qp.qmax) == (0, 255)


def test_choose_qparams_degenerate_range_follows_the_converter():
    # [0, 0] is widened to [-1e-6, 1e-6] (TensorRangeSanityCheck), not given scale 1.0
    qp = choose_qparams(0.0, 0.0)
    assert qp.scale == (f32(1e-6) - f32(-1e-6)) / f32(255)
    assert qp.zero_point == 0
    assert quantize(0.0, qp) == 0 and dequantize(qp.zero_point, qp) == 0.0
    qp = choose_qparams(0.0, 0.0, symmetric=True)  # weight path: [-5e-7, 5e-7]
    assert qp.scale == (f32(5e-7) - f32(-5e-7)) / f32(254) and qp.zero_point == 0


def test_choose_qparams_symmetric_is_narrow_range():
    qp = choose_qparams(-0.3, 0.5, symmetric=True)
    assert qp.scale == f32(0.5) / f32(127) and qp.zero_point == 0
    assert qp.narrow_range and (qp.qmin, qp.qmax) == (-127, 127)
    with pytest.raises(QuantizationError):
        choose_qparams(0.0, 1.0, dtype="uint8", symmetric=True)


def test_choose_qparams_per_channel():
    qp = choose_qparams([-1.0, -2.0, 0.0], [1.0, 3.0, 0.5], axis=1)
    assert qp.per_channel and qp.axis == 1 and qp.scale.shape == (3,)
    for c, (lo, hi) in enumerate([(-1.0, 1.0), (-2.0, 3.0), (0.0, 0.5)]):
        single = choose_qparams(lo, hi)
        assert qp.scale[c] == single.scale and qp.zero_point[c] == single.zero_point
    assert choose_qparams([-1.0, -2.0], [1.0, 2.0]).axis == 0  # arrays default to axis 0


def test_choose_qparams_rejects_bad_ranges():
    for args in [(1.0, -1.0), (float("nan"), 1.0), (0.0, float("inf"))]:
        with pytest.raises(QuantizationError):
            choose_qparams(*args)
    with pytest.raises(QuantizationError):
        choose_qparams([0.0, 1.0], [1.0])
    with pytest.raises(QuantizationError) as e:
        choose_qparams(0.0, 1.0, dtype="int4")
    assert isinstance(e.value, EdgeqError) and isinstance(e.value, ValueError)
    assert "\n" not in str(e.value)


def test_qparams_validation_and_equality():
    qp = QParams(0.1, 3)
    assert qp == QParams(np.float64(0.1), np.int32(3)) and not qp.per_channel
    assert hash(qp) == hash(QParams(0.1, 3))
    assert qp != QParams(0.1, 4)
    assert "zero_point=3" in repr(qp)
    with pytest.raises(ValueError):
        qp.scale[...] = 2  # read-only
    with pytest.raises(QuantizationError):
        QParams(0.0, 0)
    with pytest.raises(QuantizationError):
        QParams(0.1, 200)  # outside int8
    with pytest.raises(QuantizationError):
        QParams([0.1, 0.2], [0, 0])  # several scales need an axis
    pc = QParams([0.1, 0.2], 0, axis=0)
    assert pc.zero_point.tolist() == [0, 0]
    assert qrange("int16") == (-32768, 32767) and qrange("int8", narrow_range=True) == (-127, 127)


ranges = st.tuples(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32),
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32),
).map(sorted)


@FAST
@given(ranges)
def test_zero_is_exactly_representable(r):
    qp = choose_qparams(*r)
    assert qp.qmin <= qp.zero_point <= qp.qmax
    assert quantize(0.0, qp) == qp.zero_point
    assert dequantize(quantize(0.0, qp), qp) == 0.0


@FAST
@given(ranges, st.data())
def test_round_trip_error_is_at_most_half_a_step_inside_the_range(r, data):
    lo, hi = min(r[0], 0.0) + 0.0, max(r[1], 0.0) + 0.0  # (+ 0.0 turns -0.0 into 0.0)
    qp = choose_qparams(lo, hi)
    scale = float(qp.scale)
    x = np.array(data.draw(st.lists(st.floats(min_value=lo, max_value=hi, width=32), min_size=1, max_size=50)), np.float32)
    err = np.abs(dequantize(quantize(x, qp), qp).astype(np.float64) - x)
    # half a step, plus float32 rounding of x / scale and of the dequantized value
    bound = scale / 2 * (1 + 1e-5) + 2 * np.finfo(np.float32).eps * np.abs(x)
    assert np.all(err <= bound)


@FAST
@given(ranges, st.floats(min_value=1.0, max_value=1e20))
def test_values_outside_the_range_saturate(r, factor):
    qp = choose_qparams(*r)
    top = float(qp.scale) * (qp.qmax - int(qp.zero_point))
    bottom = float(qp.scale) * (qp.qmin - int(qp.zero_point))
    assert quantize(top + abs(top) * factor + float(qp.scale), qp) == qp.qmax
    assert quantize(bottom - abs(bottom) * factor - float(qp.scale), qp) == qp.qmin
    assert quantize(np.float32(np.inf), qp) == qp.qmax and quantize(np.float32(-np.inf), qp) == qp.qmin


@FAST
@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), elements=st.floats(-100, 100, width=32)),
    st.data(),
)
def test_per_channel_quantize_equals_per_slice_quantize(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    qp = choose_qparams(x.min(axis=other), x.max(axis=other), axis=axis)
    q = quantize(x, qp)
    assert q.dtype == np.int8 and q.shape == x.shape
    back = dequantize(q, qp)
    for c in range(x.shape[axis]):
        single = QParams(qp.scale[c], qp.zero_point[c])
        xs = np.take(x, c, axis=axis)
        np.testing.assert_array_equal(np.take(q, c, axis=axis), quantize(xs, single))
        np.testing.assert_array_equal(np.take(back, c, axis=axis), dequantize(quantize(xs, single), single))


def test_quantize_checks_channel_count():
    qp = choose_qparams([-1.0, -1.0], [1.0, 1.0], axis=1)
    with pytest.raises(QuantizationError):
        quantize(np.zeros((2, 3)), qp)
    with pytest.raises(QuantizationError):
        quantize(np.zeros(2), QParams([0.1, 0.1], 0, axis=3))


def test_quantize_uses_float32_division_and_half_away_rounding():
    qp = QParams(0.5, 0)
    assert quantize([0.25, -0.25, 0.75, -0.75], qp).tolist() == [1, -1, 2, -2]
    assert quantize([1e9], QParams(1.0, 0, dtype="int32")).tolist() == [1_000_000_000]
    assert quantize([-1.0], QParams(0.001, 0, dtype="int16")).tolist() == [-1000]


# --------------------------------------------------------------------------------------------------------------------
# Weights and bias
# --------------------------------------------------------------------------------------------------------------------


@FAST
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
        elements=st.floats(-10, 10, width=32),
    ),
    st.sampled_from([0, 3, None]),
)
def test_weight_quantization_properties(w, axis):
    q, qp = quantize_weights(w, axis=axis)
    assert q.dtype == np.int8 and q.min() >= -127 and np.all(qp.zero_point == 0) and qp.narrow_range
    other = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
    bound = np.max(np.abs(w), axis=other, keepdims=True)
    peak = np.max(np.abs(q.astype(np.int32)), axis=other, keepdims=True)
    assert np.all(peak[bound > 5e-7] == 127)  # the largest weight of each channel uses the full range
    assert np.all(peak[bound == 0] == 0)
    normal = np.broadcast_to(bound > 5e-7, w.shape)  # tiny per-tensor weights: see test_tiny_per_tensor_weights
    scale = np.broadcast_to(qp.scale.reshape([-1 if i == axis else 1 for i in range(w.ndim)] if axis is not None else ()), w.shape)
    err = np.abs(dequantize(q, qp).astype(np.float64) - w)
    assert np.all(err[normal] <= scale[normal] * 0.5 * (1 + 1e-5))


def test_tiny_per_tensor_weights_get_full_scale_values():
    # max|w| <= 5e-7: the scale is widened to 1e-6/254, but the converter's per-tensor routine still spreads the
    # values over [-127, 127] with its own inverse scale 127/max|w| (checked against the converter elsewhere).
    w = np.array([[1e-8, -2e-8], [5e-9, 0.0]], np.float32)
    q, qp = quantize_weights(w)
    assert qp.scale == (f32(5e-7) - f32(-5e-7)) / f32(254)
    assert q.tolist() == [[64, -127], [32, 0]]


def test_zero_weight_channel():
    w = np.zeros((2, 3, 3, 4), np.float32)
    w[1] = 0.5
    q, qp = quantize_weights_per_channel(w, axis=0)
    assert qp.scale[0] == (f32(5e-7) - f32(-5e-7)) / f32(254)  # ExpandVerySmallRange
    assert np.all(q[0] == 0) and np.all(q[1] == 127)
    q, qp = quantize_weights(np.zeros((3, 4), np.float32))
    assert np.all(q == 0)


def test_quantize_bias():
    q, qp = quantize_bias(np.array([0.01, -0.02, 1000.0], np.float32), 0.02, np.array([0.001, 0.002, 0.0005], np.float32))
    assert q.dtype == np.int32 and qp.dtype == "int32" and qp.per_channel
    np.testing.assert_array_equal(qp.scale, (np.float64(f32(0.02)) * np.array([0.001, 0.002, 0.0005], np.float32).astype(np.float64)).astype(np.float32))
    # float32 arithmetic, as the converter: 1000 * float32(1 / 1e-5) = 99999992 (not 1e8)
    assert q.tolist() == [500, -500, 99_999_992]
    q, qp = quantize_bias([1e9], 1e-3, 1e-3)  # saturates at +-(2**31 - 1)
    assert q.tolist() == [2**31 - 1] and not qp.per_channel
    with pytest.raises(QuantizationError):
        quantize_bias([1.0, 2.0], 0.1, [0.1, 0.2, 0.3])


# --------------------------------------------------------------------------------------------------------------------
# Bit-exactness with the TFLite converter
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow", reason="TensorFlow is needed to compare with the TFLite converter")


def _converter(tf, model, rep):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv


def _tensor_details(buf):
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is needed to read the converted model")
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=buf, experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    return interpreter, interpreter.get_tensor_details()


def test_activation_qparams_match_the_converter_on_edited_ranges(tf):
    """Calibrate once, overwrite the recorded ranges with our own, let the converter quantize, compare."""
    import keras
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.python.convert import mlir_quantize

    import flatbuffers

    rng = np.random.default_rng(0)
    inp = keras.Input((8,), batch_size=1)
    h = keras.layers.Dense(6)(inp)
    out = keras.layers.Dense(4)(h)
    model = keras.Model(inp, out)
    conv = _converter(tf, model, lambda: ([rng.standard_normal((1, 8)).astype(np.float32)] for _ in range(4)))
    conv._experimental_calibrate_only = True
    calibrated = conv.convert()

    ranges = [(-1.0, 1.0), (0.0, 0.0), (0.0, 1e-7), (-1e-9, 0.0), (0.0, np.float32(1e-6)), (0.5, 0.5), (2.0, 7.5),
              (-7.5, -2.0), (-3.0, 3.0), (0.0, 6.0), (-1e-3, 2e-3), (-123.456, 0.001), (-0.1, 1000.0)]
    for _ in range(36):
        kind = rng.integers(0, 4)
        lo, hi = sorted(rng.uniform(-10, 10, 2)) if kind == 0 else sorted(rng.uniform(-1e-3, 1e-3, 2))
        if kind == 2:
            lo, hi = 0.0, rng.uniform(0, 20)
        if kind == 3:
            lo = -rng.uniform(0, 5)
            hi = -lo
        ranges.append((lo, hi))
    ranges = [(f32(lo), f32(hi)) for lo, hi in ranges]

    checked = 0
    for start in range(0, len(ranges), 3):
        model_t = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(calibrated, 0))
        tensors = model_t.subgraphs[0].tensors
        stats = [i for i, t in enumerate(tensors) if t.quantization is not None and t.quantization.min is not None]
        assert len(stats) == 3  # input, hidden, output
        batch = ranges[start : start + 3]
        batch += [batch[-1]] * (3 - len(batch))
        for i, (lo, hi) in zip(stats, batch):
            tensors[i].quantization.min = np.array([lo], np.float32)
            tensors[i].quantization.max = np.array([hi], np.float32)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
        quantized = mlir_quantize(bytes(builder.Output()), fully_quantize=True, input_data_type=tf.int8,
                                  output_data_type=tf.int8)
        out_t = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(quantized, 0)).subgraphs[0].tensors
        by_name = {t.name: t.quantization for t in out_t}
        for i, (lo, hi) in zip(stats, batch):
            theirs = by_name[tensors[i].name]
            ours = choose_qparams(lo, hi)
            assert f32(theirs.scale[0]) == ours.scale, (lo, hi, theirs.scale[0], ours.scale)
            assert int(theirs.zeroPoint[0]) == int(ours.zero_point), (lo, hi, theirs.zeroPoint[0], ours.zero_point)
            checked += 1
    assert checked >= 45


def _tie_weights(rng, shape, channel_axis):
    """Weights that sit exactly on (or one ULP beside) rounding ties of their own quantization grid.

    ``channel_axis=None``: one bound for the whole tensor (per-tensor quantization).
    """
    channels = 1 if channel_axis is None else shape[channel_axis]
    bounds = rng.uniform(0.01, 3.0, channels).astype(np.float32)
    scales = (f32(2) * bounds / f32(254)).astype(np.float32)
    while channel_axis is None and f32(1.0 / np.float64(scales[0])) == f32(127) / bounds[0]:
        # per tensor, pick a bound where the two inverse-scale formulas differ, so that the test tells them apart
        bounds = rng.uniform(0.01, 3.0, 1).astype(np.float32)
        scales = (f32(2) * bounds / f32(254)).astype(np.float32)
    bshape = [1] * len(shape)
    if channel_axis is not None:
        bshape[channel_axis] = -1
    k = rng.integers(-126, 126, shape)
    w = ((k + 0.5) * scales.reshape(bshape).astype(np.float64)).astype(np.float32)
    w = np.where(rng.random(shape) < 0.3, np.nextafter(w, f32(np.inf)), w)
    w = np.where(rng.random(shape) < 0.3, np.nextafter(w, f32(-np.inf)), w)
    index = [0] * len(shape)
    for c in range(channels):  # put each channel's bound in, so that the scale is the intended one
        if channel_axis is not None:
            index[channel_axis] = c
        w[tuple(index)] = bounds[c] * (1 if c % 2 else -1)
    return w


def test_weights_and_bias_match_the_converter(tf):
    """Conv (per-channel, OHWI axis 0), depthwise (per-channel, 1HWO axis 3), dense (per-tensor) and their biases.

    The weights are built on rounding ties, where computing ``w / scale`` instead of the converter's
    ``w * float32(1 / scale)`` (per channel) or ``w * (127 / bound)`` (per tensor) gives a different int8 value.
    """
    import keras

    rng = np.random.default_rng(1)
    inp = keras.Input((6, 6, 4), batch_size=1)
    c = keras.layers.Conv2D(32, 3, name="conv")(inp)
    d = keras.layers.DepthwiseConv2D(3, name="dw")(c)
    f = keras.layers.Flatten()(d)
    o = keras.layers.Dense(48, name="fc", activation="relu")(f)
    model = keras.Model(inp, o)
    # Keras layouts: conv HWIO, depthwise HW C 1, dense [in, out].
    kernels = {
        "conv": _tie_weights(rng, (3, 3, 4, 32), 3),
        "dw": _tie_weights(rng, (3, 3, 32, 1), 2),
        "fc": _tie_weights(rng, (128, 48), None),
    }
    biases = {name: (rng.standard_normal(model.get_layer(name).bias.shape) * 0.3).astype(np.float32) for name in kernels}
    # The input range is exactly [-1, 1] (see rep()), so the conv bias scale is known: put the conv bias on ties too.
    conv_bias_scale = (np.float64(choose_qparams(-1.0, 1.0).scale) * quantize_weights(kernels["conv"], 3)[1].scale)
    conv_bias_scale = conv_bias_scale.astype(np.float32).astype(np.float64)
    conv_bias = ((rng.integers(-(2**20), 2**20, 32) + 0.5) * conv_bias_scale).astype(np.float32)
    conv_bias = np.where(rng.random(32) < 0.3, np.nextafter(conv_bias, f32(np.inf)), conv_bias)
    biases["conv"] = np.where(rng.random(32) < 0.3, np.nextafter(conv_bias, f32(-np.inf)), conv_bias)
    for name in kernels:
        model.get_layer(name).set_weights([kernels[name], biases[name]])

    def rep():
        for _ in range(8):
            x = rng.uniform(-1, 1, (1, 6, 6, 4)).astype(np.float32)
            x[0, 0, 0, :2] = [-1.0, 1.0]
            yield [x]

    conv = _converter(tf, model, rep)
    conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    buf = conv.convert()
    interpreter, details = _tensor_details(buf)
    from tensorflow.lite.python import schema_py_generated as schema

    graph = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0)).subgraphs[0]
    bias_of = {int(op.inputs[1]): int(op.inputs[2]) for op in graph.operators if len(op.inputs) == 3}

    def find(dtype, shape):
        hits = [d for d in details if d["dtype"] == dtype and tuple(d["shape"]) == shape]
        assert len(hits) == 1, (dtype, shape, [(d["name"], d["shape"]) for d in details])
        return hits[0]

    tflite_layout = {
        "conv": (kernels["conv"].transpose(3, 0, 1, 2), 0),  # HWIO -> OHWI
        "dw": (kernels["dw"].reshape(1, 3, 3, 32), 3),  # HW C 1 -> 1 H W C
        "fc": (kernels["fc"].T, None),  # [in, out] -> [out, in], per tensor
    }
    inputs = {"conv": find(np.int8, (1, 6, 6, 4)), "dw": find(np.int8, (1, 4, 4, 32)), "fc": find(np.int8, (1, 128))}
    # The model input's calibration range is the exact min/max of the representative data: [-1, 1].
    input_qp = inputs["conv"]["quantization_parameters"]
    assert (input_qp["scales"][0], input_qp["zero_points"][0]) == (choose_qparams(-1.0, 1.0).scale, -1)
    for name, (w, axis) in tflite_layout.items():
        theirs = find(np.int8, w.shape)
        q, qp = quantize_weights(w, axis=axis)
        their_scales = theirs["quantization_parameters"]["scales"]
        np.testing.assert_array_equal(np.broadcast_to(qp.scale, their_scales.shape), their_scales, err_msg=name)
        np.testing.assert_array_equal(q, interpreter.get_tensor(theirs["index"]), err_msg=name)
        if axis is not None:
            np.testing.assert_array_equal(quantize_weights_per_channel(w, axis)[0], q)

        bias_t = next(d for d in details if d["index"] == bias_of[theirs["index"]])
        in_scale = inputs[name]["quantization_parameters"]["scales"][0]
        qb, qbp = quantize_bias(biases[name], in_scale, qp.scale)
        bias_scales = bias_t["quantization_parameters"]["scales"]
        np.testing.assert_array_equal(np.broadcast_to(qbp.scale, bias_scales.shape), bias_scales, err_msg=name)
        np.testing.assert_array_equal(qb, interpreter.get_tensor(bias_t["index"]), err_msg=name)


def test_bias_overflow_adjustment_matches_the_converter(tf):
    """Channels with (nearly) zero weights but a real bias: the converter raises weight and bias scales."""
    import keras

    from edgeq.quant import BIAS_MAX, quantize_weights_and_bias

    rng = np.random.default_rng(2)
    inp = keras.Input((5, 5, 3), batch_size=1)
    c = keras.layers.Conv2D(6, 3, name="conv")(inp)
    f = keras.layers.Flatten()(c)
    o = keras.layers.Dense(5, name="fc")(f)
    model = keras.Model(inp, o)
    conv_w = (rng.standard_normal((3, 3, 3, 6)) * 0.2).astype(np.float32)
    conv_w[..., 1] = 0.0  # a dead channel
    conv_w[..., 4] *= 1e-7  # a nearly dead one
    conv_b = np.array([0.1, 0.5, -0.2, 0.0, -0.3, 2.0], np.float32)
    fc_w = (rng.uniform(-1, 1, (54, 5)) * 1e-7).astype(np.float32)  # tiny per-tensor weights
    fc_b = np.array([0.3, -0.2, 0.05, 0.0, 0.1], np.float32)
    model.get_layer("conv").set_weights([conv_w, conv_b])
    model.get_layer("fc").set_weights([fc_w, fc_b])

    def rep():
        for _ in range(4):
            yield [rng.uniform(-1, 1, (1, 5, 5, 3)).astype(np.float32)]

    conv = _converter(tf, model, rep)
    conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    buf = conv.convert()
    interpreter, details = _tensor_details(buf)
    from tensorflow.lite.python import schema_py_generated as schema

    graph = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0)).subgraphs[0]
    by_index = {d["index"]: d for d in details}
    layers = {"conv": (conv_w.transpose(3, 0, 1, 2), conv_b, 0), "fc": (fc_w.T, fc_b, None)}
    adjusted = 0
    for op in graph.operators:
        if len(op.inputs) != 3:
            continue  # the RESHAPE of Flatten
        in_i, w_i, b_i = (int(i) for i in op.inputs)
        name = "conv" if by_index[w_i]["shape"].size == 4 else "fc"
        w, b, axis = layers[name]
        in_scale = by_index[in_i]["quantization_parameters"]["scales"][0]
        qw, wqp, qb, bqp = quantize_weights_and_bias(w, b, in_scale, axis=axis)
        their_w = by_index[w_i]["quantization_parameters"]["scales"]
        their_b = by_index[b_i]["quantization_parameters"]["scales"]
        np.testing.assert_array_equal(np.broadcast_to(wqp.scale, their_w.shape), their_w, err_msg=name)
        np.testing.assert_array_equal(np.broadcast_to(bqp.scale, their_b.shape), their_b, err_msg=name)
        np.testing.assert_array_equal(qw, interpreter.get_tensor(w_i), err_msg=name)
        np.testing.assert_array_equal(qb, interpreter.get_tensor(b_i), err_msg=name)
        plain_w = quantize_weights(w, axis=axis)[1]
        adjusted += int(np.sum(np.broadcast_to(wqp.scale, their_w.shape) != np.broadcast_to(plain_w.scale, their_w.shape)))
        assert np.all(np.abs(qb.astype(np.int64)) <= BIAS_MAX + 1)
    assert adjusted >= 3  # the dead conv channel, the nearly dead one and the tiny dense layer
