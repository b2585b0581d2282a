"""int16x8 models (int16 activations, int8 weights) of the ops edgeq compiles with int16 kernels: pooling, ADD, SUB,
MUL, MEAN, SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, BATCH_MATMUL, the
data-movement ops. Single-op models from the TF converter's int16x8 mode, compiled for host under
ASan/UBSan, compared byte for byte with the TFLM interpreter on inputs spread over the whole int16 range (and its
two ends). Hypothesis draws the edges (shapes, broadcasting, constant operands, pool windows and strides, axes);
EDGEQ_INT16_EXAMPLES=N runs N examples per property instead of the default few."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

pytestmark = pytest.mark.tf
_counter = itertools.count()


def _settings(n: int):
    return settings(max_examples=int(os.environ.get("EDGEQ_INT16_EXAMPLES", n)), deadline=None, derandomize=True,
                    database=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def int16_batch(n_values: int, seed: int, count: int = 4) -> list[bytes]:
    """Uniform int16 inputs, plus one that alternates the two ends of the range (saturation, rounding at the ends)."""
    rng = np.random.default_rng(seed)
    batch = [rng.integers(-32768, 32768, size=n_values, dtype=np.int16).tobytes() for _ in range(count)]
    ends = np.where(np.arange(n_values) % 2 == 0, -32768, 32767).astype(np.int16)
    return batch + [ends.tobytes()]


@pytest.fixture(scope="session")
def check16(single_op_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("int16")
    tflm_runtime()

    def check(spec: dict, op: str):
        from edgeq.reference import PortableHostReference, TflmReference
        from edgeq.tflite import read_model
        from edgeq.tflite.check import model_kind

        path = single_op_model({**spec, "int16x8": True})
        g = read_model(path)
        assert model_kind(g) == "int16x8"
        target = [o for o in g.operators if o.opcode == op]
        assert target and g.tensors[target[0].outputs[0]].dtype == "int16", [o.opcode for o in g.operators]
        binary, res = compile_and_build(path, root / f"m{next(_counter)}")
        assert op in res.op_counts, (op, res.op_counts)
        tflm = TflmReference(path)
        host = PortableHostReference(path, binary=binary)
        n = sum(s.nbytes for s in tflm.inputs) // 2
        batch = int16_batch(n, seed=len(str(spec)))
        assert host.run_many(batch) == tflm.run_many(batch)
        return path

    return check


# ---- pooling ----------------------------------------------------------------------------------------------------


@st.composite
def pool_specs(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    padding = draw(st.sampled_from(["same", "valid"]))
    ph = draw(st.integers(1, h if padding == "valid" else 4))
    pw = draw(st.integers(1, w if padding == "valid" else 4))
    return {"op": draw(st.sampled_from(["avgpool", "maxpool"])), "inputs": [[h, w, draw(st.integers(1, 4))]],
            "pool": [ph, pw], "strides": [draw(st.integers(1, 3)), draw(st.integers(1, 3))], "padding": padding,
            "act": draw(st.sampled_from([None, "relu", "relu6"])), "seed": draw(st.integers(0, 20)),
            "range": draw(st.sampled_from([0.5, 4.0, 30.0])), "centers": [draw(st.sampled_from([0.0, 2.0]))]}


@_settings(4)
@given(spec=pool_specs())
def test_pooling_int16(check16, spec):
    check16(spec, "AVERAGE_POOL_2D" if spec["op"] == "avgpool" else "MAX_POOL_2D")


# ---- ADD / SUB / MUL --------------------------------------------------------------------------------------------


@st.composite
def binary_specs(draw):
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    other = [d if draw(st.booleans()) else 1 for d in shape]
    op = draw(st.sampled_from(["add", "sub", "mul"]))
    spec = {"op": op, "inputs": [shape], "seed": draw(st.integers(0, 50)),
            "range": draw(st.sampled_from([0.3, 2.0, 9.0])), "centers": [draw(st.sampled_from([0.0, 1.5]))]}
    if op != "mul":
        spec["act"] = draw(st.sampled_from([None, "relu"]))
    if draw(st.booleans()):
        spec["const_shape"] = [1, *other]
    else:  # two inputs of different ranges: different scales, every rescaling path
        spec["inputs"] = [shape, other]
        spec["ranges"] = [spec["range"], draw(st.sampled_from([0.1, 1.0, 20.0]))]
        spec["centers"] = spec["centers"] * 2
    return spec


@_settings(6)
@given(spec=binary_specs())
def test_add_sub_mul_int16(check16, spec):
    check16(spec, spec["op"].upper())


def _with_scales(src, dst, opcode: str, scales: list[float]) -> tuple[int, ...]:
    """The single-op model with its op's inputs and output re-quantized to ``scales`` (zero points 0); returns, for
    each op input, its position among the graph inputs."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    g = mt.subgraphs[0]
    (op,) = [o for o in g.operators
             if mt.operatorCodes[o.opcodeIndex].builtinCode == getattr(schema.BuiltinOperator, opcode)]
    for t, scale in zip([*op.inputs, *op.outputs], scales):
        g.tensors[t].quantization.scale = [scale]
        g.tensors[t].quantization.zeroPoint = [0]
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))
    return tuple(list(g.inputs).index(t) for t in op.inputs)


