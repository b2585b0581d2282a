"""TANH, LEAKY_RELU, HARD_SWISH, PRELU, ARG_MAX, ARG_MIN, MAXIMUM, MINIMUM, SUB, SQUARED_DIFFERENCE: single-op
models from the TF converter, compiled for host under ASan/UBSan, compared byte for byte with TFLM. The unary ops
are checked exhaustively: one input holds all 256 int8 values, so every entry of the input -> output map is
compared; the binary ops with hypothesis-drawn broadcast shapes and constant operands."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

pytestmark = pytest.mark.tf
_counter = itertools.count()


@pytest.fixture(scope="session")
def check_ew(single_op_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("ew")
    tflm_runtime()

    def check(spec: dict, op: str, batch: list[bytes] | None = None):
        from edgeq.reference import PortableHostReference, TflmReference

        path = single_op_model(spec)
        binary, res = compile_and_build(path, root / f"m{next(_counter)}")
        assert op in res.op_counts, (op, res.op_counts)
        tflm = TflmReference(path)
        host = PortableHostReference(path, binary=binary)
        if batch is None:
            rng = np.random.default_rng(len(str(spec)))
            n = sum(s.nbytes for s in tflm.inputs)
            batch = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for _ in range(4)]
        assert host.run_many(batch) == tflm.run_many(batch)
        return path

    return check


ALL_INT8 = [np.arange(-128, 128, dtype=np.int8).tobytes()]


@pytest.mark.parametrize("r,center", [(0.5, 0.0), (8.0, 2.0), (20.0, -9.0)])
def test_tanh_every_int8_value(check_ew, r, center):
    path = check_ew({"op": "tanh", "inputs": [[16, 16]], "range": r, "centers": [center], "seed": 1}, "TANH",
                    ALL_INT8)
    from edgeq.tflite import read_model

    x = read_model(path).input_tensors()[0]
    assert x.nbytes == 256  # the one input holds every int8 value


@pytest.mark.parametrize("alpha,r,center", [(0.2, 2.0, 0.0), (0.01, 6.0, 2.0), (1.7, 3.0, -0.5)])
def test_leaky_relu_every_int8_value(check_ew, alpha, r, center):
    check_ew({"op": "leaky_relu", "inputs": [[16, 16]], "alpha": alpha, "range": r, "centers": [center], "seed": 1},
             "LEAKY_RELU", ALL_INT8)


@pytest.mark.parametrize("r,center", [(4.0, 0.0), (30.0, -10.0), (0.2, 0.1)])
def test_hard_swish_every_int8_value(check_ew, r, center):
    check_ew({"op": "hard_swish", "inputs": [[16, 16]], "range": r, "centers": [center], "seed": 1}, "HARD_SWISH",
             ALL_INT8)


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@st.composite
def binary_specs(draw):
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    other = [d if draw(st.booleans()) else 1 for d in shape]
    op = draw(st.sampled_from(["maximum", "minimum"]))
    spec = {"op": op, "inputs": [shape], "seed": draw(st.integers(0, 50)),
            "centers": [draw(st.sampled_from([0.0, 1.5, -2.0]))]}
    if draw(st.booleans()):
        spec["const_shape"] = [1, *other]
    else:
        spec["inputs"] = [shape, other]
        spec["centers"] = spec["centers"] * 2
        spec["ranges"] = [2.0, draw(st.sampled_from([1.0, 4.0]))]
    return spec


@_settings(4)
@given(spec=binary_specs())
def test_maximum_minimum(check_ew, spec):
    check_ew(spec, spec["op"].upper())


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_two_inputs_broadcast(check_ew, op):
    check_ew({"op": op, "inputs": [[4, 5, 3], [1, 5, 1]], "ranges": [2.0, 2.0], "seed": 2}, op.upper())


@st.composite
def sub_specs(draw):
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    other = [d if draw(st.booleans()) else 1 for d in shape]
    spec = {"op": "sub", "inputs": [shape], "seed": draw(st.integers(0, 50)),
            "act": draw(st.sampled_from([None, "relu"])),
            "centers": [draw(st.sampled_from([0.0, 1.5, -2.0]))], "range": draw(st.sampled_from([0.5, 2.0, 6.0]))}
    if draw(st.booleans()):
        spec["const_shape"] = [1, *other]
    else:
        spec["inputs"] = [shape, other]
        spec["centers"] = spec["centers"] * 2
        spec["ranges"] = [spec["range"], draw(st.sampled_from([0.3, 1.0, 4.0]))]
    return spec


@_settings(5)
@given(spec=sub_specs())
def test_sub(check_ew, spec):
    check_ew(spec, "SUB")


def test_sub_params_are_adds_in_double():
    """SUB's multipliers are ADD's (double arithmetic, as the TFLM interpreter computes them), for int8 and int16;
    the float32 variant of some sub_common.cc revisions differs on these scales and is 1 off TFLM (see
    test_compiler_int16_ops.py::test_sub_int16_gru_update_gate)."""
    from edgeq.quant import fixedpoint as fp

    rng = np.random.default_rng(0)
    for s1, s2, so in rng.uniform(1e-3, 0.1, size=(100, 3)):
        for left_shift in (15, 20):
            assert fp.sub_params(s1, s2, so, left_shift) == fp.add_params(s1, s2, so, left_shift)


@pytest.mark.parametrize("shape,shared,r,center", [([4, 5, 6], [1, 2], 2.0, 0.0), ([3, 7], None, 4.0, 1.0)])
def test_prelu(check_ew, shape, shared, r, center):
    check_ew({"op": "prelu", "inputs": [shape], "shared_axes": shared, "range": r, "centers": [center], "seed": 4},
             "PRELU")


@pytest.mark.parametrize("op,shape,axis,out", [("argmax", [10], -1, "int32"), ("argmin", [5, 7], 1, "int32"),
                                               ("argmax", [3, 4, 5], 1, "int32")])
def test_arg_min_max(check_ew, op, shape, axis, out):
    rng = np.random.default_rng(3)
    n = int(np.prod(shape))
    batch = [rng.integers(-3, 3, size=n, dtype=np.int8).tobytes() for _ in range(3)]  # many ties: the first wins
    batch += [rng.integers(-128, 128, size=n, dtype=np.int8).tobytes() for _ in range(3)]
    check_ew({"op": op, "inputs": [shape], "axis": axis, "out": out, "seed": 1}, op.upper().replace("ARG", "ARG_"),
             batch)


def test_arg_max_int64_output_is_refused_like_tflm(single_op_model, tmp_path):
    """TFLM's ARG_MAX writes int32 only (its Invoke fails on int64): the compiler says so, with the fix."""
    from conftest import assert_user_error, run_cli

    path = single_op_model({"op": "argmax", "inputs": [[4, 6]], "axis": 1, "out": "int64", "seed": 1})
    assert_user_error(run_cli("compile", path, "-o", tmp_path / "o"), "operator 0 (ARG_MAX)", "int64",
                      "int32 only", "output_type=tf.int32")


