"""edgeq evaluate / edgeq.convert.evaluate: accuracy, agreement, output and per-layer SQNR, plot, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import assert_user_error, run_cli

pytestmark = pytest.mark.tf
pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")

from edgeq.convert.evaluation import evaluate, layer_label, match_layers, sqnr_db  # noqa: E402
from edgeq.errors import EdgeqError  # noqa: E402
from edgeq.tflite import parse_model  # noqa: E402


@pytest.fixture(scope="module")
def pair(tmp_path_factory, digits_cnn_path, digits):
    """(float32 .tflite path, int8 .tflite path) of the digits CNN."""
    from edgeq.convert import quantize

    d = tmp_path_factory.mktemp("eval")
    r = quantize(digits_cnn_path, "int8", data=digits.x_train[:200], progress=False)
    (d / "float.tflite").write_bytes(r.float_tflite)
    (d / "int8.tflite").write_bytes(r.tflite)
    return d / "float.tflite", d / "int8.tflite"


def test_sqnr():
    x = np.linspace(-1, 1, 1000)
    assert sqnr_db(x, x) == math.inf
    assert sqnr_db(x, x + 0.01 * x) == pytest.approx(40.0, abs=1e-6)


def test_float_vs_int8_report(pair, digits, digits_cnn_accuracy):
    ref, cand = pair
    rep = evaluate(ref, cand, digits.x_test, digits.y_test)
    assert rep.samples == len(digits.x_test)
    assert rep.reference.kind == "float32" and rep.candidate.kind == "int8"
    assert rep.reference.accuracy == pytest.approx(digits_cnn_accuracy, abs=0.01)
    assert rep.candidate.accuracy >= rep.reference.accuracy - 0.03
    assert rep.top1_agreement >= 0.95
    assert 20 < rep.output_sqnr_db < 80
    assert rep.size_ratio == pytest.approx(cand.stat().st_size / ref.stat().st_size, abs=1e-4)
    # every compute layer is matched by name, with a sensible SQNR, in execution order
    ops = [layer.op for layer in rep.layers]
    assert rep.matched_by == "name"
    assert ops.count("CONV_2D") == 2 and ops.count("FULLY_CONNECTED") == 2, ops
    assert all(15 < layer.sqnr_db < 80 for layer in rep.layers), [(x.op, x.sqnr_db) for x in rep.layers]
    assert rep.layers[-1].sqnr_db == pytest.approx(rep.output_sqnr_db, abs=0.5)  # the last layer is the output
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["accuracy_drop"] == pytest.approx(rep.reference.accuracy - rep.candidate.accuracy)
    md = rep.markdown()
    assert "| top-1 agreement |" in md and "Per-layer SQNR" in md
    # rows are labelled by the op scopes, not TFLite's fused names ("functional_1/conv2d_1/Relu;functional_1/...")
    assert all(";" not in row["layer"] and "/" not in row["layer"] for row in d["layers"]), d["layers"]
    assert ";" not in md.split("Per-layer SQNR")[1]


def test_layer_label_maps_fused_tensor_names_to_keras_layers():
    names = ["input_layer", "conv_a", "bn_a", "relu_a", "conv2d", "conv2d_1", "flatten", "dense"]
    fused = "functional_1/relu_a_1/Relu;functional_1/conv_a_1/convolution"
    assert layer_label(fused, names) == "conv_a+relu_a"  # model order, the BN folded into the conv has no op
    # Keras 3 traces layer 'conv2d' in scope 'conv2d_1' and layer 'conv2d_1' in 'conv2d_1_1'
    assert layer_label("functional_1/conv2d_1/Relu;functional_1/conv2d_1/convolution", names) == "conv2d"
    assert layer_label("functional_1/conv2d_1_1/BiasAdd", names) == "conv2d_1"
    assert layer_label("functional_1/flatten_1/Reshape", names) == "flatten"
    # without the model (or no layer scope in the name): the scopes holding the ops, else the name itself
    assert layer_label(fused) == "relu_a_1+conv_a_1"
    assert layer_label("gru_cell_3/MatMul", names) == "gru_cell_3"
    assert layer_label("Identity", names) == "Identity"


def test_identical_models(pair, digits):
    ref, _ = pair
    rep = evaluate(ref, ref, digits.x_test[:20])
    assert rep.top1_agreement == 1.0 and rep.output_sqnr_db == math.inf
    d = rep.to_dict()
    assert d["output_sqnr_db"] is None and d["reference"]["accuracy"] is None  # no labels, no accuracy
    json.dumps(d, allow_nan=False)


def test_cli_evaluate_markdown_json_and_plot(tmp_path, pair, digits_test_npy):
    ref, cand = pair
    x, y = digits_test_npy
    png = tmp_path / "sqnr.png"
    p = run_cli("evaluate", ref, cand, "--data", x, "--labels", y, "--plot", png)
    assert p.returncode == 0, p.stderr
    assert "| accuracy |" in p.stdout and "| output SQNR (dB) |" in p.stdout and "CONV_2D" in p.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = run_cli("evaluate", ref, cand, "--data", x, "--labels", y, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    for key in ("reference", "candidate", "top1_agreement", "output_sqnr_db", "layers"):
        assert key in d
    assert d["candidate"]["accuracy"] is not None and d["reference"]["size"] == ref.stat().st_size


@pytest.mark.parametrize("case,needles", [
    ("missing", ["no such file"]),
    ("garbage", ["not a .tflite"]),
    ("wrong_shape", ["(N, 8, 8, 1)"]),
    ("labels_count", ["labels for"]),
    ("no_data", ["not found"]),
])
def test_cli_evaluate_bad_input(tmp_path, pair, digits, case, needles):
    ref, cand = pair
    x = tmp_path / "x.npy"
    np.save(x, digits.x_test[:10])
    y = tmp_path / "y.npy"
    np.save(y, digits.y_test[:10])
    args = [ref, cand, "--data", x, "--labels", y]
    if case == "missing":
        args[1] = tmp_path / "nope.tflite"
    elif case == "garbage":
        (tmp_path / "g.tflite").write_bytes(b"hello world, not a flatbuffer at all")
        args[1] = tmp_path / "g.tflite"
    elif case == "wrong_shape":
        np.save(x, digits.x_test[:10, :5])
    elif case == "labels_count":
        np.save(y, digits.y_test[:7])
    elif case == "no_data":
        args[3] = tmp_path / "absent.npy"
    png = tmp_path / "p.png"
    p = run_cli("evaluate", *args, "--plot", png)
    assert_user_error(p, *needles)
    assert not png.exists()


def test_per_layer_matching_across_independent_conversions(shared_models):
    """Published MLPerf VWW float vs int8: names differ between the two files' converter runs, the op sequence
    does not, so layers are matched (by name or by op order) and all 31 compute ops get an SQNR."""
    ref = parse_model((shared_models / "vww_96_float.tflite").read_bytes())
    cand = parse_model((shared_models / "vww_96_int8.tflite").read_bytes())
    pairs, how = match_layers(ref, cand)
    assert len(pairs) == 31, how
    x = np.random.default_rng(0).uniform(0, 1, (2, 96, 96, 3)).astype(np.float32)
    rep = evaluate(shared_models / "vww_96_float.tflite", shared_models / "vww_96_int8.tflite", x)
    assert len(rep.layers) == 31 and rep.layers[0].sqnr_db > 10


def test_mismatched_models_are_refused(pair, shared_models, digits):
    ref, _ = pair
    with pytest.raises(EdgeqError, match="different input shapes"):
        evaluate(ref, shared_models / "vww_96_int8.tflite", digits.x_test[:2])
