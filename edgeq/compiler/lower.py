"""Graph -> lowered layers -> buffer requests for the static memory planner.

``lower(graph)`` refuses what edgeq cannot compile with one clear :class:`~edgeq.errors.EdgeqError` (float, hybrid and
float16 models with the fix; the first unsupported op with its index and the supported list), then builds one
:class:`~edgeq.compiler.ops.base.Layer` per operator and runs its ``prepare()``.
``buffer_requests(lowered)`` turns tensor lifetimes over the execution order into planner requests: RESHAPE outputs
alias their input; elementwise layers, global pools and the depthwise convolutions whose loop order allows it ask to
run in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeq.compiler.cparams import KernelCall
from edgeq.compiler.names import layer_c_name
from edgeq.compiler.ops import LAYERS
from edgeq.compiler.ops.base import Layer, LowerContext, check_requantization
from edgeq.compiler.ops.pad import pad_folds
from edgeq.compiler.ops.transpose import transpose_folds
from edgeq.compiler.planner import BufferReq
from edgeq.errors import ModelError, UnsupportedError
from edgeq.tflite.check import MCU_SUPPORTED_OPS, int16_blockers, model_kind, unsupported_ops
from edgeq.tflite.graph import Graph

SUPPORTED_OPS: tuple[str, ...] = tuple(op for op in MCU_SUPPORTED_OPS if op in LAYERS)
#: model input/output types: int16/int32 only through the QUANTIZE / SOFTMAX layers that produce or consume them,
#: int32 also as ARG_MAX / ARG_MIN outputs (int64 reaches ARG_MAX's own refusal)
IO_DTYPES = ("int8", "int16", "int32", "int64", "float32")
QUANTIZE_FIX = "quantize it fully to int8 first: edgeq quantize MODEL --mode int8 --data CALIB.npy"


@dataclass
class Lowered:
    graph: Graph
    ctx: LowerContext
    layers: list[Layer]
    buffers: dict[int, str] = field(default_factory=dict)  # tensor index -> planner buffer name
    #: tensor index -> (first, last) layer index it is live over (last = len(layers) for model outputs and state)
    lifetimes: dict[int, tuple[int, int]] = field(default_factory=dict)


def buffer_name(t: int) -> str:
    return f"t{t}"


def check_model(graph: Graph) -> None:
    """Refuse models edgeq's compiler cannot run, each with the fix (structurally invalid ones first)."""
    from edgeq.tflite.validate import validate

    validate(graph)
    if not graph.operators:
        raise ModelError("the model has no operators", where=graph.source or graph.name)
    where = graph.source or graph.name
    # ops first: an op edgeq has no kernel for is the real blocker even when the number format is a second one
    missing = unsupported_ops(graph, tuple(LAYERS))
    if missing:
        first = missing[0]
        more = f" (also unsupported: {', '.join(f.where for f in missing[1:])})" if len(missing) > 1 else ""
        hints = {"tflm-only-op": "edgeq export MODEL --runtime auto (or tflm) --board nano33ble builds it with TFLM",
                 "npu-op": "edgeq compiles int8 .tflite models as the converter writes them, before Vela"}
        raise UnsupportedError(first.message + more, where=where,
                               hint=hints.get(first.code, f"edgeq's compiler supports: {', '.join(SUPPORTED_OPS)}"))
    kind = model_kind(graph)
    if kind == "float32":
        raise UnsupportedError("float32 model: the compiler needs a fully int8-quantized model", where=where,
                               hint=QUANTIZE_FIX)
    if kind == "float16":
        raise UnsupportedError("float16 model: the compiler needs a fully int8-quantized model", where=where,
                               hint=QUANTIZE_FIX)
    if kind == "dynamic-range":
        raise UnsupportedError("dynamic-range (hybrid) model: int8 weights with float activations cannot run on "
                               "the int8 kernels", where=where, hint=QUANTIZE_FIX)
    if kind == "uint8":
        raise UnsupportedError("uint8 (legacy quantization) model: the kernels need int8", where=where,
                               hint=QUANTIZE_FIX)
    if kind == "int16x8" and int16_blockers(graph):
        index, opcode = int16_blockers(graph)[0]
        raise UnsupportedError(f"int16x8 model: operator {index} ({opcode}) has int16 activations; edgeq's kernel "
                               f"for it is int8 only", where=where,
                               hint="edgeq export MODEL --runtime tflm runs it with TFLM, or quantize it to int8")
    if kind not in ("int8", "int8 (float I/O)", "int16x8"):
        raise UnsupportedError(f"{kind} model: the compiler needs int8 activations and weights", where=where,
                               hint=QUANTIZE_FIX)
    for t in graph.tensors:
        if t.is_dynamic and any(d < 0 for d in (t.shape_signature or ())[1:]):
            raise UnsupportedError(f"tensor {t.index} has a dynamic shape {list(t.shape_signature or ())}; the "
                                   f"compiler needs static shapes", where=where,
                                   hint="export the model with fixed input shapes (keras.Input(shape, batch_size=1))")
    for i in graph.outputs:
        if graph.tensors[i].is_constant:
            raise UnsupportedError(f"model output {i} is a constant tensor", where=where)
    for i in list(graph.inputs) + list(graph.outputs):
        t = graph.tensors[i]
        if t.dtype not in IO_DTYPES:
            raise UnsupportedError(f"model input/output '{t.name}' is {t.dtype}; only int8, int16, int32 (or "
                                   f"float32 through QUANTIZE/DEQUANTIZE) are supported", where=where,
                                   hint=QUANTIZE_FIX)