@pytest.mark.parametrize("shapes,ranges,centers", [([[4, 5, 3], [4, 5, 3]], [2.0, 0.5], [0.0, 1.0]),
                                                   ([[3, 6], [1, 6]], [4.0, 4.0], [-1.0, 2.0])])
def test_squared_difference(check_ew, shapes, ranges, centers):
    check_ew({"op": "squared_difference", "inputs": shapes, "ranges": ranges, "centers": centers, "seed": 2},
             "SQUARED_DIFFERENCE")


@pytest.mark.parametrize("shapes,ta,tb", [([[2, 3, 4], [2, 4, 5]], False, False), ([[3, 6], [6, 2]], False, False),
                                          ([[2, 3, 4], [2, 5, 4]], False, True), ([[4, 3], [4, 5]], True, False)])
def test_batch_matmul(check_ew, shapes, ta, tb):
    path = check_ew({"op": "matmul", "inputs": shapes, "ranges": [2.0, 3.0], "centers": [0.5, -0.5], "seed": 3,
                     "transpose_a": ta, "transpose_b": tb, "input_names": ["a_lhs", "b_rhs"]}, "BATCH_MATMUL")
    from edgeq.tflite import read_model

    bmm = next(op for op in read_model(path).operators if op.opcode == "BATCH_MATMUL")
    # the converter folded the transposes into adj_x / adj_y
    assert (bool(bmm.options.get("adj_x")), bool(bmm.options.get("adj_y"))) == (ta, tb)


@pytest.mark.parametrize("spec", [
    {"inputs": [[4, 4, 3]], "filters": 5, "kernel": [3, 3], "strides": [2, 2], "padding": "same"},
    {"inputs": [[3, 5, 2]], "filters": 4, "kernel": [2, 3], "strides": [1, 2], "padding": "valid", "act": "relu"},
    {"inputs": [[5, 3, 4]], "filters": 3, "kernel": [4, 4], "strides": [3, 2], "padding": "same", "bias": False},
])
def test_transpose_conv(check_ew, spec):
    check_ew({"op": "transpose_conv", "seed": 2, **spec}, "TRANSPOSE_CONV")


def test_batch_matmul_multiplier_as_tflm(single_op_model, tmp_path):
    """Scales set by hand in the converter's model whose float32 product gives another 31-bit multiplier (1082196845)
    than the double product (1082196819): TFLM's outputs follow the double product, and so do edgeq's (5,000 random
    inputs; with the float32 product one of them differs)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    from edgeq.reference import PortableHostReference, TflmReference

    tflm_runtime()
    src = single_op_model({"op": "matmul", "inputs": [[3, 6], [6, 2]], "ranges": [2.0, 3.0], "centers": [0.5, -0.5],
                           "seed": 3, "input_names": ["a_lhs", "b_rhs"]})
    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    g = mt.subgraphs[0]
    (op,) = g.operators
    for t, s in zip((op.inputs[0], op.inputs[1], op.outputs[0]),
                    (0.053035445511341095, 0.016894757747650146, 0.45517852902412415)):
        g.tensors[t].quantization.scale = [s]
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "bmm.tflite"
    path.write_bytes(bytes(b.Output()))
    binary, _ = compile_and_build(path, tmp_path / "o")
    tflm = TflmReference(path)
    rng = np.random.default_rng(0)
    n = sum(s.nbytes for s in tflm.inputs)
    batch = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for _ in range(5000)]
    assert PortableHostReference(path, binary=binary).run_many(batch) == tflm.run_many(batch)
