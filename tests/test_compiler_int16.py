"""int16x8 convolutions and FC (int16 activations, int8 weights, int64 bias; what ``edgeq quantize --mode int16x8``
and the TF converter's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 write): single-op models with
hypothesis-generated shapes compiled for host (ASan/UBSan) and compared with the TFLM interpreter byte for byte; a
Keras model through the CLI (quantize --mode int16x8, compile --build) against TFLM; the refusal of an op that is
still int8-only in edgeq.

With --backend cmsis-nn on the host: which layers run on CMSIS-NN's int16 kernels (where edgeq proves them
bit-exact) and that the result is bit-exact either way. The qemu-m4 run (CMSIS-NN's DSP paths) is in
tests/test_firmware_cmsis_nn.py.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given

from compiler_util import SANITIZE, assert_bit_exact, compile_and_build, random_inputs, single_op_model  # noqa: F401
from compiler_util import run_host, tflm_run, tflm_runtime
from conftest import assert_user_error, run_cli
from test_compiler_ops import _settings, conv_specs, dense_specs, dw_specs

pytestmark = pytest.mark.tf

N_INPUTS = 6
_counter = itertools.count()


def int16x8(strategy):
    """The int8 op strategy of test_compiler_ops, converted as int16x8."""
    return strategy.map(lambda spec: {**spec, "int16x8": True})


@pytest.fixture(scope="session")
def check_int16(single_op_model, tmp_path_factory):
    """Build the spec's int16x8 model, compile it (portable, host, sanitizers), compare with TFLM."""
    root = tmp_path_factory.mktemp("int16")
    tflm_runtime()

    def check(spec: dict, op: str):
        from edgeq.tflite import read_model

        path = single_op_model(spec)
        g = read_model(path)
        layer = next(o for o in g.operators if o.opcode == op)
        data = layer.inputs[2 if op == "TRANSPOSE_CONV" else 0]
        assert g.tensors[data].dtype == "int16" and g.tensors[layer.outputs[0]].dtype == "int16"
        binary, res = compile_and_build(path, root / f"m{next(_counter)}")
        kernels = {row["kernel"] for row in res.layers if row["op"] == op}
        assert kernels and all(k.endswith("_s16") for k in kernels), kernels
        assert_bit_exact(path, binary, random_inputs(path, N_INPUTS, seed=len(str(spec))))
        return path, res

    return check


@_settings(5)
@given(spec=int16x8(conv_specs()))
def test_conv2d_int16(check_int16, spec):
    check_int16(spec, "CONV_2D")


@_settings(5)
@given(spec=int16x8(dw_specs()))
def test_depthwise_conv2d_int16(check_int16, spec):
    check_int16(spec, "DEPTHWISE_CONV_2D")


@_settings(4)
@given(spec=int16x8(dense_specs()))
def test_fully_connected_int16(check_int16, spec):
    check_int16(spec, "FULLY_CONNECTED")


#: edges the strategies rarely reach: a grouped convolution, a filter of 3*3*59 = 531 taps (past CMSIS-NN's
#: MAX_COL_COUNT of 512, not a multiple of 4) with an odd channel count, int32 bias (the converter's experimental
#: bias type; CONV_2D and FULLY_CONNECTED), a 1x1 convolution, TRANSPOSE_CONV (SAME stride 2 with bias, VALID
#: stride 3x2 without), a depthwise with multiplier 4 and dilation
EDGES = {
    "grouped": ({"op": "conv", "inputs": [[6, 5, 8]], "filters": 6, "kernel": [3, 3], "strides": [1, 1],
                 "dilation": [1, 1], "padding": "same", "act": None, "bias": True, "range": 2.0, "seed": 1,
                 "groups": 2}, "CONV_2D"),
    "531-taps": ({"op": "conv", "inputs": [[5, 4, 59]], "filters": 5, "kernel": [3, 3], "strides": [1, 1],
                  "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 4.0, "seed": 2,
                  "w_std": 0.05}, "CONV_2D"),
    "int32-bias": ({"op": "conv", "inputs": [[6, 5, 4]], "filters": 7, "kernel": [3, 2], "strides": [2, 1],
                    "dilation": [1, 1], "padding": "valid", "act": "relu6", "bias": True, "range": 2.0, "seed": 3,
                    "bias_int32": True}, "CONV_2D"),
    "fc-int32-bias": ({"op": "dense", "inputs": [[3, 21]], "units": 7, "act": "relu", "bias": True, "range": 2.0,
                       "seed": 9, "bias_int32": True}, "FULLY_CONNECTED"),
    "1x1": ({"op": "conv", "inputs": [[3, 4, 37]], "filters": 9, "kernel": [1, 1], "strides": [1, 1],
             "dilation": [1, 1], "padding": "valid", "act": None, "bias": False, "range": 0.5, "seed": 4},
            "CONV_2D"),
    "tconv-s2-same": ({"op": "transpose_conv", "inputs": [[4, 5, 3]], "filters": 5, "kernel": [3, 3],
                       "strides": [2, 2], "padding": "same", "bias": True, "act": "relu", "seed": 7},
                      "TRANSPOSE_CONV"),
    "tconv-s3-valid": ({"op": "transpose_conv", "inputs": [[3, 4, 6]], "filters": 4, "kernel": [2, 4],
                        "strides": [3, 2], "padding": "valid", "bias": False, "seed": 8}, "TRANSPOSE_CONV"),
    "dw-mult4-dilated": ({"op": "dw", "inputs": [[9, 7, 3]], "mult": 4, "kernel": [3, 3], "strides": [1, 1],
                          "dilation": [2, 2], "padding": "same", "act": None, "bias": True, "range": 8.0,
                          "seed": 5}, "DEPTHWISE_CONV_2D"),
}