def test_sub_int16_gru_update_gate(single_op_model, tmp_path):
    """A Keras GRU's ``1 - z`` in int16x8: the constant 1.0 (32767 at scale 1/32767) minus a sigmoid output (scale
    2^-15) to scale 2.4514393e-05. TFLM's SUB multipliers come from double arithmetic; float32 ones (2147418112 /
    1336724864 instead of 2147418114 / 1336724927) made 1 - z one off TFLM for some z (z = 14394: 22873, TFLM 22874),
    22 of 2,000 windows of a trained GRU(24) differed. Every z >= 0 and random pairs, byte for byte."""
    from edgeq.reference import PortableHostReference, TflmReference

    tflm_runtime()
    src = single_op_model({"op": "sub", "inputs": [[8, 128], [8, 128]], "ranges": [1.0, 1.0], "seed": 1,
                           "int16x8": True})
    path = tmp_path / "sub16.tflite"
    order = _with_scales(src, path, "SUB", [1 / 32767, 2.0 ** -15, 2.451439286232926e-05])
    n = 8 * 128  # TFLM's default arena holds three such tensors: every z >= 0 takes 32 inferences
    one, z = np.full(n, 32767, np.int16), np.arange(32768, dtype=np.int16).reshape(-1, n)
    rng = np.random.default_rng(7)
    pairs = [(one, z_part) for z_part in z] + [tuple(rng.integers(-32768, 32768, size=n, dtype=np.int16)
                                                    for _ in range(2))]
    batch = [b"".join(p[order.index(k)].tobytes() for k in range(2)) for p in pairs]
    want = TflmReference(path).run_many(batch)
    assert np.frombuffer(want[14394 // n], np.int16)[14394 % n] == 22874  # the case the float32 multipliers got wrong
    binary, res = compile_and_build(path, tmp_path / "out")
    assert "SUB" in res.op_counts
    assert PortableHostReference(path, binary=binary).run_many(batch) == want


# ---- MEAN and data movement -------------------------------------------------------------------------------------


@st.composite
def mean_specs(draw):
    shape = [draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 3)))]
    rank = len(shape) + 1  # the batch dimension
    axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    assume(any(shape[a - 1] > 1 for a in axes))  # a mean over size-1 axes is no op for the converter
    if draw(st.booleans()):
        axes = [a - rank for a in axes]  # negative axes
    return {"op": "mean", "inputs": [shape], "axis": axes, "keepdims": draw(st.booleans()),
            "seed": draw(st.integers(0, 20)), "range": draw(st.sampled_from([0.5, 3.0, 40.0])),
            "centers": [draw(st.sampled_from([0.0, 1.0]))]}


