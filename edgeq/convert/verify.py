"""Is a .tflite really fully int8? Name the first tensor that is not, and the op that produces it.

Generic over any :class:`edgeq.tflite.Graph`: PTQ (:mod:`edgeq.convert.ptq`) and QAT both call
:func:`require_full_int8` on what the converter returned.
"""

from __future__ import annotations

from edgeq.errors import ModelError
from edgeq.tflite import Graph, Operator, Tensor, parse_model

FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")
#: non-float activation types that are still not int8 quantization (legacy uint8, int16x8)
OTHER_QUANT_TYPES = ("uint8", "int16")
#: ops whose input at the given index is a weight that must be int8
WEIGHT_INPUTS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}


#: int16 state tensors an int8 model has by design: (op, input index). TFLM's int8 LSTM keeps its cell state in
#: int16 (the converter's int8 UNIDIRECTIONAL_SEQUENCE_LSTM, as in tflite-micro's mnist_lstm example).
INT16_STATE_INPUTS = {("UNIDIRECTIONAL_SEQUENCE_LSTM", 19)}


def int16_state_tensors(graph: Graph) -> set[int]:
    """Indices of the int16 state tensors an int8 model may contain (see :data:`INT16_STATE_INPUTS`)."""
    out: set[int] = set()
    for op in graph.operators:
        for opcode, i in INT16_STATE_INPUTS:
            if op.opcode == opcode and len(op.inputs) > i and op.inputs[i] >= 0 \
                    and graph.tensors[op.inputs[i]].dtype == "int16":
                out.add(op.inputs[i])
    return out


def producers(graph: Graph) -> dict[int, Operator]:
    """tensor index -> the operator that writes it."""
    return {t: op for op in graph.operators for t in op.outputs if t >= 0}


def _io_exempt(graph: Graph, tensor: int, prod: dict[int, Operator], consumers: dict[int, list[int]]) -> bool:
    """A float graph input read only by QUANTIZE, or a float graph output written by DEQUANTIZE (float I/O)."""
    if tensor in graph.inputs:
        readers = consumers.get(tensor, [])
        return bool(readers) and all(graph.operators[i].opcode == "QUANTIZE" for i in readers)
    if tensor in graph.outputs:
        op = prod.get(tensor)
        return op is not None and op.opcode == "DEQUANTIZE"
    return False


def float_tensors(graph: Graph, *, allow_float_io: bool = False,
                  bad_types: tuple[str, ...] = FLOAT_TYPES + OTHER_QUANT_TYPES) -> list[tuple[Tensor, Operator | None]]:
    """Every tensor an int8 MCU kernel would choke on, with the operator that produces it (``None`` for a graph
    input or a constant), in execution order.

    Activations of a ``bad_types`` dtype, and weights of CONV/DEPTHWISE/FC that are not int8. With
    ``allow_float_io`` a float graph input that only feeds QUANTIZE and a float output made by DEQUANTIZE are fine.
    """
    prod = producers(graph)
    consumers = graph.consumers()
    seen: set[int] = set(int16_state_tensors(graph)) if "int16" in bad_types else set()
    out: list[tuple[Tensor, Operator | None]] = []

    def add(t: int, op: Operator | None) -> None:
        if t in seen:
            return
        seen.add(t)
        out.append((graph.tensors[t], op))

    for t in graph.inputs:
        if graph.tensors[t].dtype in bad_types and not (allow_float_io and _io_exempt(graph, t, prod, consumers)):
            add(t, None)
    for op in graph.operators:
        w = WEIGHT_INPUTS.get(op.opcode)
        if w is not None and len(op.inputs) > w and op.inputs[w] >= 0:
            wt = graph.tensors[op.inputs[w]]
            if wt.dtype != "int8":
                add(wt.index, prod.get(wt.index))
        for t in list(op.inputs) + list(op.outputs):
            if t < 0 or graph.tensors[t].is_constant:
                continue
            if graph.tensors[t].dtype in bad_types and not (allow_float_io and _io_exempt(graph, t, prod, consumers)):
                add(t, prod.get(t))
    return out


def describe(tensor: Tensor, op: Operator | None) -> str:
    what = f"tensor {tensor.index} {tensor.name!r} is {tensor.dtype}"
    if op is not None:
        return f"{what}, produced by operator {op.index} ({op.opcode})"
    return f"{what} ({'a constant' if tensor.is_constant else 'a graph input'})"


def require_full_int8(tflite: bytes | Graph, *, source: str = "<model>", io: str = "int8") -> Graph:
    """Raise :class:`ModelError` unless every activation and weight is int8 and the I/O is ``io``
    (``"int8"``, or ``"float32"`` = float I/O around QUANTIZE/DEQUANTIZE). Returns the parsed graph."""
    if io not in ("int8", "float32"):
        raise ValueError(f"io must be 'int8' or 'float32', not {io!r}")
    graph = tflite if isinstance(tflite, Graph) else parse_model(bytes(tflite), source=source)
    bad = float_tensors(graph, allow_float_io=(io == "float32"))
    if bad:
        tensor, op = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ModelError(f"the model is not fully int8: {describe(tensor, op)}{more}", where=source,
                         hint="give that tensor a range (calibration data that reaches it, or a fake-quant layer "
                              "in QAT), or keep the op out of an int8 model")
    for kind, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for i in indices:
            t = graph.tensors[i]
            want = "int8" if io == "int8" else "float32"
            if t.dtype != want and not (io == "int8" and t.dtype == "int32"):
                raise ModelError(f"model {kind} {t.name!r} is {t.dtype}, expected {want} I/O", where=source)
    return graph


def require_batch_one(graph: Graph, *, source: str = "<model>") -> None:
    """Every input has a fixed batch of 1 (MCU runtimes have no dynamic shapes)."""
    for t in graph.input_tensors():
        sig = t.shape_signature if t.shape_signature is not None else t.shape
        if not t.shape or t.shape[0] != 1 or (sig and sig[0] != 1):
            raise ModelError(f"input {t.name!r} has batch {list(sig)} (expected a fixed batch of 1)", where=source)
