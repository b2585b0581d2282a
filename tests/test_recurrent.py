"""PTQ of recurrent Keras 3 models: LSTM -> fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int16 cell state), GRU and
SimpleRNN unrolled, Bidirectional; every result fully int8, run by TFLM and close to the float model; a converter
crash is one line and exit 2, never a crash of edgeq."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_user_error, run_cli

pytestmark = pytest.mark.tf
pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")
runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                              reason="tflite-micro is needed (pip install 'edgeq[micro]')")

from edgeq.convert import verify  # noqa: E402
from edgeq.convert.gestures import make_gestures  # noqa: E402
from edgeq.tflite import parse_model  # noqa: E402
from edgeq.tflite.check import model_kind  # noqa: E402

STEPS = 16


def _model(kind: str):
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((STEPS, 3), name="imu")
    if kind == "lstm":
        x = keras.layers.LSTM(12, name="lstm")(inp)
    elif kind == "lstm_seq":
        x = keras.layers.LSTM(8, return_sequences=True, name="lstm")(inp)
        x = keras.layers.Flatten()(x)
    elif kind == "gru":
        x = keras.layers.GRU(12, name="gru")(inp)
    elif kind == "bilstm":
        x = keras.layers.Bidirectional(keras.layers.LSTM(6), name="bi")(inp)
    else:
        raise ValueError(kind)
    out = keras.layers.Dense(4, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=kind)


@pytest.fixture(scope="module")
def gestures():
    x, y = make_gestures(80, length=STEPS, seed=3)
    return x, y


@pytest.fixture(scope="module")
def saved(tmp_path_factory, gestures):
    d = tmp_path_factory.mktemp("rnn")
    np.save(d / "calib.npy", gestures[0][:60])
    paths = {}
    for kind in ("lstm", "gru"):
        m = _model(kind)
        m.save(d / f"{kind}.keras")
        paths[kind] = d / f"{kind}.keras"
    return d, paths


def _tflm_run(tflite: bytes, x: np.ndarray) -> np.ndarray:
    it = runtime.Interpreter.from_bytes(tflite)
    i, o = it.get_input_details(0), it.get_output_details(0)
    s, z = i["quantization_parameters"]["scales"][0], i["quantization_parameters"]["zero_points"][0]
    os_, oz = o["quantization_parameters"]["scales"][0], o["quantization_parameters"]["zero_points"][0]
    out = []
    for sample in x:
        q = np.clip(np.round(sample / s) + z, -128, 127).astype(np.int8)[None]
        it.set_input(q, 0)
        it.invoke()
        out.append((it.get_output(0).astype(np.float32).ravel() - oz) * os_)
    return np.stack(out)


def _check_int8_close(tflite: bytes, model, x: np.ndarray) -> None:
    graph = verify.require_full_int8(tflite, io="int8")
    verify.require_batch_one(graph)
    assert model_kind(graph) == "int8"
    assert "WHILE" not in graph.ops_used and "READ_VARIABLE" not in graph.ops_used
    got = _tflm_run(tflite, x)
    ref = np.asarray(model.predict(x, verbose=0))
    assert np.max(np.abs(got - ref)) < 0.06, np.max(np.abs(got - ref))
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.9


def test_cli_lstm_becomes_one_fused_int8_lstm_with_int16_cell_state(saved, gestures, tmp_path):
    import keras

    d, paths = saved
    proc = run_cli("quantize", str(paths["lstm"]), "--mode", "int8", "--data", str(d / "calib.npy"),
                   "-o", "out.tflite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tflite = (tmp_path / "out.tflite").read_bytes()
    graph = parse_model(tflite)
    lstm = [op for op in graph.operators if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert len(lstm) == 1
    assert graph.tensors[lstm[0].inputs[0]].dtype == "int8"
    assert graph.tensors[lstm[0].inputs[19]].dtype == "int16"  # the cell state TFLM's int8 kernel expects
    assert all(graph.tensors[lstm[0].inputs[i]].dtype == "int8" for i in range(1, 9))  # weights
    _check_int8_close(tflite, keras.models.load_model(paths["lstm"]), gestures[0][60:])


def test_every_sample_starts_from_a_zero_lstm_state(saved, gestures):
    """A fused LSTM's state is a variable tensor that TFLite keeps from one invoke to the next; edgeq's predictor
    (every accuracy edgeq prints) and its calibration reset it before each sample, as the Keras model and the
    device (edgeq_reset()) start every window from zero: a sample gives the same output after any other."""
    from edgeq.convert import quantize
    from edgeq.convert.runner import predict

    d, paths = saved
    x = gestures[0][60:66]
    for mode in ("float32", "int8"):
        tflite = quantize(paths["lstm"], mode, data=d / "calib.npy", progress=False).tflite
        together = predict(tflite, x)
        alone = [predict(tflite, x[k:k + 1]) for k in range(len(x))]
        assert together.engine == alone[0].engine == ("tflm" if mode == "int8" else "litert-builtin")
        np.testing.assert_array_equal(together.scores, np.concatenate([a.scores for a in alone]))


def test_cli_gru_is_unrolled_fully_int8_and_runs_in_tflm(saved, gestures, tmp_path):
    import keras

    d, paths = saved
    proc = run_cli("quantize", str(paths["gru"]), "--data", str(d / "calib.npy"), "-o", "gru.tflite",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tflite = (tmp_path / "gru.tflite").read_bytes()
    graph = parse_model(tflite)
    assert {"FULLY_CONNECTED", "LOGISTIC", "TANH"} <= set(graph.ops_used)
    _check_int8_close(tflite, keras.models.load_model(paths["gru"]), gestures[0][60:])


def test_cli_int16x8_gru_gives_every_step_a_bias_of_its_own_scale(saved, gestures, tmp_path):
    """The converter's int16x8 GRU reads, at every unrolled step, one int64 recurrent bias quantized for the first
    step's hidden-state scale; edgeq gives each step's FULLY_CONNECTED a bias quantized with its own input x weight
    scale (what TFLM adds into the accumulator), so the int16x8 model follows the float one closely."""
    d, _ = saved
    model = _model("gru")
    rng = np.random.default_rng(0)  # untrained biases are zero and the converter leaves them out
    for v in model.weights:
        if "bias" in v.path:
            v.assign(rng.uniform(-0.5, 0.5, v.shape))
    model.save(tmp_path / "gru_bias.keras")
    proc = run_cli("quantize", "gru_bias.keras", "--mode", "int16x8", "--data", str(d / "calib.npy"),
                   "-o", "gru16.tflite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tflite = (tmp_path / "gru16.tflite").read_bytes()
    graph = parse_model(tflite)
    assert model_kind(graph) == "int16x8"
    fcs = [op for op in graph.operators if op.opcode == "FULLY_CONNECTED"]
    recurrent = [op for op in fcs if "MatMul_1" in graph.tensors[op.outputs[0]].name]
    assert len(recurrent) == STEPS - 1  # the first step's state is zero: its recurrent FC is folded away
    assert len({graph.tensors[op.inputs[0]].scale for op in recurrent}) > 1  # the steps' state scales differ
    for op in fcs:
        assert op.inputs[2] >= 0
        x, w, b = (graph.tensors[i] for i in op.inputs[:3])
        assert b.dtype == "int64"
        assert np.allclose(b.quant.scales(), x.scale * w.quant.scales(), rtol=1e-5), graph.tensors[op.outputs[0]].name
    it = runtime.Interpreter.from_bytes(tflite)
    s = it.get_input_details(0)["quantization_parameters"]["scales"][0]
    o = it.get_output_details(0)["quantization_parameters"]["scales"][0]
    got = []
    for sample in gestures[0][60:]:
        it.set_input(np.clip(np.round(sample / s), -32768, 32767).astype(np.int16)[None], 0)
        it.invoke()
        got.append(it.get_output(0).astype(np.float32).ravel() * o)
    ref = np.asarray(model.predict(gestures[0][60:], verbose=0))
    assert np.max(np.abs(np.stack(got) - ref)) < 0.01, np.max(np.abs(np.stack(got) - ref))


def test_unread_split_part_of_the_gru_is_quantized_the_same_way_every_time(saved):
    """In the GRU's first step the zero state lets the converter fold the reset gate's only use away, leaving a SPLIT
    output nothing reads. The quantizer's result on such a graph varied from call to call (about half of the calls
    left the SPLIT float between DEQUANTIZE and QUANTIZE); edgeq exposes the tensor as a graph output while
    quantizing and drops it afterwards: every call gives the same fully int8 model, with the model's own outputs."""
    import hashlib

    from edgeq.convert import calibrate as cal
    from edgeq.convert.data import fit_samples
    from edgeq.convert.load import load_model

    d, paths = saved
    src = load_model(str(paths["gru"]))
    samples = fit_samples(np.load(d / "calib.npy"), src.fixed_input_shapes[0], where="calib", what="calibration")
    mt = cal.model_t(cal.calibrate_only(src.concrete_function(), samples, trackable=src.trackable))
    tensors = cal.activation_tensors(mt, only_with_ranges=True)
    cal.clear_ranges(mt)
    float_model = cal.pack(mt)
    cal.set_ranges(mt, cal.collect_ranges(float_model, tensors, samples, progress=False))
    dead = cal.dead_outputs(mt)
    assert [cal._name(mt.subgraphs[0].tensors[t]) for t in dead] == ["gru_cell_1/split_11"]  # step 1, reset gate
    edited = cal.pack(mt)
    exposed, n = cal.expose_dead_outputs(edited)
    assert n == 1 and len(cal.model_t(exposed).subgraphs[0].outputs) == 2
    for io in ("int8", "float32"):
        outs = [cal.mlir_quantize(edited, io=io) for _ in range(6)]
        assert len({hashlib.sha256(o).digest() for o in outs}) == 1, f"{io}: the quantizer's result varies"
        graph = verify.require_full_int8(outs[0], io=io)
        assert graph.op_counts().get("DEQUANTIZE", 0) == (0 if io == "int8" else 1)  # float I/O: the output's only
        mq = cal.model_t(outs[0])
        sg = mq.subgraphs[0]
        assert len(sg.outputs) == 1
        signature = [(e.name, int(e.tensorIndex)) for e in mq.signatureDefs[0].outputs]
        assert signature == [(b"output_0", int(sg.outputs[0]))]
        referenced = {int(t) for op in sg.operators for t in list(op.inputs) + list(op.outputs) if t >= 0}
        assert referenced | {int(t) for t in sg.inputs} == set(range(len(sg.tensors)))  # nothing left dangling


