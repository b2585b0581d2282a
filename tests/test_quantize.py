"""edgeq quantize / edgeq.convert: every mode, int8 checks, calibration methods really used, bad input, MLPerf."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from conftest import assert_user_error, run_cli

pytestmark = pytest.mark.tf
pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")

from edgeq.convert import verify  # noqa: E402
from edgeq.convert.data import fit_samples, load_samples  # noqa: E402
from edgeq.convert.runner import run_float  # noqa: E402
from edgeq.errors import EdgeqError, ModelError  # noqa: E402
from edgeq.tflite import parse_model  # noqa: E402
from edgeq.tflite.check import model_kind  # noqa: E402

CALIBRATIONS = ("minmax", "percentile", "mse", "entropy")


@pytest.fixture(scope="module")
def results(digits_cnn_path, digits):
    """One conversion per mode, and int8 once per calibration method (the slow part, shared by the tests)."""
    from edgeq.convert import quantize

    calib = digits.x_train[:200]
    out = {m: quantize(digits_cnn_path, m) for m in ("float32", "float16", "dynamic")}
    for c in CALIBRATIONS:
        out[f"int8-{c}"] = quantize(digits_cnn_path, "int8", data=calib, calibration=c, progress=False)
    return out


@pytest.mark.parametrize("mode,kind", [("float32", "float32"), ("float16", "float16"),
                                       ("dynamic", "dynamic-range"), ("int8-minmax", "int8")])
def test_every_mode_gives_a_valid_model_of_the_right_kind(results, digits, mode, kind):
    r = results[mode]
    graph = parse_model(r.tflite)
    assert model_kind(graph) == kind
    assert r.summary["kind"] == kind
    assert r.summary["size_after"] == len(r.tflite)
    assert r.summary["ratio"] == pytest.approx(len(r.tflite) / r.summary["size_before"], abs=1e-4)
    assert graph.input_tensors()[0].shape == (1, 8, 8, 1)  # batch fixed to 1
    assert "SHAPE" not in graph.ops_used and "STRIDED_SLICE" not in graph.ops_used
    # it runs and classifies digits
    pred = run_float(r.tflite, digits.x_test[:100]).argmax(1)
    assert np.mean(pred == digits.y_test[:100]) > 0.8


def test_sizes_shrink_in_the_expected_order(results):
    size = {m: len(r.tflite) for m, r in results.items()}
    assert size["int8-minmax"] < size["float16"] < size["float32"]
    assert size["dynamic"] < size["float16"]


def test_int8_is_fully_int8_with_int8_io_batch_1_and_per_channel_weights(results):
    r = results["int8-minmax"]
    graph = verify.require_full_int8(r.tflite, source="int8", io="int8")
    verify.require_batch_one(graph)
    assert [t.dtype for t in graph.input_tensors() + graph.output_tensors()] == ["int8", "int8"]
    assert verify.float_tensors(graph) == []
    for op in graph.operators:
        if op.opcode in ("CONV_2D", "FULLY_CONNECTED"):
            w = graph.tensors[op.inputs[1]]
            assert w.dtype == "int8" and w.quant.per_channel, (op.opcode, w.quant)
    assert r.summary["io"] == "int8" and r.summary["samples"] == 200


def test_per_tensor_dense_and_float_io(digits_cnn_path, digits):
    from edgeq.convert import quantize

    r = quantize(digits_cnn_path, "int8", data=digits.x_train[:50], io="float32", per_tensor_dense=True,
                 progress=False)
    graph = parse_model(r.tflite)
    assert model_kind(graph) == "int8 (float I/O)"
    verify.require_full_int8(graph, io="float32")
    with pytest.raises(ModelError, match="expected int8 I/O|is float32"):
        verify.require_full_int8(graph, io="int8")
    for op in graph.operators:
        if op.opcode == "FULLY_CONNECTED":
            assert not graph.tensors[op.inputs[1]].quant.per_channel
        if op.opcode == "CONV_2D":
            assert graph.tensors[op.inputs[1]].quant.per_channel


def _act_scales(tflite: bytes) -> dict[str, float]:
    g = parse_model(tflite)
    return {g.tensors[t].name: g.tensors[t].scale for op in g.operators
            if op.opcode in ("CONV_2D", "FULLY_CONNECTED") for t in op.outputs}


@pytest.mark.parametrize("method", CALIBRATIONS[1:])
def test_each_calibration_method_changes_the_ranges(results, method):
    base, other = _act_scales(results["int8-minmax"].tflite), _act_scales(results[f"int8-{method}"].tflite)
    assert base.keys() == other.keys()
    changed = [n for n in base if not np.isclose(base[n], other[n], rtol=1e-4)]
    assert changed, f"{method} gave the same activation scales as minmax"
    # clipping methods never widen a range beyond min/max
    assert all(other[n] <= base[n] * (1 + 1e-5) for n in base)


@pytest.mark.parametrize("method", CALIBRATIONS)
def test_the_converter_uses_exactly_the_observer_ranges(results, digits, method):
    """Independently of edgeq's pipeline: run the float model, feed an observer, compare with the int8 scale."""
    from edgeq.convert.calibrate import make_calibration_observer
    from edgeq.convert.runner import make_interpreter
    from edgeq.quant.affine import choose_qparams

    r = results[f"int8-{method}"]
    assert r.summary["ranges_checked"] >= 3 and r.summary["ranges_matched"] == r.summary["ranges_checked"]
    fgraph = parse_model(r.float_tflite)
    conv = next(op for op in fgraph.operators if op.opcode == "CONV_2D")
    t = conv.outputs[0]
    name = fgraph.tensors[t].name
    it = make_interpreter(r.float_tflite, preserve_all=True)
    inp = it.get_input_details()[0]["index"]
    values = []
    for x in digits.x_train[:200]:
        it.set_tensor(inp, x[None])
        it.invoke()
        values.append(np.array(it.get_tensor(t)))
    obs = make_calibration_observer(method)  # edgeq.quant.observers (entropy: without the exact zeros)
    for i in range(0, len(values), 32):  # the same chunks edgeq uses
        obs.update(np.concatenate(values[i:i + 32]))
    lo, hi = obs.range()
    expected = choose_qparams(lo, hi, "int8")
    qgraph = parse_model(r.tflite)
    qt = next(x for x in qgraph.tensors if x.name == name)
    assert qt.dtype == "int8"
    assert qt.scale == pytest.approx(float(expected.scale), rel=1e-6)
    assert qt.zero_point == int(expected.zero_point)