def state_tensors(graph: Graph) -> list[int]:
    """Variable tensors the operators use (recurrent state): they persist across invokes, reset by edgeq_reset()."""
    used = {t for op in graph.operators for t in op.inputs if t >= 0}
    return [t.index for t in graph.tensors if t.is_variable and t.index in used]


def lower(graph: Graph, target: str = "host", backend: str = "portable", optimize: str = "speed") -> Lowered:
    check_model(graph)
    ctx = LowerContext(graph, target, backend, optimize)
    layers: list[Layer] = []
    folds = pad_folds(graph, backend)
    folded = {f.pad_index: conv for conv, f in folds.items()}
    t_folds = transpose_folds(graph)
    folded.update({f.transpose_index: mean for mean, f in t_folds.items()})
    for op in graph.operators:
        layer = LAYERS[op.opcode](op=op, ctx=ctx)
        if op.index in folds:
            layer.params["fold"] = folds[op.index]
        if op.index in t_folds:
            layer.params["transpose_fold"] = t_folds[op.index]
        if op.index in folded:
            layer.params["folded_into"] = folded[op.index]
        before = len(ctx.consts)
        ctx.owner = layer_c_name(op.opcode, op.index)
        calls = layer.prepare()
        layer.calls = (calls,) if isinstance(calls, KernelCall) else tuple(calls or ())
        check_requantization(layer)
        # the constant arrays this layer registered first (a tensor shared by several layers counts at its first)
        layer.const_names = tuple(list(ctx.consts)[before:])
        layers.append(layer)
    return Lowered(graph, ctx, layers)


def buffer_requests(lw: Lowered, allow_delay=None, methods=None) -> list[BufferReq]:
    """Lifetimes of the activation tensors over the execution order, as planner requests.

    ``allow_delay(layer, delay_bytes) -> bool`` says whether the backend's kernel for ``layer`` can run in place
    with that delay ring (default: only ``delay == 0``, i.e. kernels that never read behind their write position).
    ``methods(layer) -> dict`` instead gives the in-place methods the backend allows for ``layer`` (a subset of
    ``layer.inplace_methods()``); a layer is offered in place when it has one."""
    if allow_delay is None:
        def allow_delay(layer, delay):
            return delay == 0
    if methods is None:
        def methods(layer):
            return {k: v for k, v in layer.inplace_methods().items() if k != "ring" or allow_delay(layer, v)}
    graph = lw.graph
    n_ops = len(lw.layers)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    order: list[int] = []

    def touch(t: int, at: int, write: bool) -> None:
        if t not in first:
            order.append(t)
            first[t] = at if write else 0
            last[t] = at
        if write:
            first[t] = min(first[t], at)
        last[t] = max(last[t], at)

    for t in graph.inputs:
        touch(t, 0, True)
    # variable tensors (SVDF / LSTM state) keep their value from one invoke to the next: alive all the time
    for t in state_tensors(graph):
        touch(t, 0, True)
        touch(t, n_ops, False)
    for layer in lw.layers:
        for t in layer.reads():
            touch(t, layer.index, False)
        for t in layer.writes():
            touch(t, layer.index, True)
    for t in graph.outputs:
        touch(t, n_ops, False)

    alias: dict[int, int] = {}
    for layer in lw.layers:
        if layer.is_alias:
            alias[layer.op.outputs[0]] = layer.op.inputs[0]

    def root(t: int) -> int:
        while t in alias:
            t = alias[t]
        return t

    group_last: dict[int, int] = {}
    for t in order:
        r = root(t)
        group_last[r] = max(group_last.get(r, -1), last[t])

    inplace: dict[int, int] = {}
    for layer in lw.layers:
        if layer.is_alias:
            continue
        cands = layer.inplace_candidates()
        if cands and not methods(layer):
            continue
        for cand in cands:
            if (cand in graph.inputs and cand in graph.outputs) or graph.tensors[cand].is_variable:
                continue
            r = root(cand)
            if group_last.get(r) == layer.index and root(layer.op.outputs[0]) != r:
                inplace[layer.op.outputs[0]] = cand
                break

    reqs = []
    for t in order:
        tensor = graph.tensors[t]
        lw.buffers[t] = buffer_name(t)
        lw.lifetimes[t] = (first[t], last[t])
        reqs.append(BufferReq(
            name=buffer_name(t), size=tensor.nbytes, first=first[t], last=last[t],
            alias_of=buffer_name(alias[t]) if t in alias else None,
            inplace_of=buffer_name(inplace[t]) if t in inplace else None,
        ))
    return reqs
