"""Per-op tests: single-op Keras models with hypothesis-generated shapes and parameters, converted with full-int8
PTQ (random representative data), compiled for host with ASan/UBSan, compared with TFLM byte for byte.

Conversions are cached on disk (pytest's cache folder, keyed by the model spec and the TF version), and hypothesis
runs derandomized, so a re-run only compiles and compares. Example counts are small on purpose: each example costs
a TF conversion and a C build.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from compiler_util import assert_bit_exact, compile_and_build, random_inputs, single_op_model  # noqa: F401
from compiler_util import tflm_runtime

pytestmark = pytest.mark.tf

N_INPUTS = 6
_counter = itertools.count()


def _settings(n: int):
    # no shrinking: every shrink step would be a TF conversion; the failing spec is printed as generated
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="session")
def check_op(single_op_model, tmp_path_factory):
    """Build the spec's model, compile it, compare with TFLM; returns (model path, CompileResult)."""
    root = tmp_path_factory.mktemp("ops")

    tflm_runtime()

    def check(spec: dict, expect_ops: set[str] | None = None):
        path = single_op_model(spec)
        out = root / f"m{next(_counter)}"
        binary, res = compile_and_build(path, out)
        if expect_ops is not None:
            assert expect_ops <= set(res.op_counts), (expect_ops, res.op_counts)
        assert_bit_exact(path, binary, random_inputs(path, N_INPUTS, seed=len(str(spec))))
        return path, res

    return check


ACTS = st.sampled_from([None, "relu", "relu6"])


# ---- CONV_2D --------------------------------------------------------------------------------------------------------