@pytest.mark.parametrize("kind", ["lstm_seq", "bilstm"])
def test_python_api_sequences_and_bidirectional(kind, gestures):
    from edgeq.convert import quantize

    model = _model(kind)
    r = quantize(model, "int8", data=gestures[0][:60], progress=False)
    graph = parse_model(r.tflite)
    n_lstm = sum(op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM" for op in graph.operators)
    assert n_lstm == (2 if kind == "bilstm" else 1)
    _check_int8_close(r.tflite, model, gestures[0][60:])


def test_converter_crash_is_one_line_naming_the_layer_and_writes_nothing(saved, tmp_path):
    d, paths = saved
    proc = run_cli("quantize", str(paths["lstm"]), "--data", str(d / "calib.npy"), "-o", "out.tflite",
                   cwd=tmp_path, env={"EDGEQ_CONVERT_CRASH_AT": "converting"})
    assert_user_error(proc, "converter crashed", "SIGSEGV", "'lstm' (LSTM)")
    assert not (tmp_path / "out.tflite").exists()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_ptq_recurrent_models_compile_bit_exact_with_tflm(saved, gestures, tmp_path, kind):
    """edgeq compile runs what edgeq quantize made of an LSTM / GRU, output for output identical to TFLM."""
    from compiler_util import assert_bit_exact, compile_and_build, random_inputs

    from edgeq.convert import quantize

    d, paths = saved
    r = quantize(paths[kind], "int8", data=d / "calib.npy", progress=False)
    model = tmp_path / f"{kind}.tflite"
    r.save(model)
    binary, _ = compile_and_build(model, tmp_path / "c", sanitize=False)
    inputs = random_inputs(model, 6, seed=1)
    s, z = parse_model(model.read_bytes()).input_tensors()[0].scale, \
        parse_model(model.read_bytes()).input_tensors()[0].zero_point
    inputs += [np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)[None] for x in gestures[0][60:66]]
    assert_bit_exact(model, binary, inputs)