def test_int8_accuracy_close_to_float(results, digits, digits_cnn_accuracy):
    acc = {}
    for m in ("float32",) + tuple(f"int8-{c}" for c in CALIBRATIONS):
        acc[m] = float(np.mean(run_float(results[m].tflite, digits.x_test).argmax(1) == digits.y_test))
    assert acc["float32"] == pytest.approx(digits_cnn_accuracy, abs=0.01)
    assert acc["int8-minmax"] >= acc["float32"] - 0.03, acc


def test_float_tflite_to_int8(tmp_path, results, digits):
    from edgeq.convert import quantize

    src = tmp_path / "float.tflite"
    src.write_bytes(results["float32"].tflite)
    r = quantize(src, "int8", data=digits.x_train[:100], calibration="percentile", progress=False)
    graph = verify.require_full_int8(r.tflite, io="int8")
    assert r.summary["format"] == "tflite" and r.summary["size_before"] == len(results["float32"].tflite)
    assert r.summary["ranges_matched"] >= 3
    pred = run_float(r.tflite, digits.x_test).argmax(1)
    assert np.mean(pred == digits.y_test) > 0.85
    assert graph.input_tensors()[0].shape == (1, 8, 8, 1)
    with pytest.raises(EdgeqError, match="needs the Keras model"):
        quantize(src, "float16")
    int8 = tmp_path / "int8.tflite"
    int8.write_bytes(r.tflite)
    with pytest.raises(EdgeqError, match="already int8"):
        quantize(int8, "int8", data=digits.x_train[:10])


def test_keras_h5_and_savedmodel_inputs(tmp_path, digits_cnn_path, digits):
    import keras

    from edgeq.convert import quantize

    m = keras.models.load_model(digits_cnn_path)
    m.save(tmp_path / "m.h5")
    m.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    ref = quantize(m, "float32").tflite  # an in-memory keras.Model works too
    for src in (tmp_path / "m.h5", tmp_path / "sm"):
        r = quantize(src, "float32")
        assert model_kind(parse_model(r.tflite)) == "float32"
        np.testing.assert_allclose(run_float(r.tflite, digits.x_test[:20]), run_float(ref, digits.x_test[:20]), atol=1e-4)
    r = quantize(tmp_path / "sm", "int8", data=digits.x_train[:50], calibration="mse", progress=False)
    verify.require_full_int8(r.tflite)


# --------------------------------------------------------------------------------------------------------------------
# verify.py on real models