@st.composite
def conv_specs(draw):
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    cin = draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilated = draw(st.booleans())
    strides = [1, 1] if dilated else [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilation = [draw(st.integers(1, 3)), draw(st.integers(1, 2))] if dilated else [1, 1]
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid":
        h = max(h, (kh - 1) * dilation[0] + 1)
        w = max(w, (kw - 1) * dilation[1] + 1)
    return {"op": "conv", "inputs": [[h, w, cin]], "filters": draw(st.integers(1, 12)), "kernel": [kh, kw],
            "strides": strides, "dilation": dilation, "padding": padding, "act": draw(ACTS),
            "bias": draw(st.booleans()), "range": draw(st.sampled_from([0.5, 2.0, 8.0])),
            "seed": draw(st.integers(0, 100))}


@_settings(8)
@given(spec=conv_specs())
def test_conv2d(check_op, spec):
    check_op(spec, {"CONV_2D"})


#: 1x1 convolutions run edgeq_convolve_1x1_s8 (2 pixels x 2 channels, folded zero point, reordered weights): odd
#: pixel and channel counts, input channels not a multiple of 4, strides, no bias, every activation
POINTWISE = [
    {"op": "conv", "inputs": [[5, 5, 9]], "filters": 7, "kernel": [1, 1], "strides": [1, 1], "dilation": [1, 1],
     "padding": "valid", "act": "relu6", "bias": True, "range": 4.0, "seed": 1},
    {"op": "conv", "inputs": [[9, 7, 8]], "filters": 6, "kernel": [1, 1], "strides": [2, 3], "dilation": [1, 1],
     "padding": "same", "act": None, "bias": False, "range": 2.0, "seed": 2},
    {"op": "conv", "inputs": [[1, 1, 3]], "filters": 1, "kernel": [1, 1], "strides": [1, 1], "dilation": [1, 1],
     "padding": "valid", "act": "relu", "bias": True, "range": 8.0, "seed": 3},
    {"op": "conv", "inputs": [[3, 4, 37]], "filters": 130, "kernel": [1, 1], "strides": [1, 1], "dilation": [1, 1],
     "padding": "valid", "act": None, "bias": True, "range": 0.5, "seed": 4},
]


@pytest.mark.parametrize("spec", POINTWISE, ids=lambda s: f"{s['inputs'][0]}x{s['filters']}s{s['strides'][0]}")
def test_conv2d_pointwise(check_op, spec):
    check_op(spec, {"CONV_2D"})


# ---- DEPTHWISE_CONV_2D ----------------------------------------------------------------------------------------------


@st.composite
def dw_specs(draw):
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    cin = draw(st.integers(1, 8))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilated = draw(st.booleans())
    strides = [1, 1] if dilated else [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilation = [draw(st.integers(1, 3)), draw(st.integers(1, 2))] if dilated else [1, 1]
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid":
        h = max(h, (kh - 1) * dilation[0] + 1)
        w = max(w, (kw - 1) * dilation[1] + 1)
    return {"op": "dw", "inputs": [[h, w, cin]], "mult": draw(st.integers(1, 3)), "kernel": [kh, kw],
            "strides": strides, "dilation": dilation, "padding": padding, "act": draw(ACTS),
            "bias": draw(st.booleans()), "range": draw(st.sampled_from([0.5, 2.0, 8.0])),
            "seed": draw(st.integers(0, 100))}


@_settings(8)
@given(spec=dw_specs())
def test_depthwise_conv2d(check_op, spec):
    check_op(spec, {"DEPTHWISE_CONV_2D"})


#: 3x3 depthwise with depth multiplier 1 runs edgeq_depthwise_conv_3x3_s8 (interior taps unrolled, borders by
#: valid taps): channels not a multiple of 4, strides, VALID and SAME, inputs narrower than the filter, no bias
DEPTHWISE_3X3 = [
    {"op": "dw", "inputs": [[6, 5, 7]], "mult": 1, "kernel": [3, 3], "strides": [1, 1], "dilation": [1, 1],
     "padding": "same", "act": "relu", "bias": True, "range": 4.0, "seed": 1},
    {"op": "dw", "inputs": [[9, 8, 8]], "mult": 1, "kernel": [3, 3], "strides": [2, 2], "dilation": [1, 1],
     "padding": "same", "act": "relu6", "bias": False, "range": 2.0, "seed": 2},
    {"op": "dw", "inputs": [[4, 7, 12]], "mult": 1, "kernel": [3, 3], "strides": [1, 2], "dilation": [1, 1],
     "padding": "valid", "act": None, "bias": True, "range": 8.0, "seed": 3},
    {"op": "dw", "inputs": [[1, 2, 3]], "mult": 1, "kernel": [3, 3], "strides": [1, 1], "dilation": [1, 1],
     "padding": "same", "act": None, "bias": True, "range": 0.5, "seed": 4},
]


@pytest.mark.parametrize("spec", DEPTHWISE_3X3, ids=lambda s: f"{s['inputs'][0]}s{s['strides']}{s['padding']}")
def test_depthwise_conv2d_3x3(check_op, spec):
    check_op(spec, {"DEPTHWISE_CONV_2D"})


# ---- FULLY_CONNECTED ------------------------------------------------------------------------------------------------


@st.composite
def dense_specs(draw):
    rank3 = draw(st.booleans())
    feat = draw(st.integers(1, 40))
    inputs = [[draw(st.integers(2, 4)), feat]] if rank3 else [[feat]]
    return {"op": "dense", "inputs": inputs, "units": draw(st.integers(1, 24)), "act": draw(ACTS),
            "bias": draw(st.booleans()), "per_tensor_dense": draw(st.booleans()),
            "range": draw(st.sampled_from([0.5, 2.0, 8.0])), "seed": draw(st.integers(0, 100))}


@_settings(6)
@given(spec=dense_specs())
def test_fully_connected(check_op, spec):
    check_op(spec, {"FULLY_CONNECTED"})


# ---- pooling --------------------------------------------------------------------------------------------------------


@st.composite
def pool_specs(draw):
    h, w, c = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 6))
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid":
        h, w = max(h, ph), max(w, pw)
    return {"op": draw(st.sampled_from(["avgpool", "maxpool"])), "inputs": [[h, w, c]], "pool": [ph, pw],
            "strides": [draw(st.integers(1, 3)), draw(st.integers(1, 3))], "padding": padding,
            "range": draw(st.sampled_from([0.5, 4.0])), "seed": draw(st.integers(0, 100))}


@_settings(6)
@given(spec=pool_specs())
def test_pooling(check_op, spec):
    check_op(spec, {"AVERAGE_POOL_2D" if spec["op"] == "avgpool" else "MAX_POOL_2D"})


# ---- ADD / MUL ------------------------------------------------------------------------------------------------------


