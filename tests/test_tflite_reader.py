"""The .tflite reader and `edgeq inspect`: exact against LiteRT's own view, robust against damaged files."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeq.errors import ModelError
from edgeq.tflite import parse_model, read_model
from edgeq.tflite.check import mcu_findings, model_kind
from edgeq.tflite.schema import BUILTIN_OPS, TENSOR_TYPES

from conftest import assert_user_error, run_cli

MODELS = {
    "kws_ref_model.tflite": ("int8", ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
                                      "FULLY_CONNECTED", "SOFTMAX"]),
    "pretrainedResnet_quant.tflite": ("int8", ["CONV_2D", "ADD", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
                                               "SOFTMAX"]),
    "vww_96_int8.tflite": ("int8", ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
                                    "SOFTMAX"]),
    "ad01_int8.tflite": ("int8", ["FULLY_CONNECTED"]),
    "ad01_fp32.tflite": ("float32", ["FULLY_CONNECTED"]),
    "kws_ref_model_float32.tflite": ("dynamic-range", None),
    "model_ToyCar_quant_fullint.tflite": ("int8 (float I/O)", ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]),
    "str_ww_ref_model.tflite": ("int8", ["DEPTHWISE_CONV_2D", "CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kind_and_ops_used(shared_models, name):
    kind, ops = MODELS[name]
    g = read_model(shared_models / name)
    assert model_kind(g) == kind
    if ops is not None:
        assert g.ops_used == ops
    blocking = [f.code for f in mcu_findings(g) if f.blocking]
    assert (blocking == []) == kind.startswith("int8"), blocking


def test_ops_used_ignores_unused_opcode_table_entries(shared_models):
    g = read_model(shared_models / "pretrainedResnet_quant.tflite")
    assert "QUANTIZE" in g.opcodes and "DEQUANTIZE" in g.opcodes
    assert "QUANTIZE" not in g.ops_used and "DEQUANTIZE" not in g.ops_used
    assert g.op_counts() == {"CONV_2D": 9, "ADD": 3, "AVERAGE_POOL_2D": 1, "RESHAPE": 1, "FULLY_CONNECTED": 1,
                             "SOFTMAX": 1}


def _litert_schema():
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None:
        pytest.skip("ai-edge-litert not installed (pip install 'edgeq[pi]')")
    import ai_edge_litert.schema_py_generated as s  # noqa: PLC0415

    return s


def test_schema_tables_match_litert():
    s = _litert_schema()
    ops = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    for code, name in ops.items():
        assert BUILTIN_OPS[code] == name
    types = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    for code, name in types.items():
        assert TENSOR_TYPES[code][0] == name.lower()


@pytest.mark.parametrize("name", ["kws_ref_model.tflite", "pretrainedResnet_quant.tflite", "ad01_fp32.tflite",
                                  "model_ToyCar_quant_fullint.tflite"])
def test_tensors_match_litert_interpreter(shared_models, name):
    _litert_schema()
    from ai_edge_litert.interpreter import Interpreter

    path = shared_models / name
    g = read_model(path)
    interp = Interpreter(model_path=str(path))
    details = {d["index"]: d for d in interp.get_tensor_details()}
    checked = 0
    for t in g.tensors:
        d = details.get(t.index)
        if d is None:  # LiteRT hides some constant tensors it folded
            continue
        assert d["name"] == t.name
        assert tuple(d["shape"]) == t.shape
        assert np.dtype(d["dtype"]).name == t.dtype
        qp = d["quantization_parameters"]
        if t.quant is not None and t.quant.is_quantized:
            np.testing.assert_array_equal(qp["scales"], t.quant.scales())
            np.testing.assert_array_equal(qp["zero_points"], t.quant.zero_points())
            assert qp["quantized_dimension"] == t.quant.axis
        checked += 1
    assert checked >= len(g.tensors) // 2
    # constant data identical to what the interpreter holds
    for t in g.tensors:
        if t.is_constant and t.index in details and t.dtype in ("int8", "int32", "float32"):
            np.testing.assert_array_equal(interp.get_tensor(t.index), t.array())


# --- bad input ---------------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    assert_user_error(run_cli("inspect", tmp_path / "nope.tflite"), "no such file")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.tflite"
    p.write_bytes(b"")
    assert_user_error(run_cli("inspect", p), "empty")


def test_random_bytes(tmp_path):
    p = tmp_path / "garbage.tflite"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_user_error(run_cli("inspect", p), "not a .tflite")


def test_folder_instead_of_file(tmp_path):
    assert_user_error(run_cli("inspect", tmp_path), "folder")


@pytest.mark.parametrize("cut", [12, 1000, 30000, 53000])
def test_truncated_model(shared_models, tmp_path, cut):
    p = tmp_path / "trunc.tflite"
    p.write_bytes((shared_models / "kws_ref_model.tflite").read_bytes()[:cut])
    assert_user_error(run_cli("inspect", p), "trunc.tflite")


def test_inspect_json_contract(shared_models):
    proc = run_cli("inspect", shared_models / "kws_ref_model.tflite", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["kind"] == "int8"
    assert report["ops_used"][0] == "CONV_2D"
    assert report["inputs"][0]["shape"] == [1, 49, 10, 1]
    assert report["inputs"][0]["quantization"]["zero_point"] == [83]
    conv_w = report["tensors"][report["operators"][0]["inputs"][1]]
    assert conv_w["quantization"]["axis"] == 0 and len(conv_w["quantization"]["scale"]) == 64
    assert report["mcu"]["ok"] is True
    assert report["size"]["file_bytes"] == 53936


def test_inspect_strict_flags_hybrid(shared_models):
    proc = run_cli("inspect", shared_models / "kws_ref_model_float32.tflite", "--strict")
    assert proc.returncode == 1
    assert "hybrid" in proc.stdout


def test_help_and_inspect_do_not_import_tensorflow(shared_models):
    code = ("import sys; from edgeq.cli.main import main; "
            "main(['inspect', sys.argv[1], '--json']); "
            "heavy = [m for m in ('tensorflow', 'keras', 'tflite_micro', 'ai_edge_litert') if m in sys.modules]; "
            "print('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(shared_models / "kws_ref_model.tflite")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    code = "import sys; import edgeq.cli.main as m; m.build_parser(); print(sorted(k for k in sys.modules if k.split('.')[0] in ('numpy','tensorflow','keras','jinja2','serial')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"edgeq --help imports heavy modules: {proc.stdout}"


# --- fuzzing: mutated real models never crash, hang or leak a non-ModelError ---------------------------------------
def _fuzz_base() -> bytes:
    from conftest import shared_models_dir

    p = shared_models_dir() / "kws_ref_model.tflite"
    if not p.is_file():
        pytest.skip("MLPerf Tiny models not found")
    return p.read_bytes()


@settings(max_examples=int(os.environ.get("EDGEQ_FUZZ_EXAMPLES", "300")), deadline=2000,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_models(data):
    base = bytearray(_fuzz_base())
    kind = data.draw(st.sampled_from(["flip", "truncate", "overwrite", "splice"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 16))):
            i = data.draw(st.integers(0, len(base) - 1))
            base[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        base = base[: data.draw(st.integers(0, len(base)))]
    elif kind == "overwrite":
        i = data.draw(st.integers(0, min(4096, len(base) - 4)))  # the tables live near the start
        base[i:i + 4] = data.draw(st.binary(min_size=4, max_size=4))
    else:
        i = data.draw(st.integers(0, len(base)))
        base[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    try:
        g = parse_model(bytes(base), source="fuzz.tflite")
    except ModelError as exc:
        assert "\n" not in str(exc)
        return
    # whatever parsed must be usable by inspect without crashing
    from edgeq.tflite.inspect import format_text, inspect_model

    format_text(g, inspect_model(g), all_tensors=True)