def test_require_full_int8_names_the_float_tensor_and_its_op(results, shared_models):
    with pytest.raises(ModelError) as e:
        verify.require_full_int8(results["float32"].tflite, source="f.tflite")
    msg = str(e.value)
    assert "f.tflite" in msg and "float32" in msg and "not fully int8" in msg
    dyn = parse_model(results["dynamic"].tflite)
    with pytest.raises(ModelError, match=r"'input_0' is float32 \(a graph input\) \(and \d+ more\)"):
        verify.require_full_int8(dyn, source="d.tflite")
    bad = verify.float_tensors(dyn)
    conv_out = next((t, op) for t, op in bad if op is not None and op.opcode == "CONV_2D")
    assert "produced by operator" in verify.describe(*conv_out) and "(CONV_2D)" in verify.describe(*conv_out)
    g = parse_model((shared_models / "kws_ref_model_float32.tflite").read_bytes())
    bad = verify.float_tensors(g)
    assert bad and all(t.dtype == "float32" for t, _ in bad)
    for name in ("kws_ref_model.tflite", "vww_96_int8.tflite", "ad01_int8.tflite"):
        verify.require_full_int8((shared_models / name).read_bytes(), source=name)
    toy = (shared_models / "model_ToyCar_quant_fullint.tflite").read_bytes()
    verify.require_full_int8(toy, io="float32")
    with pytest.raises(ModelError):
        verify.require_full_int8(toy, io="int8")


# --------------------------------------------------------------------------------------------------------------------
# data loading


def test_calibration_data_shapes(tmp_path, digits):
    x = digits.x_train[:5]
    assert fit_samples(x, (1, 8, 8, 1)).shape == (5, 8, 8, 1)
    assert fit_samples(x[:, None], (1, 8, 8, 1)).shape == (5, 8, 8, 1)  # each sample with its batch dim
    assert fit_samples(x[0], (None, 8, 8, 1)).shape == (1, 8, 8, 1)  # a single sample
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(5))
    np.savez(tmp_path / "b.npz", whatever=x)
    np.savez(tmp_path / "c.npz", p=x, q=x)
    assert load_samples(tmp_path / "a.npz", (1, 8, 8, 1)).shape == (5, 8, 8, 1)
    assert load_samples(tmp_path / "b.npz", (1, 8, 8, 1)).shape == (5, 8, 8, 1)
    with pytest.raises(EdgeqError, match="none is named 'x'"):
        load_samples(tmp_path / "c.npz", (1, 8, 8, 1))
    with pytest.raises(EdgeqError, match=r"expected \(N, 8, 8, 1\)"):
        fit_samples(x[:, :7], (1, 8, 8, 1))
    with pytest.raises(EdgeqError, match="NaN"):
        fit_samples(np.full((2, 8, 8, 1), np.nan), (1, 8, 8, 1))


# --------------------------------------------------------------------------------------------------------------------
# the command line