@pytest.mark.parametrize("name", list(EDGES))
def test_int16_edges(check_int16, name):
    spec, op = EDGES[name]
    path, _ = check_int16({**spec, "int16x8": True}, op)
    if name.endswith("int32-bias"):  # the int32 accumulator and MultiplyByQuantizedMultiplier of TFLM's int32 path
        from edgeq.tflite import read_model

        g = read_model(path)
        assert g.tensors[next(o for o in g.operators if o.opcode == op).inputs[2]].dtype == "int32"


# ---- --backend cmsis-nn on the host (CMSIS-NN's scalar C paths) ------------------------------------------------

#: CMSIS-NN's sources shift negative values (defined on every compiler it supports): tests/test_compiler_cmsis_nn.py
CMSIS_SANITIZE = SANITIZE + " -fno-sanitize=shift,signed-integer-overflow"


@pytest.fixture(scope="session")
def check_int16_cmsis(single_op_model, cmsis_nn_dir, tmp_path_factory):
    """Compile the spec's int16x8 model with --backend cmsis-nn for host, compare with TFLM; returns op -> kernel."""
    from edgeq.compiler import build_host, compile_model

    root = tmp_path_factory.mktemp("int16-cmsis")
    tflm_runtime()

    def check(spec: dict) -> dict[str, str]:
        path = single_op_model({**spec, "int16x8": True})
        out = root / f"m{next(_counter)}"
        res = compile_model(path, target="host", backend="cmsis-nn", out_dir=out, cmsis_nn_dir=cmsis_nn_dir)
        binary = build_host(out, extra_cflags=CMSIS_SANITIZE)
        assert_bit_exact(path, binary, random_inputs(path, N_INPUTS, seed=len(str(spec))))
        return {row["op"]: row["kernel"] for row in res.layers}

    return check


@_settings(3)
@given(spec=conv_specs())
def test_conv2d_int16_cmsis(check_int16_cmsis, spec):
    check_int16_cmsis(spec)


@_settings(3)
@given(spec=dw_specs())
def test_depthwise_conv2d_int16_cmsis(check_int16_cmsis, spec):
    check_int16_cmsis(spec)


@_settings(2)
@given(spec=dense_specs())
def test_fully_connected_int16_cmsis(check_int16_cmsis, spec):
    check_int16_cmsis(spec)


#: which int16 layers run on CMSIS-NN (edgeq/compiler/cmsis_calls.py) and which keep edgeq's kernel
CMSIS_MAPPING = {
    "grouped": ("CONV_2D", "edgeq_convolve_wrapper_s16"),  # arm_convolve_s16 has no groups
    "531-taps": ("CONV_2D", "arm_convolve_wrapper_s16"),  # > 512 columns: fine on the scalar path (not on DSP)
    "int32-bias": ("CONV_2D", "arm_convolve_wrapper_s16"),
    "1x1": ("CONV_2D", "arm_convolve_wrapper_s16"),
    "dw-mult4-dilated": ("DEPTHWISE_CONV_2D", "arm_depthwise_conv_wrapper_s16"),
    "tconv-s2-same": ("TRANSPOSE_CONV", "edgeq_transpose_conv_s16"),  # CMSIS-NN has no int16 TRANSPOSE_CONV
}


@pytest.mark.parametrize("name", list(CMSIS_MAPPING))
def test_int16_cmsis_mapping(check_int16_cmsis, name):
    op, kernel = CMSIS_MAPPING[name]
    assert check_int16_cmsis(EDGES[name][0])[op] == kernel