@_settings(3)
@given(spec=mean_specs())
def test_mean_int16(check16, spec):
    check16(spec, "MEAN")


@st.composite
def strided_slice_specs(draw):
    shape = [draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 3)))]
    slices = [[None]]  # the batch
    for d in shape:
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        lo = draw(st.integers(0, d - 1))
        hi = draw(st.integers(lo + 1, d))  # elements lo .. hi - 1, never empty; backwards for a negative step
        slices.append([lo, hi, step] if step > 0 else [hi - 1, lo - 1 if lo > 0 else None, step])
    assume(any(sl != [0, d, 1] for sl, d in zip(slices[1:], shape)))  # the converter drops a slice of everything
    return {"op": "strided_slice", "inputs": [shape], "slices": slices, "seed": draw(st.integers(0, 20))}


@_settings(3)
@given(spec=strided_slice_specs())
def test_strided_slice_int16(check16, spec):
    check16(spec, "STRIDED_SLICE")


@pytest.mark.parametrize("spec,op", [
    ({"op": "concat", "inputs": [[4, 5, 3], [4, 5, 2]], "axis": -1}, "CONCATENATION"),
    ({"op": "concat", "inputs": [[2, 5, 3], [3, 5, 3], [1, 5, 3]], "axis": 1}, "CONCATENATION"),
    ({"op": "pad", "inputs": [[4, 5, 3]], "padding": [[1, 2], [0, 3]]}, "PAD"),
    ({"op": "transpose", "inputs": [[4, 5, 3]], "perm": [0, 3, 1, 2]}, "TRANSPOSE"),
    ({"op": "strided_slice", "inputs": [[6, 5, 3]], "slices": [[None], [1, 5, 2], [None, None, -1], [1, 3]]},
     "STRIDED_SLICE"),
    ({"op": "slice", "inputs": [[6, 5, 3]], "begin": [0, 1, 2, 0], "size": [1, 4, 2, 2]}, "SLICE"),
    ({"op": "split", "inputs": [[6, 4]], "parts": 2, "axis": 1}, "SPLIT"),
    ({"op": "stack", "inputs": [[3, 4], [3, 4]], "axis": 2}, "PACK"),
    ({"op": "unstack", "inputs": [[3, 4]], "axis": 1}, "UNPACK"),
    ({"op": "resize_nearest", "inputs": [[3, 4, 2]], "size": [7, 5]}, "RESIZE_NEAREST_NEIGHBOR"),
])
def test_data_movement_int16(check16, spec, op):
    check16({"seed": 1, "range": 2.0, **spec}, op)


# ---- SOFTMAX, LOGISTIC, TANH --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,r,center", [([10], 3.0, 0.0), ([4, 7], 20.0, 5.0), ([3, 1], 1.0, 0.0),
                                            ([2, 3, 40], 0.05, 0.0)])
def test_softmax_int16(check16, shape, r, center):
    check16({"op": "softmax", "inputs": [shape], "range": r, "centers": [center], "seed": 2}, "SOFTMAX")


@pytest.mark.parametrize("op", ["logistic", "tanh"])
@pytest.mark.parametrize("r", [0.5, 4.0, 7.99, 40.0])
def test_logistic_tanh_int16(check16, op, r):
    """Input ranges whose int16 scale is off a power of two (the general multiplier) and near 8 * 2^-15 * 32768
    (TFLM's power-of-two path when the converter picks a power-of-two scale)."""
    check16({"op": op, "inputs": [[16, 16]], "range": r, "seed": 1}, op.upper())


