"""PADV2, MIRROR_PAD, REDUCE_MAX, REDUCE_MIN, SUM, ABS: single-op models from the TF converter, compiled for host under
ASan/UBSan, compared byte for byte with TFLM on random inputs (ABS: on all 256 int8 values)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

pytestmark = pytest.mark.tf
_counter = itertools.count()
_FEW = settings(max_examples=3, deadline=None, phases=[Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="session")
def check_op(single_op_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("reduce")
    tflm_runtime()

    def check(spec: dict, op: str, batch: list[bytes] | None = None) -> None:
        from edgeq.reference import PortableHostReference, TflmReference

        path = single_op_model(spec)
        binary, res = compile_and_build(path, root / f"m{next(_counter)}")
        assert op in res.op_counts, (op, res.op_counts)
        tflm = TflmReference(path)
        host = PortableHostReference(path, binary=binary)
        rng = np.random.default_rng(len(str(spec)))
        n = sum(s.nbytes for s in tflm.inputs)
        batch = batch or [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for _ in range(4)]
        assert host.run_many(batch) == tflm.run_many(batch)

    return check


@given(rank=st.integers(2, 4), value=st.sampled_from([-1.5, 0.75, 3.0]), data=st.data())
@_FEW
def test_padv2(check_op, rank, value, data):
    shape = [data.draw(st.integers(1, 4)) for _ in range(rank - 1)]
    pads = [[0, 0]] + [[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] for _ in range(rank - 1)]
    pads[1][0] = max(pads[1][0], 1)  # all-zero paddings: the converter drops the op
    check_op({"op": "padv2", "inputs": [shape], "padding": pads, "value": value, "seed": 3}, "PADV2")


@given(rank=st.integers(2, 4), keepdims=st.booleans(), data=st.data())
@_FEW
def test_reduce_max_min(check_op, rank, keepdims, data):
    axes = data.draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    # a reduced axis of size > 1: reducing only size-1 axes is an identity the converter drops
    shape = [data.draw(st.integers(2 if k + 1 == axes[0] else 1, 5)) for k in range(rank - 1)]
    for op, name in (("reduce_max", "REDUCE_MAX"), ("reduce_min", "REDUCE_MIN")):
        check_op({"op": op, "inputs": [shape], "axis": axes, "keepdims": keepdims, "seed": 1}, name)


@given(rank=st.integers(2, 4), keepdims=st.booleans(), data=st.data())
@_FEW
def test_sum(check_op, rank, keepdims, data):
    axes = data.draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    # a reduced axis of size > 1: reducing only size-1 axes is an identity the converter drops
    shape = [data.draw(st.integers(2 if k + 1 == axes[0] else 1, 6)) for k in range(rank - 1)]
    check_op({"op": "reduce_sum", "inputs": [shape], "axis": axes, "keepdims": keepdims, "seed": 2}, "SUM")


def test_sum_int16(check_op):
    check_op({"op": "reduce_sum", "inputs": [[3, 4, 5]], "axis": [1, 2], "int16x8": True}, "SUM")


@pytest.mark.parametrize("r,center", [(0.5, 0.0), (8.0, 2.0), (20.0, -9.0)])
def test_abs_every_int8_value(check_op, r, center):
    """One input holds all 256 int8 values: every entry of ABS's input -> output map against TFLM."""
    check_op({"op": "abs", "inputs": [[256]], "range": r, "centers": [center], "seed": 4}, "ABS",
             batch=[np.arange(-128, 128, dtype=np.int8).tobytes()])


@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
@given(h=st.integers(2, 5), w=st.integers(2, 5), data=st.data())
@_FEW
def test_mirror_pad(check_op, mode, h, w, data):
    most = 1 if mode == "REFLECT" else 0  # REFLECT pads at most size - 1, SYMMETRIC at most size
    pads = [[0, 0], [data.draw(st.integers(0, h - most)), data.draw(st.integers(0, h - most))],
            [data.draw(st.integers(1, w - most)), data.draw(st.integers(0, w - most))], [0, 0]]
    check_op({"op": "mirror_pad", "inputs": [[h, w, 3]], "padding": pads, "mode": mode, "seed": 6}, "MIRROR_PAD")