@pytest.mark.parametrize("per_tensor", [True, False])
def test_int16_chain_cmsis(check_int16_cmsis, per_tensor):
    """Conv, 3x3 depthwise (CMSIS-NN's fast path), Conv and FC: per-tensor FC on arm_fully_connected_s16,
    per-channel FC on edgeq's kernel (CMSIS-NN has no per-channel int16 FC)."""
    kernels = check_int16_cmsis({"op": "conv_dw_dense", "inputs": [[9, 8, 3]], "range": 2.0, "seed": 6,
                                 "per_tensor_dense": per_tensor})
    assert kernels["CONV_2D"] == "arm_convolve_wrapper_s16"
    assert kernels["DEPTHWISE_CONV_2D"] == "arm_depthwise_conv_wrapper_s16"
    assert kernels["FULLY_CONNECTED"] == ("arm_fully_connected_s16" if per_tensor
                                          else "edgeq_fully_connected_per_channel_s16")


# ---- the CLI, end to end ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_int16_model(tmp_path_factory):
    """A small Keras CNN (Conv, DepthwiseConv, Conv, Dense) and calibration data, saved in a folder."""
    keras = pytest.importorskip("keras")
    d = tmp_path_factory.mktemp("int16-cli")
    init = keras.initializers.RandomNormal(stddev=0.3, seed=0)
    x = keras.Input((10, 9, 2))
    y = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init)(x)
    y = keras.layers.DepthwiseConv2D(3, strides=2, padding="valid", depthwise_initializer=init)(y)
    y = keras.layers.Conv2D(4, 4, kernel_initializer=init)(y)  # [1, 1, 1, 4]: the FC needs no RESHAPE
    y = keras.layers.Dense(5, kernel_initializer=init, bias_initializer=init)(y)
    keras.Model(x, y).save(d / "cnn.keras")
    np.save(d / "calib.npy", np.random.default_rng(0).uniform(-1, 1, (32, 10, 9, 2)).astype(np.float32))
    return d


def test_cli_int16x8_model_compiles_bit_exact(keras_int16_model):
    """edgeq quantize --mode int16x8, then edgeq compile --build, from the folder with relative paths: the host
    program's outputs are byte-identical with TFLM's on several inputs."""
    d = keras_int16_model
    tflm_runtime()
    q = run_cli("quantize", "cnn.keras", "--mode", "int16x8", "--data", "calib.npy", "--io", "int16", "-o",
                "cnn16.tflite", cwd=d)
    assert q.returncode == 0, q.stderr
    i = run_cli("inspect", "cnn16.tflite", "--json", cwd=d)
    assert i.returncode == 0, i.stderr
    mcu = json.loads(i.stdout)["mcu"]
    assert mcu["verdict"] == "edgeq" and mcu["runtimes"]["edgeq"]["backends"] == ["portable", "cmsis-nn"], mcu
    c = run_cli("compile", "cnn16.tflite", "--target", "host", "--build", "-o", "c16", "--json", cwd=d)
    assert c.returncode == 0, c.stderr
    from edgeq.tflite import read_model

    g = read_model(d / "cnn16.tflite")
    ops = {op.opcode for op in g.operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= ops, ops
    assert g.input_tensors()[0].dtype == "int16" and g.output_tensors()[0].dtype == "int16"
    model_c = (d / "c16" / "model.c").read_text()
    for kernel in ("edgeq_convolve_wrapper_s16", "edgeq_depthwise_conv_wrapper_s16", "edgeq_fully_connected"):
        assert kernel in model_c
    inputs = random_inputs(d / "cnn16.tflite", 8, seed=3)
    ref = tflm_run(d / "cnn16.tflite", inputs)
    got = run_host(d / "c16" / "model_host", inputs, np.int16)
    assert [r.tobytes() for r in ref] == [x.tobytes() for x in got]
    assert len({r.tobytes() for r in ref}) > 1  # the inputs reach the output


def test_int16_op_without_int16_kernel_is_refused(single_op_model, tmp_path):
    """An int16x8 model whose op edgeq runs in int8 only: one line naming the op and its index, the TFLM hint."""
    path = single_op_model({"op": "resize_bilinear", "inputs": [[4, 5, 3]], "size": [6, 7], "seed": 1,
                            "int16x8": True})
    p = run_cli("compile", path, "--target", "host", "-o", tmp_path / "out")
    assert_user_error(p, "operator 0 (RESIZE_BILINEAR)", "int16", "--runtime tflm")
    assert not (tmp_path / "out").exists()
    mcu = json.loads(run_cli("inspect", path, "--json").stdout)["mcu"]  # inspect gives the same reason, picks TFLM
    assert mcu["verdict"] == "tflm", mcu
    assert any("operator 0 (RESIZE_BILINEAR)" in r["message"] for r in mcu["runtimes"]["edgeq"]["reasons"]), mcu