def test_softmax_int16_tables_match_the_c_library():
    """The SOFTMAX tables evaluate exp in float64 rounded to float32; on every sample point TFLM's Prepare evaluates,
    that is the C library's expf (what the TFLM interpreter calls), so the tables are TFLM's."""
    import ctypes
    import ctypes.util

    from edgeq.quant import lut16

    name = ctypes.util.find_library("m")
    if name is None:
        pytest.skip("no C math library to compare with")
    libm = ctypes.CDLL(name)
    libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    libm_exp = lambda v: np.float32(libm.expf(float(v)))  # noqa: E731
    exp_lut, _ = lut16.softmax_luts()
    args = (np.float32(10.0) / np.float32(65535), 32767, np.float32(2.0) / np.float32(65535), 0)
    assert np.array_equal(lut16.lut_populate_int16(libm_exp, *args), exp_lut)
    assert exp_lut[512] == 32767 and 0 < exp_lut[0] < 8  # exp(0) = 1.0 at the top, exp(-10) near 0


@pytest.mark.parametrize("spec,op", [
    ({"op": "relu", "inputs": [[6, 7]], "range": 3.0, "centers": [1.0]}, "RELU"),
    ({"op": "relu", "inputs": [[6, 7]], "range": 9.0, "max_value": 6.0}, "RELU6"),
    ({"op": "leaky_relu", "inputs": [[6, 7]], "alpha": 0.2, "range": 3.0}, "LEAKY_RELU"),
    ({"op": "leaky_relu", "inputs": [[6, 7]], "alpha": 1.7, "range": 2.0, "centers": [-0.5]}, "LEAKY_RELU"),
    ({"op": "maximum", "inputs": [[4, 5, 3], [1, 5, 1]], "ranges": [2.0, 0.5]}, "MAXIMUM"),
    ({"op": "minimum", "inputs": [[4, 5, 3]], "const_shape": [1, 4, 1, 3]}, "MINIMUM"),
    ({"op": "squared_difference", "inputs": [[4, 5, 3], [4, 5, 3]], "ranges": [2.0, 0.5]}, "SQUARED_DIFFERENCE"),
    ({"op": "squared_difference", "inputs": [[4, 5, 3], [1, 5, 1]], "ranges": [3.0, 3.0]}, "SQUARED_DIFFERENCE"),
])
def test_activations_int16(check16, spec, op):
    check16({"seed": 2, **spec}, op)


@st.composite
def bmm_specs(draw):
    """BATCH_MATMUL int16x8: rows / depth / columns 1..6, adj_x / adj_y (the converter folds the transposes), up to
    two batch dimensions, each operand taking a batch dimension or 1 (broadcast) and maybe fewer of them (rank
    broadcast); or a constant RHS with a batch dimension above 1 (a 2-D or batch-1 constant becomes a
    FULLY_CONNECTED)."""
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    const = draw(st.booleans())
    full = draw(st.lists(st.integers(2, 3), min_size=1 if const else 0, max_size=2))

    def batch_of(dims: list[int]) -> list[int]:
        dims = dims[draw(st.integers(0, len(dims))):]  # fewer batch dimensions than the output
        return [draw(st.sampled_from([d, 1])) for d in dims]

    lhs_batch, rhs_batch = batch_of(full), batch_of(full)
    if const:
        assume(any(d > 1 for d in rhs_batch))
    lhs = lhs_batch + ([k, m] if ta else [m, k])
    rhs = rhs_batch + ([n, k] if tb else [k, n])
    spec = {"op": "matmul", "transpose_a": ta, "transpose_b": tb, "seed": draw(st.integers(0, 20)),
            "ranges": [draw(st.sampled_from([0.5, 3.0, 40.0])), draw(st.sampled_from([0.5, 3.0, 40.0]))]}
    if const:
        return {**spec, "inputs": [lhs], "const_shape": rhs, "input_names": ["a_lhs"]}
    return {**spec, "inputs": [lhs, rhs], "input_names": ["a_lhs", "b_rhs"]}


@_settings(4)
@given(spec=bmm_specs())
def test_batch_matmul_int16(check16, spec):
    """TFLM's BatchMatMul<int16_t, int64_t>: int64 sums, the int64 MultiplyByQuantizedMultiplier, int16 clamp."""
    from edgeq.tflite import read_model

    path = check16(spec, "BATCH_MATMUL")
    bmm = next(op for op in read_model(path).operators if op.opcode == "BATCH_MATMUL")
    assert bool(bmm.options.get("adj_x")) == spec["transpose_a"]
    if "const_shape" not in spec:  # a transposed constant RHS is folded into the constant instead
        assert bool(bmm.options.get("adj_y")) == spec["transpose_b"]


