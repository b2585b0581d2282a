"""What a TFLM (TensorFlow Lite for Microcontrollers) export needs from the model: the op resolver entries and the
tensor arena size, measured with the TFLM reference interpreter (the ``tflite-micro`` Python package).

* :func:`resolver_entries` lists exactly the ops the operators execute (not the opcode table, which may list unused
  ops), each as its ``MicroMutableOpResolver::Add...()`` call, with the int8-only kernel registration where TFLM has
  one (they leave out the float code paths: ~30 KB less flash with CMSIS-NN).
* :func:`measure_arena` finds the smallest arena for which ``AllocateTensors`` and ``Invoke`` succeed, by bisection.
  ``arena_used_bytes()`` alone is not enough: AllocateTensors needs temporary room on top (444 B for the AD model).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import ToolchainError, UnsupportedError

# op -> MicroMutableOpResolver method, for the ops whose method name is not the plain CamelCase of the op name
_METHOD_EXCEPTIONS = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "MAX_POOL_2D": "AddMaxPool2D",
    "L2_POOL_2D": "AddL2Pool2D",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "RELU6": "AddRelu6",
    "RELU_N1_TO_1": "AddReluN1To1",
    "RELU_0_TO_1": "AddRelu0To1",
    "PADV2": "AddPadV2",
    "SPLIT_V": "AddSplitV",
    "ADD_N": "AddAddN",
    "GATHER_ND": "AddGatherNd",
    "L2_NORMALIZATION": "AddL2Normalization",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "SVDF": "AddSvdf",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "READ_VARIABLE": "AddReadVariable",
    "VAR_HANDLE": "AddVarHandle",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "CALL_ONCE": "AddCallOnce",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "EXPAND_DIMS": "AddExpandDims",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "SUM": "AddSum",
    "HARD_SWISH": "AddHardSwish",
    "LEAKY_RELU": "AddLeakyRelu",
    "PRELU": "AddPrelu",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "STRIDED_SLICE": "AddStridedSlice",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "GREATER_EQUAL": "AddGreaterEqual",
    "LESS_EQUAL": "AddLessEqual",
    "NOT_EQUAL": "AddNotEqual",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGICAL_NOT": "AddLogicalNot",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "MIRROR_PAD": "AddMirrorPad",
}

# ops with an int8-only registration (tensorflow/lite/micro/kernels/*.h: Register_<OP>_INT8), used when the op's
# first input is int8
_INT8_REGISTRATIONS = {
    "FULLY_CONNECTED": "Register_FULLY_CONNECTED_INT8",
    "CONV_2D": "Register_CONV_2D_INT8",
    "DEPTHWISE_CONV_2D": "Register_DEPTHWISE_CONV_2D_INT8",
    "SOFTMAX": "Register_SOFTMAX_INT8",
    "AVERAGE_POOL_2D": "Register_AVERAGE_POOL_2D_INT8",
    "MAX_POOL_2D": "Register_MAX_POOL_2D_INT8",
    "ADD": "Register_ADD_INT8",
    "MUL": "Register_MUL_INT8",
    "SVDF": "Register_SVDF_INT8",
    "TRANSPOSE_CONV": "Register_TRANSPOSE_CONV_INT8",
    "BATCH_MATMUL": "Register_BATCH_MATMUL_INT8",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "Register_UNIDIRECTIONAL_SEQUENCE_LSTM_INT8",
    "PAD": "Register_PAD_INT8",
    "MAXIMUM": "Register_MAXIMUM_INT8",
    "MINIMUM": "Register_MINIMUM_INT8",
    "TRANSPOSE": "Register_TRANSPOSE_INT8",
}


@dataclass(frozen=True)
class ResolverEntry:
    op: str  # TFLite builtin name, e.g. "FULLY_CONNECTED"
    method: str  # "AddFullyConnected"
    registration: str | None  # "Register_FULLY_CONNECTED_INT8" or None (the default registration)

    @property
    def call(self) -> str:
        arg = f"tflite::{self.registration}()" if self.registration else ""
        return f"{self.method}({arg})"

    def to_dict(self) -> dict:
        return {"op": self.op, "method": self.method, "registration": self.registration, "call": self.call}


def resolver_method(op: str) -> str:
    if op in _METHOD_EXCEPTIONS:
        return _METHOD_EXCEPTIONS[op]
    return "Add" + "".join(part.capitalize() for part in op.split("_"))


def resolver_entries(graph) -> list[ResolverEntry]:
    """One entry per op the model's operators execute, in first-use order."""
    entries: list[ResolverEntry] = []
    int8_everywhere: dict[str, bool] = {}
    for op in graph.operators:
        if op.opcode.startswith("CUSTOM:"):
            raise UnsupportedError(f"custom op {op.opcode[7:]!r} (operator {op.index}): the TFLM export lists "
                                   "builtin ops only", where=graph.source or graph.name,
                                   hint="register the custom op in the sketch yourself")
        first = next((graph.tensors[i] for i in op.inputs if i >= 0), None)
        is_int8 = first is not None and first.dtype == "int8"
        int8_everywhere[op.opcode] = int8_everywhere.get(op.opcode, True) and is_int8
    for name in graph.ops_used:
        reg = _INT8_REGISTRATIONS.get(name) if int8_everywhere.get(name) else None
        entries.append(ResolverEntry(op=name, method=resolver_method(name), registration=reg))
    return entries