@st.composite
def binary_specs(draw, op):
    shape = [draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 8))]
    mode = draw(st.sampled_from(["same", "broadcast", "const"]))
    spec = {"op": op, "inputs": [shape], "seed": draw(st.integers(0, 100)),
            "range": draw(st.sampled_from([0.5, 3.0, 10.0]))}
    if op == "add":
        spec["act"] = draw(st.sampled_from([None, "relu"]))
    if mode == "same":
        spec["inputs"] = [shape, shape]
    elif mode == "broadcast":
        other = [d if draw(st.booleans()) else 1 for d in shape]
        spec["inputs"] = [shape, other]
    else:
        spec["const_shape"] = [1, 1, shape[2]] if draw(st.booleans()) else [1] + shape
    return spec


@_settings(5)
@given(spec=binary_specs("add"))
def test_add(check_op, spec):
    check_op(spec, {"ADD"})


@_settings(4)
@given(spec=binary_specs("mul"))
def test_mul(check_op, spec):
    check_op(spec, {"MUL"})


# ---- SOFTMAX, MEAN, CONCATENATION, PAD, LOGISTIC, RELU, RELU6 -------------------------------------------------------


@_settings(3)
@given(n=st.integers(2, 40), rows=st.integers(1, 3), rng=st.sampled_from([0.3, 2.0, 12.0]), seed=st.integers(0, 9))
def test_softmax(check_op, n, rows, rng, seed):
    spec = {"op": "softmax", "inputs": [[rows * n]], "reshape": [rows, n], "range": rng, "seed": seed}
    check_op(spec, {"SOFTMAX", "RESHAPE"})


@_settings(4)
@given(shape=st.lists(st.integers(1, 7), min_size=3, max_size=3),
       axis=st.sampled_from([[1, 2], [1], [2], [3], [1, 2, 3]]), keepdims=st.booleans(), seed=st.integers(0, 9))
def test_mean(check_op, shape, axis, keepdims, seed):
    spec = {"op": "mean", "inputs": [shape], "axis": axis, "keepdims": keepdims, "range": 3.0, "seed": seed}
    check_op(spec, {"MEAN"})


@_settings(2)
@given(shape=st.lists(st.integers(1, 5), min_size=3, max_size=3), axis=st.sampled_from([1, 2, 3, -1]),
       n=st.integers(2, 3))
def test_concatenation(check_op, shape, axis, n):
    spec = {"op": "concat", "inputs": [shape] * n, "axis": axis, "range": 2.0, "seed": 1}
    check_op(spec, {"CONCATENATION"})


@_settings(2)
@given(shape=st.lists(st.integers(1, 6), min_size=3, max_size=3),
       padding=st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=2), min_size=2, max_size=2))
def test_pad(check_op, shape, padding):
    assume(any(any(p) for p in padding))
    spec = {"op": "pad", "inputs": [shape], "padding": padding, "range": 2.0, "seed": 2}
    check_op(spec, {"PAD"})


@_settings(2)
@given(shape=st.lists(st.integers(1, 8), min_size=1, max_size=3), rng=st.sampled_from([1.0, 6.0, 30.0]))
def test_logistic(check_op, shape, rng):
    spec = {"op": "logistic", "inputs": [shape], "range": rng, "seed": 3}
    check_op(spec, {"LOGISTIC"})


@pytest.mark.parametrize("max_value,op", [(None, "RELU"), (6.0, "RELU6")])
def test_relu(check_op, max_value, op):
    spec = {"op": "relu", "inputs": [[5, 7, 3]], "max_value": max_value, "range": 8.0, "seed": 4}
    check_op(spec, {op})


# ---- QUANTIZE / DEQUANTIZE at float I/O, and a chain of ops ---------------------------------------------------------


@pytest.mark.parametrize("float_io", [False, True])
def test_small_cnn_chain(check_op, float_io):
    spec = {"op": "chain", "inputs": [[8, 8, 2]], "float_io": float_io, "range": 1.0, "seed": 5}
    path, res = check_op(spec)
    if float_io:
        assert {"QUANTIZE", "DEQUANTIZE"} <= set(res.op_counts)


# ---- QUANTIZE int8 -> int8 (requantization inside the graph) --------------------------------------------------------


