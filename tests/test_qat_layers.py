"""QAT of the layers hobbyists use (Conv1D, DepthwiseConv1D, SeparableConv1D, 1-D pooling, Concatenate, BN after
any conv, (2, 1)-strided depthwise, tanh/sigmoid/hard_swish/leaky_relu): fully int8, and every activation range in
the .tflite is exactly a range the QAT model learned (nothing recalibrated by the converter). Bad labels and data
for qat / evaluate: one line, exit 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_user_error, run_cli

pytestmark = pytest.mark.tf
pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")

from edgeq import qat  # noqa: E402
from edgeq.convert import verify  # noqa: E402
from edgeq.convert.gestures import make_gestures  # noqa: E402
from edgeq.tflite import parse_model  # noqa: E402

SAME_SCALE = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "PAD", "CONCATENATION")


def _keras():
    from edgeq.convert._tf import import_keras

    return import_keras()


def _conv1d_model():
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(2)
    i = keras.Input((32, 3))
    h = L.Conv1D(8, 5, padding="same", name="c0")(i)
    h = L.BatchNormalization(name="bn0")(h)
    h = L.ReLU()(h)
    a = L.Conv1D(8, 3, padding="same", activation="relu", name="k3")(h)
    b = L.Conv1D(8, 3, dilation_rate=2, strides=1, padding="same", activation="relu", name="d2")(h)
    h = L.Concatenate(name="cat")([a, b])
    h = L.MaxPooling1D(2)(h)
    h = L.DepthwiseConv1D(3, strides=2, name="dw1")(h)
    h = L.BatchNormalization(name="bn1")(h)
    h = L.Activation("tanh")(h)
    h = L.SeparableConv1D(8, 3, activation="sigmoid", name="sep")(h)
    h = L.AveragePooling1D(2)(h)
    h = L.GlobalAveragePooling1D()(h)
    return keras.Model(i, L.Dense(4, activation="softmax", name="out")(h))


def _dw21_model():
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(3)
    i = keras.Input((32, 3))
    h = L.Reshape((32, 3, 1))(i)
    h = L.Conv2D(8, (5, 1), padding="same", name="c")(h)
    h = L.LeakyReLU(name="leaky")(h)
    h = L.DepthwiseConv2D((3, 1), strides=(2, 1), padding="same", name="dw21")(h)
    h = L.BatchNormalization(name="bn")(h)
    h = L.Activation("hard_swish", name="hswish")(h)
    h = L.ZeroPadding2D(((1, 1), (0, 0)))(h)
    h = L.Flatten()(h)
    return keras.Model(i, L.Dense(4, name="logits")(h))


def _assert_converter_used_learned_ranges(model, tflite: bytes) -> None:
    graph = verify.require_full_int8(tflite, io="int8")
    ranges = qat.learned_ranges(model)
    expected = []
    for lo, hi in ranges.values():
        scale = np.float32((hi - lo) / 255.0)
        expected.append((scale, int(np.floor(-lo / float(scale) + 0.5)) - 128))

    def same(a, b):
        return abs(a[0] - b[0]) <= 2 * np.finfo(np.float32).eps * max(a[0], b[0]) and a[1] == b[1]

    acts = {t: (np.float32(graph.tensors[t].scale), graph.tensors[t].zero_point) for t in graph.inputs}
    for op in graph.operators:
        for t in op.outputs:
            acts[t] = (np.float32(graph.tensors[t].scale), graph.tensors[t].zero_point)
        if op.opcode in SAME_SCALE and op.opcode != "CONCATENATION":
            assert same(acts[op.outputs[0]], acts[op.inputs[0]]), op.opcode
    for t, a in acts.items():
        assert any(same(a, e) for e in expected), f"tensor {graph.tensors[t].name}: {a} was not learned"
    for e in expected:
        assert any(same(a, e) for a in acts.values()), f"learned range {e} is not in the .tflite"


@pytest.mark.parametrize("build", [_conv1d_model, _dw21_model], ids=["conv1d_concat_bn", "dw_strides_2_1"])
def test_hobbyist_layers_train_and_convert_with_the_learned_ranges(build):
    keras = _keras()
    x, y = make_gestures(96, length=32, seed=5)
    model = build()
    q = qat.quantize_model(model)
    q.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(
        from_logits=model.layers[-1].activation.__name__ != "softmax"))
    q.fit(x, y, epochs=1, batch_size=32, verbose=0)
    tflite = qat.convert(q)
    _assert_converter_used_learned_ranges(q, tflite)
    graph = parse_model(tflite)
    if build is _dw21_model:
        dw = next(op for op in graph.operators if op.opcode == "DEPTHWISE_CONV_2D")
        assert (dw.options.get("stride_h"), dw.options.get("stride_w")) == (2, 1)
        assert {"LEAKY_RELU", "HARD_SWISH"} <= set(graph.ops_used)
    else:
        assert {"CONCATENATION", "TANH", "LOGISTIC", "MAX_POOL_2D"} <= set(graph.ops_used)
        assert "BATCH_NORMALIZATION" not in graph.ops_used and "MUL" not in graph.ops_used  # BN folded
    # the fake-quant model and the int8 .tflite agree
    from edgeq.convert.runner import run_float

    ref = np.asarray(q.predict(x[:32], verbose=0))
    got = run_float(tflite, x[:32])
    assert np.mean(ref.argmax(1) == got.argmax(1)) >= 0.9


def test_qat_help_lists_supported_layers():
    proc = run_cli("qat", "--help")
    assert proc.returncode == 0
    for needle in ("Conv1D", "Concatenate", "BatchNormalization", "LSTM"):
        assert needle in proc.stdout


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    keras = _keras()
    d = tmp_path_factory.mktemp("badlabels")
    i = keras.Input((32, 3))
    m = keras.Model(i, keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(i)))
    m.save(d / "m.keras")
    return d / "m.keras"


@pytest.mark.parametrize("case,needle", [("negative", "negative"), ("too_big", "outside [0, 4)"),
                                         ("nan_x", "NaN"), ("shape", "shape")])
def test_qat_bad_labels_and_data_one_line_nothing_written(small_model, tmp_path, case, needle):
    x, y = make_gestures(16, length=32, seed=1)
    if case == "negative":
        y[3] = -1
    elif case == "too_big":
        y[5] = 4
    elif case == "nan_x":
        x[2, 3, 1] = np.nan
    elif case == "shape":
        x = x[:, :20]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    proc = run_cli("qat", small_model, "--data", "d.npz", "--epochs", "1", "-o", "o.tflite", cwd=tmp_path)
    assert_user_error(proc, needle)
    assert not (tmp_path / "o.tflite").exists()


def test_evaluate_refuses_labels_outside_the_classes(digits_mlp_tflite, tmp_path, digits):
    x = digits.x_test[:20].reshape(20, -1) if parse_model(digits_mlp_tflite.read_bytes()).input_tensors()[0] \
        .shape[-1] == 64 else digits.x_test[:20]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.full(20, 10))
    proc = run_cli("evaluate", digits_mlp_tflite, digits_mlp_tflite, "--data", "x.npy", "--labels", "y.npy",
                   cwd=tmp_path)
    assert_user_error(proc, "outside [0, 10)")


def _conv_lstm_model():
    keras = _keras()
    keras.utils.set_random_seed(4)
    i = keras.Input((16, 3))
    h = keras.layers.Conv1D(8, 3, padding="same", activation="relu", name="c")(i)
    h = keras.layers.LSTM(8, name="lstm")(h)
    return keras.Model(i, keras.layers.Dense(4, activation="softmax", name="d")(h))


def test_lstm_model_qat_for_the_rest_ptq_for_the_lstm():
    """LSTM/GRU in QAT: the recurrent layer stays frozen in float while the rest fine-tunes (train_recurrent=True
    trains it) and is calibrated post-training; the conv and Dense keep their learned ranges exactly; the result is
    one fused int8 LSTM, fully int8."""
    from edgeq.qat.train import run_qat

    x, y = make_gestures(96, length=16, seed=6)
    model = _conv_lstm_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    res = run_qat(model, x, y, epochs=1, lr=1e-3)
    assert res.summary["post_training_layers"] == ["lstm"]
    lstm = res.model.get_layer("lstm")
    assert not lstm.trainable and lstm.trainable_weights == []
    for trained, original in zip(lstm.get_weights(), model.get_layer("lstm").get_weights()):
        np.testing.assert_array_equal(trained, original)  # frozen: exactly the float weights
    assert not np.array_equal(res.model.get_layer("d").kernel.numpy(), model.get_layer("d").kernel.numpy())
    assert qat.quantize_model(model, train_recurrent=True).get_layer("lstm").trainable
    graph = verify.require_full_int8(res.tflite, io="int8")
    assert sum(op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM" for op in graph.operators) == 1
    ranges = qat.learned_ranges(res.model)
    assert {"c/output_quant", "d/output_quant"} <= set(ranges)
    assert not any(k.startswith("lstm") for k in ranges)
    scales = {op.opcode: graph.tensors[op.outputs[0]].scale for op in graph.operators}
    for key, opcode in (("c/output_quant", "CONV_2D"), ("d/output_quant", "FULLY_CONNECTED")):
        lo, hi = ranges[key]
        assert abs(scales[opcode] - (hi - lo) / 255) <= 1e-6 * scales[opcode], (key, scales[opcode], lo, hi)


def test_selective_quantization_from_python_and_the_cli(tmp_path):
    keras = _keras()
    x, y = make_gestures(64, length=16, seed=7)
    model = _conv_lstm_model()
    q = qat.quantize_model(model, post_training=["c"])
    assert not any(k.startswith("c/") for k in qat.learned_ranges(q))  # no fake quant on 'c'
    assert type(q.get_layer("c")) is keras.layers.Conv1D
    with pytest.raises(Exception, match="no layer named 'nope'"):
        qat.quantize_model(model, post_training=["nope"])
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    proc = run_cli("qat", "m.keras", "--data", "d.npz", "--epochs", "1", "--post-training", "c", "-o", "o.tflite",
                   "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    summary = json.loads(proc.stdout)
    assert summary["post_training_layers"] == ["c", "lstm"]
    verify.require_full_int8((tmp_path / "o.tflite").read_bytes())
    proc = run_cli("qat", "m.keras", "--data", "d.npz", "--epochs", "1", "--post-training", "nope", "-o",
                   "p.tflite", cwd=tmp_path)
    assert_user_error(proc, "no layer named 'nope'")
    assert not (tmp_path / "p.tflite").exists()


def test_input_read_only_by_a_post_training_lstm_is_calibrated_too():
    keras = _keras()
    x, _ = make_gestures(32, length=8, seed=8)
    i = keras.Input((8, 3), name="imu")
    model = keras.Model(i, keras.layers.Dense(4, name="d")(keras.layers.LSTM(6, name="lstm")(i)))
    q = qat.quantize_model(model)
    assert not any(name.startswith("imu_quant") for name in [*qat.learned_ranges(q), *(lr.name for lr in q.layers)])
    qat.calibrate(q, x)
    graph = verify.require_full_int8(qat.convert(q, calibration_data=x), io="int8")
    assert graph.operators[0].opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"
