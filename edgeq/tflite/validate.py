"""Structural validation of a :class:`~edgeq.tflite.graph.Graph`: what must hold before anything computes on it.

The reader (:mod:`edgeq.tflite.reader`) guarantees a well-formed flatbuffer; this module checks that the *model* makes
sense, so that no later stage (inspect's report, the compiler, the reference, export) meets an index out of range, an
operator without outputs, a cycle or a quantization parameter that would overflow in C:

* every tensor index in range (operator inputs/outputs, graph inputs/outputs);
* operator input/output counts, per op, from :data:`OP_ARITY` (an op the table does not list is not checked here:
  the compiler refuses unsupported ops with its own message);
* the graph: at least one input and one output, no tensor written by two operators, no operator writing its own input
  (except variable state tensors), every activation written before it is read (operators run in file order, so this
  also rules out cycles), graph outputs produced by an operator or being graph inputs;
* tensor shapes: dimensions > 0, rank and element count bounded (:data:`MAX_RANK`, :data:`MAX_ELEMENTS`);
* quantization: scales finite and normal float32 numbers > 0, zero points inside the tensor's dtype, per-channel
  parameter counts equal to the dimension of the quantized axis.

Whether each *derived* requantization multiplier has a shift the C kernels can execute is checked where the compiler
derives them (:func:`edgeq.compiler.ops.base.check_requantization`), before any C is written.

:func:`problems` lists every finding (``edgeq inspect`` shows them); :func:`validate` raises the first one as a
:class:`~edgeq.errors.ModelError` (one line naming the tensor or operator and the field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeq.errors import ModelError
from edgeq.tflite.graph import Graph

#: op name -> ((min inputs, max inputs), (min outputs, max outputs)); None = no upper bound. Input counts include
#: optional inputs left out (-1). Add a row when the compiler learns an op; an op not listed is not count-checked.
OP_ARITY: dict[str, tuple[tuple[int, int | None], tuple[int, int | None]]] = {
    "ABS": ((1, 1), (1, 1)),
    "ADD": ((2, 2), (1, 1)),
    "ARG_MAX": ((2, 2), (1, 1)),
    "ARG_MIN": ((2, 2), (1, 1)),
    "AVERAGE_POOL_2D": ((1, 1), (1, 1)),
    "BATCH_MATMUL": ((2, 2), (1, 1)),
    "CONCATENATION": ((1, None), (1, 1)),
    "CONV_2D": ((2, 3), (1, 1)),
    "DEPTHWISE_CONV_2D": ((2, 3), (1, 1)),
    "DEPTH_TO_SPACE": ((1, 1), (1, 1)),
    "DEQUANTIZE": ((1, 1), (1, 1)),
    "DIV": ((2, 2), (1, 1)),
    "ELU": ((1, 1), (1, 1)),
    "EXPAND_DIMS": ((2, 2), (1, 1)),
    "FULLY_CONNECTED": ((2, 3), (1, 1)),
    "GATHER": ((2, 2), (1, 1)),
    "HARD_SWISH": ((1, 1), (1, 1)),
    "L2_NORMALIZATION": ((1, 1), (1, 1)),
    "LEAKY_RELU": ((1, 1), (1, 1)),
    "LOGISTIC": ((1, 1), (1, 1)),
    "LOG_SOFTMAX": ((1, 1), (1, 1)),
    "MAXIMUM": ((2, 2), (1, 1)),
    "MAX_POOL_2D": ((1, 1), (1, 1)),
    "MEAN": ((2, 2), (1, 1)),
    "MINIMUM": ((2, 2), (1, 1)),
    "MUL": ((2, 2), (1, 1)),
    "PACK": ((1, None), (1, 1)),
    "PAD": ((2, 3), (1, 1)),
    "PADV2": ((3, 3), (1, 1)),
    "MIRROR_PAD": ((2, 2), (1, 1)),
    "PRELU": ((2, 2), (1, 1)),
    "QUANTIZE": ((1, 1), (1, 1)),
    "REDUCE_MAX": ((2, 2), (1, 1)),
    "REDUCE_MIN": ((2, 2), (1, 1)),
    "RELU": ((1, 1), (1, 1)),
    "RELU6": ((1, 1), (1, 1)),
    "RELU_N1_TO_1": ((1, 1), (1, 1)),
    "RESHAPE": ((1, 2), (1, 1)),
    "RESIZE_BILINEAR": ((2, 2), (1, 1)),
    "RESIZE_NEAREST_NEIGHBOR": ((2, 2), (1, 1)),
    "RSQRT": ((1, 1), (1, 1)),
    "SHAPE": ((1, 1), (1, 1)),
    "SLICE": ((3, 3), (1, 1)),
    "SOFTMAX": ((1, 1), (1, 1)),
    "SPACE_TO_DEPTH": ((1, 1), (1, 1)),
    "SPLIT": ((2, 2), (1, None)),
    "SPLIT_V": ((3, 3), (1, None)),
    "SQUARED_DIFFERENCE": ((2, 2), (1, 1)),
    "SQUEEZE": ((1, 1), (1, 1)),
    "STRIDED_SLICE": ((4, 4), (1, 1)),
    "SUB": ((2, 2), (1, 1)),
    "SUM": ((2, 2), (1, 1)),
    "SVDF": ((4, 5), (1, 1)),
    "TANH": ((1, 1), (1, 1)),
    "TRANSPOSE": ((2, 2), (1, 1)),
    "TRANSPOSE_CONV": ((3, 4), (1, 1)),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ((20, 24), (1, 1)),
    "UNPACK": ((1, 1), (1, None)),
}

#: bounds of a tensor shape (far beyond any model an MCU or this host can run; sizes stay inside int32 in C)
MAX_RANK = 8
MAX_ELEMENTS = 1 << 28
#: the smallest normal float32: a scale below it is a denormal (or zero) and no multiplier derived from it is usable
MIN_SCALE = 2.0 ** -126

#: zero-point range per integer dtype
_ZP_RANGE = {
    "int8": (-(1 << 7), (1 << 7) - 1), "uint8": (0, (1 << 8) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
    "uint16": (0, (1 << 16) - 1), "int32": (-(1 << 31), (1 << 31) - 1), "uint32": (0, (1 << 32) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1), "int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1),
}


@dataclass(frozen=True)
class Problem:
    """One structural problem: ``where`` names the tensor or operator, ``field`` the offending part."""

    where: str
    field: str
    message: str

    def one_line(self) -> str:
        return f"{self.where} {self.field}: {self.message}"

    def to_dict(self) -> dict:
        return {"where": self.where, "field": self.field, "message": self.message}


def _tname(graph: Graph, t: int) -> str:
    if 0 <= t < len(graph.tensors):
        return f"tensor {t} {graph.tensors[t].name!r}"
    return f"tensor {t}"


def _count_ok(n: int, bounds: tuple[int, int | None]) -> bool:
    lo, hi = bounds
    return n >= lo and (hi is None or n <= hi)


def _bounds_text(bounds: tuple[int, int | None]) -> str:
    lo, hi = bounds
    if hi is None:
        return f"at least {lo}"
    return str(lo) if lo == hi else f"{lo} to {hi}"


def problems(graph: Graph) -> list[Problem]:
    """Every structural problem of ``graph`` (empty when it is valid)."""
    out: list[Problem] = []
    out += _tensor_problems(graph)
    out += _graph_problems(graph)
    return out


def _tensor_problems(graph: Graph) -> list[Problem]:
    out: list[Problem] = []
    # tensors nothing computes with (LSTM "intermediates" of shape [0], say) may be empty
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        used.update(op.inputs)
        used.update(op.outputs)
    for t in graph.tensors:
        where = _tname(graph, t.index)
        shape = t.shape
        if len(shape) > MAX_RANK:
            out.append(Problem(where, "shape", f"rank {len(shape)} is above {MAX_RANK}"))
        elif any(d < 0 for d in shape) or (t.index in used and any(d == 0 for d in shape)):
            out.append(Problem(where, "shape", f"{list(shape)} has a dimension <= 0"))
        elif math.prod(shape) > MAX_ELEMENTS:
            out.append(Problem(where, "shape", f"{list(shape)} has {math.prod(shape):,} elements, more than "
                                               f"{MAX_ELEMENTS:,}"))
        q = t.quant
        if q is None or not q.scale:
            continue
        for k, s in enumerate(q.scale):
            if not math.isfinite(s) or not s >= MIN_SCALE:
                out.append(Problem(where, "quantization.scale",
                                   f"scale[{k}] = {s:.6g} must be a finite number >= {MIN_SCALE:.3g} (a normal "
                                   f"float32 > 0)"))
                break
        zp_range = _ZP_RANGE.get(t.dtype)
        if zp_range is not None:
            lo, hi = zp_range
            for k, z in enumerate(q.zero_point):
                if not lo <= z <= hi:
                    out.append(Problem(where, "quantization.zero_point",
                                       f"zero_point[{k}] = {z} is outside {t.dtype} [{lo}, {hi}]"))
                    break
        if len(q.zero_point) != len(q.scale):
            out.append(Problem(where, "quantization.zero_point",
                               f"{len(q.zero_point)} zero points for {len(q.scale)} scales"))
        if len(q.scale) > 1:
            if len(shape) == 1 and q.axis >= 1 and shape[0] == len(q.scale):
                pass  # older converters store the filter's axis (3) on 1-D per-channel biases; TFLM ignores it
            elif not 0 <= q.axis < len(shape):
                out.append(Problem(where, "quantization.quantized_dimension",
                                   f"axis {q.axis} is outside shape {list(shape)}"))
            elif shape[q.axis] != len(q.scale):
                out.append(Problem(where, "quantization.scale",
                                   f"{len(q.scale)} per-channel scales, but dimension {q.axis} of {list(shape)} is "
                                   f"{shape[q.axis]}"))
    return out


def _graph_problems(graph: Graph) -> list[Problem]:
    out: list[Problem] = []
    n = len(graph.tensors)
    if not graph.inputs:
        out.append(Problem("subgraph", "inputs", "the graph has no inputs"))
    if not graph.outputs:
        out.append(Problem("subgraph", "outputs", "the graph has no outputs"))
    for what, lst in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        for t in lst:
            if not 0 <= t < n:
                out.append(Problem("subgraph", what, f"refers to tensor {t}, but the model has {n} tensors"))
    graph_inputs = {t for t in graph.inputs if 0 <= t < n}
    written: dict[int, int] = {}  # tensor -> operator that writes it
    writers: dict[int, int] = {}  # tensor -> first operator that writes it (anywhere in the graph)
    for op in graph.operators:
        for t in op.outputs:
            writers.setdefault(t, op.index)
    for op in graph.operators:
        where = f"operator {op.index} ({op.opcode})"
        bad = False
        for what, lst, optional in (("inputs", op.inputs, True), ("outputs", op.outputs, False)):
            for t in lst:
                if (t == -1 and optional) or 0 <= t < n:
                    continue
                out.append(Problem(where, what, f"refers to tensor {t}, but the model has {n} tensors"))
                bad = True
        arity = OP_ARITY.get(op.opcode)
        if arity is not None:
            for what, lst, bounds in (("inputs", op.inputs, arity[0]), ("outputs", op.outputs, arity[1])):
                if not _count_ok(len(lst), bounds):
                    out.append(Problem(where, what, f"{len(lst)} {what}; {op.opcode} takes {_bounds_text(bounds)}"))
                    bad = True
        if bad:
            continue
        for t in op.inputs:
            if t < 0:
                continue
            tensor = graph.tensors[t]
            if t in graph_inputs or tensor.is_constant or tensor.is_variable or t in written or t not in writers:
                continue  # a tensor no operator writes is scratch / state the runtime provides
            out.append(Problem(where, "inputs", f"reads {_tname(graph, t)} before operator {writers[t]} writes it "
                                                f"(the operators are not in execution order, or the graph has a "
                                                f"cycle)"))
        for t in op.outputs:
            tensor = graph.tensors[t]
            if t in op.inputs and not tensor.is_variable:
                out.append(Problem(where, "outputs", f"writes its own input {_tname(graph, t)}"))
            elif t in written:
                out.append(Problem(where, "outputs", f"writes {_tname(graph, t)}, which operator {written[t]} "
                                                     f"already writes"))
            elif t in graph_inputs:
                out.append(Problem(where, "outputs", f"writes the graph input {_tname(graph, t)}"))
            elif tensor.is_constant:
                out.append(Problem(where, "outputs", f"writes the constant {_tname(graph, t)}"))
            written.setdefault(t, op.index)
    for t in graph.outputs:
        if 0 <= t < n and t not in written and t not in graph_inputs and not graph.tensors[t].is_constant:
            out.append(Problem("subgraph", "outputs", f"{_tname(graph, t)} is a graph output no operator writes"))
    return out


def validate(graph: Graph) -> Graph:
    """Return ``graph`` when it is structurally valid; else raise the first problem as a one-line ModelError."""
    found = problems(graph)
    if found:
        p = found[0]
        more = f" (and {len(found) - 1} more problem{'s' if len(found) > 2 else ''}: edgeq inspect lists them)" \
            if len(found) > 1 else ""
        raise ModelError(f"invalid model: {p.one_line()}{more}", where=graph.source or graph.name,
                         hint="the file is damaged or was not written by a TFLite converter")
    return graph
