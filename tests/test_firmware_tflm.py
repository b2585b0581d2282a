"""TFLM export (--runtime tflm): an Arduino sketch for the Arduino_TensorFlowLite library. The op resolver lists
exactly the ops the model's operators run (read here independently with tflite-micro's own flatbuffer schema: the
opcode table of IC/VWW also lists unused QUANTIZE/DEQUANTIZE), with int8-only registrations; the tensor arena is
the measured minimum (TFLM allocates and runs with it, and fails with one byte less); the model array is the file."""

from __future__ import annotations

import re

import pytest

from conftest import assert_user_error, run_cli
from fwutil import tflm_runtime

MODELS = ["kws_ref_model.tflite", "pretrainedResnet_quant.tflite", "ad01_int8.tflite"]


def ops_run_by_operators(path) -> list[str]:
    """The builtin ops the operators execute, via tflite-micro's flatbuffer schema (not edgeq's reader)."""
    tflm_runtime()
    from tflite_micro.python.tflite_micro import runtime
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    model = runtime.convert_bytearray_to_object(bytearray(path.read_bytes()))
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    seen: list[str] = []
    for op in model.subgraphs[0].operators:
        name = names[runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])]
        if name not in seen:
            seen.append(name)
    return seen


def works(path, arena: int) -> bool:
    import numpy as np

    runtime = tflm_runtime()
    try:
        it = runtime.Interpreter.from_file(str(path), arena_size=arena)
        d = it.get_input_details(0)
        it.set_input(np.zeros(d["shape"], dtype=d["dtype"]), 0)
        it.invoke()
        return True
    except RuntimeError:
        return False


@pytest.mark.parametrize("name", MODELS)
def test_tflm_sketch_ops_and_measured_arena(shared_models, tmp_path, name):
    tflm_runtime()
    from edgeq.targets.export import export

    model = shared_models / name
    res = export(model, "nano33ble", tmp_path / "t", runtime="tflm")
    src = res.sketch.parent / "src" / "edgeq"
    app = (src / "edgeq_app_tflm.cpp").read_text()

    calls = re.findall(r"resolver\.(Add\w+)\(([^)]*\)?)\)", app)
    n = int(re.search(r"MicroMutableOpResolver<(\d+)>", app).group(1))
    expected = ops_run_by_operators(model)
    assert n == len(calls) == len(expected)
    assert [e["op"] for e in res.tflm["ops"]] == expected
    assert "QUANTIZE" not in expected and "DEQUANTIZE" not in expected
    for (method, arg), op in zip(calls, expected):
        assert method == {"CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
                          "AVERAGE_POOL_2D": "AddAveragePool2D", "FULLY_CONNECTED": "AddFullyConnected",
                          "SOFTMAX": "AddSoftmax", "RESHAPE": "AddReshape", "ADD": "AddAdd"}[op]
        if op != "RESHAPE":  # int8-only registrations where TFLM has them
            assert arg == f"tflite::Register_{op}_INT8()"

    arena = int(re.search(r"constexpr int kEdgeqArenaBytes = (\d+);", app).group(1))
    assert arena == res.tflm["arena_bytes"]
    assert works(model, arena) and not works(model, arena - 1)
    assert "alignas(16) uint8_t edgeq_arena[kEdgeqArenaBytes]" in app

    data = (src / "edgeq_model_data.cpp").read_text()
    assert "alignas(16) const unsigned char g_edgeq_model[]" in data
    arr = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", data.split("{", 1)[1]))
    assert arr == model.read_bytes()
    ino = res.sketch.read_text()
    assert "#include <TensorFlowLite.h>" in ino and "edgeq_proto_feed" in ino
    cfg = (src / "edgeq_config.h").read_text()
    assert '"tflm"' in cfg


def test_tflm_build_here_compiles_the_c_sources(shared_models, tmp_path):
    import shutil

    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    tflm_runtime()
    from edgeq.targets.export import export

    res = export(shared_models / "ad01_int8.tflite", "nano33ble", tmp_path / "t", runtime="tflm", build=True)
    assert res.build.firmware is None and "Arduino_TensorFlowLite" in res.build.note


def test_tflm_refused_where_it_cannot_run(shared_models, tmp_path):
    m = shared_models / "ad01_int8.tflite"
    assert_user_error(run_cli("export", m, "--board", "uno", "--runtime", "tflm", "-o", tmp_path / "a"),
                      "tflm", "8-bit AVR")
    assert_user_error(run_cli("export", m, "--board", "qemu-m4", "--runtime", "tflm", "-o", tmp_path / "b"),
                      "not an Arduino board")
    assert_user_error(run_cli("export", m, "--board", "nano33ble", "--runtime", "tflm", "--backend", "portable",
                              "-o", tmp_path / "c"), "--backend")