@pytest.mark.parametrize("spec", [
    {"op": "matmul", "inputs": [[2, 3, 4], [1, 5, 4]], "transpose_b": True, "ranges": [40.0, 40.0]},  # adj_y, bcast
    {"op": "matmul", "inputs": [[3, 4, 2], [3, 4, 5]], "transpose_a": True, "ranges": [3.0, 0.5]},  # adj_x
    {"op": "matmul", "inputs": [[3, 6]], "const_shape": [2, 6, 4], "ranges": [3.0, 3.0]},  # constant RHS, bcast
    # scales whose float32 product rounds the 16-bit multiplier to 16384 where TFLM's double product gives 16385
    {"op": "matmul", "inputs": [[1, 1, 3]], "const_shape": [1, 3, 1, 4], "transpose_a": True, "ranges": [40.0, 3.0],
     "seed": 16},
])
def test_batch_matmul_int16_cases(check16, spec):
    check16({"seed": 5, "input_names": ["a_lhs", "b_rhs"][:len(spec["inputs"])], **spec}, "BATCH_MATMUL")


def test_float_io_int16x8(single_op_model, tmp_path):
    """float32 in and out around int16 activations: QUANTIZE float32 -> int16 and DEQUANTIZE int16 -> float32 as
    TFLM's AffineQuantize / Dequantize; raw float bytes equal TFLM's."""
    from edgeq.reference import PortableHostReference, TflmReference
    from edgeq.tflite import read_model

    tflm_runtime()
    path = single_op_model({"op": "avgpool", "inputs": [[6, 6, 2]], "pool": [2, 2], "strides": [2, 2],
                            "padding": "valid", "seed": 1, "int16x8": True, "float_io": True})
    ops = {(o.opcode, read_model(path).tensors[o.outputs[0]].dtype) for o in read_model(path).operators}
    assert {("QUANTIZE", "int16"), ("DEQUANTIZE", "float32")} <= ops, ops
    binary, _ = compile_and_build(path, tmp_path / "o")
    rng = np.random.default_rng(5)
    batch = [rng.normal(0, s, size=72).astype(np.float32).tobytes() for s in (0.5, 2.0, 50.0)]
    assert PortableHostReference(path, binary=binary).run_many(batch) == TflmReference(path).run_many(batch)