@pytest.mark.parametrize("factor,zp", [(0.37, -7), (3.1, 20), (1.0, 5)])
def test_requantize_int8(single_op_model, tmp_path, factor, zp):
    """A RELU model turned into an int8 -> int8 QUANTIZE with another output scale / zero point (flatbuffer edit)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    src = single_op_model({"op": "relu", "inputs": [[5, 7, 3]], "max_value": None, "range": 8.0, "seed": 4})
    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
    code.version = 1
    mt.operatorCodes.append(code)
    op = mt.subgraphs[0].operators[0]
    op.opcodeIndex = len(mt.operatorCodes) - 1
    op.builtinOptionsType, op.builtinOptions = 0, None
    q = mt.subgraphs[0].tensors[op.outputs[0]].quantization
    q.scale, q.zeroPoint = [q.scale[0] * factor], [zp]
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "requantize.tflite"
    path.write_bytes(bytes(b.Output()))
    binary, res = compile_and_build(path, tmp_path / "out")
    assert res.op_counts == {"QUANTIZE": 1}
    assert_bit_exact(path, binary, random_inputs(path, N_INPUTS, seed=1))


# ---- DEQUANTIZE -> float32 -> QUANTIZE inside the graph -------------------------------------------------------------


@pytest.mark.parametrize("factor,zp,float_out", [(0.37, -7, False), (2.3, 11, True)])
def test_dequantize_quantize_inside_the_graph(single_op_model, tmp_path, factor, zp, float_out):
    """RELU -> DEQUANTIZE -> (float32) -> QUANTIZE (another scale and zero point) -> RELU, built by a flatbuffer edit
    of a RELU model; with ``float_out`` the float tensor is also a model output. Bit-exact with TFLM, on every int8
    input value."""
    import copy

    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    src = single_op_model({"op": "relu", "inputs": [[4, 8, 8]], "max_value": None, "range": 8.0, "seed": 4})
    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    sg = mt.subgraphs[0]
    relu = sg.operators[0]
    codes = {}
    for name in ("DEQUANTIZE", "QUANTIZE"):
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = getattr(schema.BuiltinOperator, name)
        code.version = 2 if name == "DEQUANTIZE" else 1
        mt.operatorCodes.append(code)
        codes[name] = len(mt.operatorCodes) - 1

    def tensor(like: int, name: bytes, float32: bool = False, scale=None, zero_point=None) -> int:
        t = copy.deepcopy(sg.tensors[like])
        t.name, t.buffer = name, 0
        if float32:
            t.type, t.quantization = schema.TensorType.FLOAT32, None
        else:
            t.quantization.scale, t.quantization.zeroPoint = [scale], [zero_point]
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def op(code: int, ins: list[int], outs: list[int], like=None):
        o = copy.deepcopy(like) if like is not None else schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code, ins, outs
        if like is None:
            o.builtinOptionsType, o.builtinOptions = 0, None
        sg.operators.append(o)

    t_relu = relu.outputs[0]
    scale = sg.tensors[t_relu].quantization.scale[0] * factor
    t_float = tensor(t_relu, b"dequantized", float32=True)
    t_q = tensor(t_relu, b"requantized", scale=scale, zero_point=zp)
    t_out = tensor(t_relu, b"relu2", scale=scale, zero_point=zp)
    op(codes["DEQUANTIZE"], [t_relu], [t_float])
    op(codes["QUANTIZE"], [t_float], [t_q])
    op(relu.opcodeIndex, [t_q], [t_out], like=relu)
    sg.outputs = [t_out, t_float] if float_out else [t_out]
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "dq_q.tflite"
    path.write_bytes(bytes(b.Output()))
    binary, res = compile_and_build(path, tmp_path / "out")
    assert res.op_counts == {"RELU": 2, "DEQUANTIZE": 1, "QUANTIZE": 1}
    kernels = {row["op"]: row["kernel"] for row in res.layers}
    assert kernels["DEQUANTIZE"] == "edgeq_dequantize_s8_f32" and kernels["QUANTIZE"] == "edgeq_quantize_f32_s8"
    from edgeq.reference import PortableHostReference, TflmReference

    every = np.resize(np.arange(-128, 128, dtype=np.int8), 4 * 8 * 8)  # every int8 value, 4x
    batch = [every.tobytes()] + [x.tobytes() for x in random_inputs(path, 3, seed=2)]
    ref = TflmReference(path).run_many(batch)  # every output (the float one too), raw bytes
    assert PortableHostReference(path, binary=binary).run_many(batch) == ref