def test_cli_quantize_json_and_text(tmp_path, digits_cnn_path, digits_calib_npy):
    out = tmp_path / "q.tflite"
    p = run_cli("quantize", digits_cnn_path, "--mode", "int8", "--data", digits_calib_npy, "--calibration",
                "entropy", "-o", out, "--json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    for key in ("mode", "calibration", "size_before", "size_after", "ratio", "kind", "output"):
        assert key in s
    assert s["mode"] == "int8" and s["calibration"] == "entropy" and s["kind"] == "int8"
    assert s["size_after"] == out.stat().st_size
    verify.require_full_int8(out.read_bytes())
    out2 = tmp_path / "d.tflite"
    p = run_cli("quantize", digits_cnn_path, "--mode", "dynamic", "-o", out2)
    assert p.returncode == 0, p.stderr
    assert "size before" in p.stdout and "ratio" in p.stdout and "dynamic" in p.stdout
    assert model_kind(parse_model(out2.read_bytes())) == "dynamic-range"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, digits_cnn_path, results, digits):
    d = tmp_path_factory.mktemp("bad")
    good = digits_cnn_path.read_bytes()
    (d / "empty.keras").write_bytes(b"")
    (d / "random.keras").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (d / "truncated.keras").write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    with zipfile.ZipFile(digits_cnn_path) as z:  # flip a byte inside the weights member's data
        info = z.getinfo("model.weights.h5")
    flipped[info.header_offset + 30 + len(info.filename) + 64] ^= 0xFF
    (d / "flipped.keras").write_bytes(bytes(flipped))
    (d / "notes.txt").write_text("this is not a model\n")
    with zipfile.ZipFile(d / "other.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    ftl = results["float32"].tflite
    (d / "truncated.tflite").write_bytes(ftl[: len(ftl) // 2])
    fl = bytearray(ftl)
    fl[0:4] = (len(ftl) + 1000).to_bytes(4, "little")  # root table offset past the end
    (d / "flipped.tflite").write_bytes(bytes(fl))
    np.save(d / "wrong_shape.npy", digits.x_train[:20, :6, :6])
    np.save(d / "calib.npy", digits.x_train[:20])
    import keras

    a, b = keras.Input((8, 8, 1), name="a"), keras.Input((4,), name="b")
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(a), b])
    keras.Model([a, b], keras.layers.Dense(3)(joined)).save(d / "two_inputs.keras")
    return d


@pytest.mark.parametrize("model,extra,needles", [
    ("missing.keras", ["--data", "calib.npy"], ["missing.keras", "no such file"]),
    ("empty.keras", ["--data", "calib.npy"], ["empty.keras", "empty"]),
    ("random.keras", ["--data", "calib.npy"], ["random.keras", "not a keras"]),
    ("truncated.keras", ["--data", "calib.npy"], ["truncated.keras"]),
    ("flipped.keras", ["--data", "calib.npy"], ["flipped.keras", "damaged"]),
    ("truncated.tflite", ["--data", "calib.npy"], ["truncated.tflite", "truncated"]),
    ("flipped.tflite", ["--data", "calib.npy"], ["flipped.tflite", "corrupt"]),
    ("notes.txt", ["--data", "calib.npy"], ["notes.txt", "not a keras"]),
    ("other.zip", ["--data", "calib.npy"], ["other.zip", "not a keras model"]),
    ("GOOD", [], ["calibration data"]),
    ("two_inputs.keras", ["--data", "calib.npy"], ["two_inputs.keras", "single-input", "2 inputs",
                                                   "representative_dataset"]),
    ("GOOD", ["--data", "notes.txt"], ["notes.txt", "not a .npy"]),
    ("GOOD", ["--data", "missing.npy"], ["missing.npy", "not found"]),
    ("GOOD", ["--data", "wrong_shape.npy"], ["wrong_shape.npy", "(20, 6, 6, 1)", "(N, 8, 8, 1)"]),
])
def test_bad_input_one_line_exit_2_no_output(bad_files, digits_cnn_path, model, extra, needles):
    out = bad_files / "out.tflite"
    src = digits_cnn_path if model == "GOOD" else model
    p = run_cli("quantize", src, "--mode", "int8", *extra, "-o", out, cwd=bad_files)
    assert_user_error(p, *needles)
    assert not out.exists()
    assert not list(bad_files.glob(".out.tflite*"))  # no temporary left behind


def test_bad_output_folder(bad_files, digits_cnn_path):
    p = run_cli("quantize", digits_cnn_path, "--mode", "float32", "-o", bad_files / "nope" / "x.tflite")
    assert_user_error(p, "output folder does not exist")


# --------------------------------------------------------------------------------------------------------------------
# MLPerf Tiny: quantize the float AD model with its real sample windows, compare with the published int8 model


def test_mlperf_ad01_float_to_int8_matches_published(shared_models):
    from edgeq.convert import quantize
    from edgeq.convert.evaluation import evaluate

    raw = np.fromfile(shared_models / "ad01_sample_normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
    frames = raw.reshape(200, 128)
    windows = np.stack([frames[i:i + 5].ravel() for i in range(196)]).astype(np.float32)
    # the published MLPerf models use per-tensor FC weights (per-channel costs 24 bytes of scale + zero point per
    # output channel: +40 KB here)
    r = quantize(shared_models / "ad01_fp32.tflite", "int8", data=windows, per_tensor_dense=True, progress=False)
    graph = verify.require_full_int8(r.tflite, io="int8")
    assert graph.op_counts() == {"FULLY_CONNECTED": 10}
    published = (shared_models / "ad01_int8.tflite").read_bytes()
    assert abs(len(r.tflite) - len(published)) / len(published) < 0.02
    ours = evaluate(shared_models / "ad01_fp32.tflite", r.tflite, windows, per_layer=False)
    theirs = evaluate(shared_models / "ad01_fp32.tflite", published, windows, per_layer=False)
    # calibrated on the same windows, ours reconstructs the float output at least about as well as the published one
    assert ours.output_sqnr_db > 15
    assert ours.output_sqnr_db >= theirs.output_sqnr_db - 3