def test_keras_model_quantized_int16x8_end_to_end(tmp_path):
    """A Keras model of ordinary layers (conv, pooling, depthwise, sigmoid, residual ADD, tanh, concatenate, zero
    padding, multiply, global average pooling, dense, softmax) through the CLI as a user runs it: edgeq quantize
    --mode int16x8, edgeq compile (both backends when CMSIS-NN is there), the host program equal to TFLM."""
    pytest.importorskip("tensorflow", reason="TensorFlow is needed to quantize the Keras model")
    import keras

    from conftest import run_cli, shared_cmsis_nn_dir
    from compiler_util import SANITIZE, require_gcc
    from edgeq.compiler import build_host
    from edgeq.reference import PortableHostReference, TflmReference

    require_gcc()
    tflm_runtime()
    x = keras.Input((12, 12, 3), batch_size=1)
    y = keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x))
    y = keras.layers.Add()([y, keras.layers.Activation("sigmoid")(keras.layers.DepthwiseConv2D(3, padding="same")(y))])
    a = keras.layers.AveragePooling2D(2)(y)
    y = keras.layers.Concatenate()([a, keras.layers.Conv2D(4, 1, activation="tanh")(a)])
    y = keras.layers.ZeroPadding2D(1)(y)
    y = keras.layers.GlobalAveragePooling2D()(keras.layers.Multiply()([y, y]))
    keras.Model(x, keras.layers.Softmax()(keras.layers.Dense(5)(y))).save(tmp_path / "net.keras")
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).normal(size=(32, 12, 12, 3)).astype(np.float32))
    proc = run_cli("quantize", "net.keras", "--mode", "int16x8", "--data", "calib.npy", "-o", "net16.tflite",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tflm = TflmReference(tmp_path / "net16.tflite")
    rng = np.random.default_rng(1)
    batch = int16_batch(432, seed=2) + [rng.normal(0, 3000, size=432).astype(np.int16).tobytes() for _ in range(4)]
    expected = tflm.run_many(batch)
    cmsis = shared_cmsis_nn_dir()
    for backend in ["portable"] + (["cmsis-nn"] if cmsis is not None else []):
        extra = ["--backend", backend] + (["--cmsis-nn", str(cmsis)] if backend == "cmsis-nn" else [])
        proc = run_cli("compile", "net16.tflite", "-o", backend, *extra, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        flags = SANITIZE + (" -fno-sanitize=shift,signed-integer-overflow" if backend == "cmsis-nn" else "")
        binary = build_host(tmp_path / backend, extra_cflags=flags)
        assert PortableHostReference(tmp_path / "net16.tflite", binary=binary).run_many(batch) == expected, backend


def test_keras_gru_quantized_int16x8(tmp_path):
    """A Keras GRU quantized with --mode int16x8 (the converter unrolls it: FULLY_CONNECTED, ADD, SUB, MUL, LOGISTIC,
    TANH, SPLIT, STRIDED_SLICE, UNPACK, then SOFTMAX, 128 ops for 8 steps) compiles and equals TFLM."""
    pytest.importorskip("tensorflow", reason="TensorFlow is needed to quantize the Keras model")
    import keras

    from conftest import run_cli
    from compiler_util import SANITIZE, require_gcc
    from edgeq.compiler import build_host
    from edgeq.reference import PortableHostReference, TflmReference
    from edgeq.tflite import read_model

    require_gcc()
    tflm_runtime()
    x = keras.Input((8, 3), batch_size=1)
    keras.Model(x, keras.layers.Dense(4, activation="softmax")(keras.layers.GRU(6)(x))).save(tmp_path / "gru.keras")
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).normal(size=(32, 8, 3)).astype(np.float32))
    proc = run_cli("quantize", "gru.keras", "--mode", "int16x8", "--data", "calib.npy", "-o", "gru16.tflite",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ops = {o.opcode for o in read_model(tmp_path / "gru16.tflite").operators}
    assert {"SPLIT", "STRIDED_SLICE", "UNPACK", "SUB", "TANH", "LOGISTIC"} <= ops, ops
    proc = run_cli("compile", "gru16.tflite", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    binary = build_host(tmp_path / "out", extra_cflags=SANITIZE)
    rng = np.random.default_rng(3)
    batch = int16_batch(24, seed=4) + [rng.normal(0, 3000, size=24).astype(np.int16).tobytes() for _ in range(4)]
    path = tmp_path / "gru16.tflite"
    assert PortableHostReference(path, binary=binary).run_many(batch) == TflmReference(path).run_many(batch)


def _int16x8_prelu(src, dst) -> None:
    """The converter's int8 PRELU model retyped as TFLM's int16x8 PRELU (prelu.cc: int16 input and output, int8
    alpha): the activation tensors become int16 with zero point 0, the alpha constant stays int8. TF 2.21's converter
    makes no int16x8 PRELU itself, and every other op it writes in int16x8 models has an edgeq int16 kernel."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    g = mt.subgraphs[0]
    (op,) = g.operators
    assert mt.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.PRELU
    for t in (op.inputs[0], op.outputs[0]):
        assert g.tensors[t].type == schema.TensorType.INT8
        g.tensors[t].type = schema.TensorType.INT16
        g.tensors[t].quantization.zeroPoint = [0]
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))


def test_int16_op_without_int16_kernel_is_refused(single_op_model, tmp_path):
    """PRELU has an int16 kernel in TFLM (int16 activations, int8 alpha) but not in edgeq: TFLM runs the model,
    compile refuses it in one line naming the operator and --runtime tflm, inspect's verdict is TFLM, and no output
    folder is left."""
    import json

    from conftest import assert_user_error, run_cli
    from edgeq.reference import TflmReference
    from edgeq.tflite import read_model
    from edgeq.tflite.check import model_kind

    src = single_op_model({"op": "prelu", "inputs": [[4, 5, 3]], "seed": 3, "range": 3.0})
    _int16x8_prelu(src, tmp_path / "prelu16.tflite")
    assert model_kind(read_model(tmp_path / "prelu16.tflite")) == "int16x8"
    tflm_runtime()
    out = TflmReference(tmp_path / "prelu16.tflite").run_many(int16_batch(60, seed=1))
    assert len(out) == 5 and len(set(out)) > 1  # TFLM's int16 PRELU runs it
    assert_user_error(run_cli("compile", "prelu16.tflite", "-o", "out", cwd=tmp_path), "operator 0 (PRELU)",
                      "int16", "--runtime tflm")
    assert not (tmp_path / "out").exists()
    proc = run_cli("inspect", "prelu16.tflite", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = json.dumps(json.loads(proc.stdout))
    assert '"verdict": "tflm"' in text and "PRELU" in text


# ---- --backend cmsis-nn: CMSIS-NN's s16 kernels where they are bit-exact with TFLM --------------------------------

CMSIS_INT16 = [  # spec, op, the CMSIS-NN function (or edgeq kernel) that must run it
    ({"op": "avgpool", "inputs": [[7, 6, 5]], "pool": [3, 2], "strides": [2, 1], "padding": "same"}, "AVERAGE_POOL_2D",
     "arm_avgpool_s16"),
    ({"op": "maxpool", "inputs": [[7, 6, 5]], "pool": [2, 3], "strides": [1, 2], "padding": "same", "act": "relu"},
     "MAX_POOL_2D", "arm_max_pool_s16"),
    ({"op": "add", "inputs": [[4, 5, 3], [4, 5, 3]], "ranges": [2.0, 9.0], "act": "relu"}, "ADD",
     "arm_elementwise_add_s16"),
    ({"op": "mul", "inputs": [[4, 5, 3], [4, 5, 3]], "ranges": [2.0, 0.3]}, "MUL", "arm_elementwise_mul_s16"),
    # arm_batch_matmul_s16 is not mapped: the cmsis-nn backend keeps edgeq's int16 kernel (docs/cmsis-nn.md)
    ({"op": "matmul", "inputs": [[2, 3, 4], [2, 5, 4]], "transpose_b": True, "ranges": [3.0, 3.0],
      "input_names": ["a_lhs", "b_rhs"]}, "BATCH_MATMUL", "edgeq_batch_matmul_s16"),
]


@pytest.mark.parametrize("spec,op,function", CMSIS_INT16)
def test_cmsis_nn_int16_host(single_op_model, cmsis_nn_dir, tmp_path, spec, op, function):
    from compiler_util import SANITIZE, require_gcc

    from edgeq.compiler import build_host, compile_model
    from edgeq.reference import PortableHostReference, TflmReference

    require_gcc()
    tflm_runtime()
    path = single_op_model({"seed": 3, **spec, "int16x8": True})
    compile_model(path, target="host", backend="cmsis-nn", out_dir=tmp_path / "o", cmsis_nn_dir=cmsis_nn_dir)
    assert f"{function}(" in (tmp_path / "o" / "model.c").read_text()
    # CMSIS-NN's own sources shift negative values (see tests/test_compiler_cmsis_nn.py)
    binary = build_host(tmp_path / "o", extra_cflags=SANITIZE + " -fno-sanitize=shift,signed-integer-overflow")
    tflm = TflmReference(path)
    batch = int16_batch(sum(s.nbytes for s in tflm.inputs) // 2, seed=7, count=6)
    assert PortableHostReference(path, binary=binary).run_many(batch) == tflm.run_many(batch)