@contextlib.contextmanager
def _quiet_fd2():
    """TFLM prints allocation failures on the C stderr; keep them out of the user's terminal while bisecting."""
    try:
        fd = os.dup(2)
    except OSError:  # pragma: no cover
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def _tflm_runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except Exception as exc:  # ImportError, or a wheel that fails to load
        raise ToolchainError(f"the TFLM reference interpreter is not available ({type(exc).__name__}: {exc})",
                             hint="pip install 'edgeq[micro]' (tflite-micro, Linux x86-64)") from None
    return runtime


def _works(runtime, data: bytes, arena: int, sample) -> bool:
    try:
        it = runtime.Interpreter.from_bytes(data, arena_size=arena)
        for i, x in enumerate(sample):
            it.set_input(x, i)
        it.invoke()
        return True
    except (RuntimeError, ValueError):
        return False


def measure_arena(model_path: str | os.PathLike, graph=None) -> dict:
    """Smallest tensor arena (bytes) that TFLM's reference interpreter accepts for this model (AllocateTensors and
    one Invoke), found by bisection; measured on this 64-bit host, so an upper bound for a 32-bit MCU (TFLM's
    persistent structures hold pointers)."""
    import numpy as np

    runtime = _tflm_runtime()
    data = Path(model_path).read_bytes()
    if graph is None:
        from edgeq.tflite import read_model

        graph = read_model(model_path)
    sample = [np.zeros(t.shape, dtype=np.dtype(t.dtype)) for t in graph.input_tensors()]
    hi = max(16 * 1024, 4 * len(data))
    with _quiet_fd2():
        while not _works(runtime, data, hi, sample):
            hi *= 2
            if hi > 1 << 30:
                raise UnsupportedError("the TFLM interpreter cannot allocate this model with any arena size",
                                       where=str(model_path))
        lo = 0  # lo fails, hi works
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _works(runtime, data, mid, sample):
                hi = mid
            else:
                lo = mid
        used = None
        try:
            it = runtime.Interpreter.from_bytes(data, arena_size=hi)
            used = _arena_used(it)
        except Exception:  # pragma: no cover - informational only
            used = None
    return {"arena_bytes": hi, "arena_used_bytes": used, "host_bits": 64, "method": "bisection over "
            "AllocateTensors + Invoke with the tflite-micro reference interpreter"}


def _arena_used(it) -> int | None:
    """arena_used_bytes() is not exposed by the Python wrapper; read it from PrintAllocations() when possible."""
    r, w = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(w, 2)
        os.close(w)
        it.print_allocations()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    with os.fdopen(r, "rb") as f:
        text = f.read(1 << 16).decode("utf-8", "replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(m.group(1)) if m else None
