"""TRANSPOSE folded into the MEAN that reads it (edgeq.compiler.ops.transpose.transpose_folds): no code and no buffer
for the transposed tensor when the transpose only reorders reduced axes; byte-identical with TFLM either way."""

from __future__ import annotations

import numpy as np
import pytest

from compiler_util import compile_and_build, single_op_model, tflm_runtime  # noqa: F401

pytestmark = pytest.mark.tf


def _check(single_op_model, tmp_path, spec: dict):
    from edgeq.reference import PortableHostReference, TflmReference

    tflm_runtime()
    path = single_op_model(spec)
    binary, res = compile_and_build(path, tmp_path / "out")
    tflm = TflmReference(path)
    rng = np.random.default_rng(3)
    batch = [rng.integers(0, 256, size=sum(s.nbytes for s in tflm.inputs), dtype=np.uint8).tobytes()
             for _ in range(6)]
    assert PortableHostReference(path, binary=binary).run_many(batch) == tflm.run_many(batch)
    return path, res


@pytest.mark.parametrize("shape,perm,axis,keepdims,folded", [
    ([5, 6, 4], [0, 3, 1, 2], [2, 3], False, True),  # MCUNet: NHWC -> NCHW, mean over H, W
    ([5, 6, 4], [0, 3, 1, 2], [2, 3], True, True),  # keepdims: [1, C, 1, 1], the same bytes as [1, 1, 1, C]
    ([3, 4, 5], [0, 2, 3, 1], [1, 2], False, True),  # reduced axes moved in front of the kept one
    ([3, 4, 5], [0, 2, 1, 3], [3], False, False),  # the kept axes swap: the output order depends on the transpose
    ([6, 7], [0, 2, 1], [1], False, True),  # 3-D
])
def test_transpose_mean(single_op_model, tmp_path, shape, perm, axis, keepdims, folded):
    spec = {"op": "transpose_mean", "inputs": [shape], "perm": perm, "axis": axis, "keepdims": keepdims,
            "seed": 1, "range": 3.0}
    path, res = _check(single_op_model, tmp_path, spec)
    assert set(res.op_counts) == {"TRANSPOSE", "MEAN"}, res.op_counts
    row = next(r for r in res.memory_report if r["op"] == "TRANSPOSE")
    model_c = (res.out_dir / "model.c").read_text()
    kernels = {r["op"]: r["kernel"] for r in res.layers}
    in_bytes, out_bytes = int(np.prod(shape)), next(r["out_bytes"] for r in res.memory_report if r["op"] == "MEAN")
    if folded:  # the memory plan has no buffer for the transposed tensor, and there is no copy
        assert row["folded_into"] == 1 and row["out_bytes"] == 0 and kernels["TRANSPOSE"] is None
        assert "edgeq_strided_copy" not in model_c and "folded into layer 1" in model_c
        assert res.arena_bytes <= _up16(in_bytes) + _up16(out_bytes)
    else:
        assert row["folded_into"] is None and row["out_bytes"] == in_bytes and "edgeq_strided_copy(" in model_c


def _up16(n: int) -> int:
    return (n + 15) // 16 * 16


def test_mcunet_like_network_folds_its_transpose_before_mean(single_op_model, tmp_path):
    """The NCHW network of test_multi_io: its first TRANSPOSE (NCHW -> NHWC, read by a CONV_2D) stays, the one
    before the MEAN over H, W is folded."""
    from test_multi_io import NCHW_NET

    path, res = _check(single_op_model, tmp_path, NCHW_NET)
    from edgeq.tflite import read_model

    transposes = [op.index for op in read_model(path).operators if op.opcode == "TRANSPOSE"]
    assert len(transposes) == 2
    rows = {r["index"]: r for r in res.memory_report}
    assert rows[transposes[0]]["folded_into"] is None and rows[transposes[0]]["out_bytes"] > 0
    mean = next(r["index"] for r in res.memory_report if r["op"] == "MEAN")
    assert rows[transposes[1]]["folded_into"] == mean and rows[transposes[1]]["out_bytes"] == 0
    assert [r["kernel"] for r in res.layers if r["op"] == "TRANSPOSE"] == ["edgeq_strided_copy", None]


def test_transpose_of_unit_axes_is_an_alias(single_op_model, tmp_path):
    """Only axes of size 1 move: the same bytes in the same order, so no copy and one buffer (as a RESHAPE; the MEAN over the last axis
    keeps the moved axes, so it is not folded). The
    converter writes such a transpose as a RESHAPE itself, so the model's RESHAPE becomes that TRANSPOSE here
    (flatbuffer edit; another exporter may keep it)."""
    import flatbuffers
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    src = single_op_model({"op": "transpose_mean", "inputs": [[3, 1, 5]], "perm": [0, 2, 1, 3], "axis": [3],
                           "keepdims": False, "seed": 2, "range": 3.0})  # [1, 3, 1, 5] -> [1, 1, 3, 5] -> MEAN
    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    sg = mt.subgraphs[0]
    op = next(o for o in sg.operators if mt.operatorCodes[o.opcodeIndex].builtinCode == schema.BuiltinOperator.RESHAPE)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.TRANSPOSE
    code.version = 1
    mt.operatorCodes.append(code)
    buf = schema.BufferT()
    buf.data = np.array([0, 2, 1, 3], dtype=np.int32).view(np.uint8).tolist()
    mt.buffers.append(buf)
    perm = schema.TensorT()
    perm.shape, perm.type, perm.buffer, perm.name = [4], schema.TensorType.INT32, len(mt.buffers) - 1, b"perm"
    sg.tensors.append(perm)
    op.opcodeIndex, op.inputs = len(mt.operatorCodes) - 1, [op.inputs[0], len(sg.tensors) - 1]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.TransposeOptions, schema.TransposeOptionsT()
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "unit_transpose.tflite"
    path.write_bytes(bytes(b.Output()))

    from edgeq.reference import PortableHostReference, TflmReference

    binary, res = compile_and_build(path, tmp_path / "out")
    assert res.op_counts == {"TRANSPOSE": 1, "MEAN": 1}, res.op_counts
    row = next(r for r in res.memory_report if r["op"] == "TRANSPOSE")
    assert row["alias"] and "edgeq_strided_copy" not in (res.out_dir / "model.c").read_text()
    batch = [bytes(range(k, k + 15)) for k in (0, 100, 200)]
    tflm = TflmReference(path)
    assert PortableHostReference(path, binary=binary).run_many(batch) == tflm.run_many(batch)
