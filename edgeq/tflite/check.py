"""What kind of model is this, and can a microcontroller (TFLM / CMSIS-NN / edgeq's compiler) run it?"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.tflite.graph import Graph
from edgeq.tflite.runtimes import NPU_CUSTOM_OPS, TFLM_CUSTOM_OPS, custom_name, tflm_has

#: Ops edgeq's compiler lowers to kernels (a test checks this is exactly edgeq.compiler.ops.LAYERS; kept here as data
#: so that inspect needs no numpy).
MCU_SUPPORTED_OPS: tuple[str, ...] = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL", "SOFTMAX",
    "RESHAPE", "MEAN", "CONCATENATION", "PAD", "LOGISTIC", "RELU", "RELU6", "QUANTIZE", "DEQUANTIZE",
    "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK",
    "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "TANH", "LEAKY_RELU",
    "HARD_SWISH", "PRELU", "MAXIMUM", "MINIMUM", "SUB", "SQUARED_DIFFERENCE", "ARG_MAX", "ARG_MIN",
    "GATHER", "BATCH_MATMUL", "TRANSPOSE_CONV", "PADV2", "REDUCE_MAX", "REDUCE_MIN", "SUM", "ABS", "MIRROR_PAD",
)

_WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "SVDF": 1,
               "UNIDIRECTIONAL_SEQUENCE_LSTM": 2}


@dataclass(frozen=True)
class Finding:
    code: str  # short machine-readable key: float-model, hybrid, float16, uint8, dynamic-shape, unsupported-op, ...
    message: str
    where: str = ""
    blocking: bool = True  # False: worth knowing, but the model still runs

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "where": self.where, "blocking": self.blocking}


def model_kind(graph: Graph) -> str:
    """One word for the quantization of the model: int8, int8 (float I/O), float32, float16, dynamic-range, uint8,
    int16x8, mixed."""
    act_types = set()
    for op in graph.operators:
        # QUANTIZE/DEQUANTIZE convert between kinds; a custom op's tensors are its own business (an Ethos-U
        # command stream is uint8 bytes, a signal-library op works on uint32/uint64)
        if op.opcode in ("QUANTIZE", "DEQUANTIZE") or op.opcode.startswith("CUSTOM:"):
            continue
        for i, t in enumerate(op.inputs + op.outputs):
            if t >= 0 and not graph.tensors[t].is_constant:
                if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM" and i == 19 and graph.tensors[t].dtype == "int16":
                    continue  # the int16 cell state of TFLM's int8 LSTM: part of an int8 model
                act_types.add(graph.tensors[t].dtype)
    weight_types = {graph.tensors[op.inputs[w]].dtype for op in graph.operators
                    if op.opcode in _WEIGHT_OPS and len(op.inputs) > _WEIGHT_OPS[op.opcode]
                    for w in [_WEIGHT_OPS[op.opcode]] if op.inputs[w] >= 0}
    const_types = {t.dtype for t in graph.tensors if t.is_constant}
    if "float32" in act_types:
        if "int8" in weight_types:
            return "dynamic-range"
        if "float16" in const_types:
            return "float16"
        return "float32"
    if "uint8" in act_types:
        return "uint8"
    if "int16" in act_types and ("int8" in weight_types or not weight_types) \
            and act_types <= {"int8", "int16", "int32", "int64"}:  # no weights: an int16 model of pooling, ADD, ...
        return "int16x8"
    if act_types <= {"int8", "int32", "int64"}:  # int32/int64: biases, shapes, indices (ARG_MAX outputs)
        io = {graph.tensors[i].dtype for i in graph.inputs + graph.outputs}
        return "int8 (float I/O)" if "float32" in io else "int8"
    return "mixed"


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]


def op_blocker(opcode: str, index: int) -> Finding:
    """Why edgeq's compiler cannot run operator ``index`` (an op it has no kernel for), and the next step."""
    where = f"operator {index} ({opcode})"
    name = custom_name(opcode)
    if name is not None and name in NPU_CUSTOM_OPS:
        return Finding("npu-op", f"custom op {name!r} (operator {index}) needs {NPU_CUSTOM_OPS[name]}; neither "
                                 f"edgeq's compiler nor TFLM's kernels run it on a plain microcontroller: use the "
                                 f"model as it was before Vela compiled it", where=where)
    if name is not None and name in TFLM_CUSTOM_OPS:
        return Finding("tflm-only-op", f"custom op {name!r} (operator {index}) is a TFLM library kernel that "
                                       f"edgeq's compiler does not have; TFLM runs it: use --runtime tflm",
                       where=where)
    if name is not None:
        return Finding("unknown-custom-op", f"custom op {name!r} (operator {index}) is known neither to edgeq's "
                                            f"compiler nor to TFLM: register its kernel in a TFLM build yourself "
                                            f"(MicroMutableOpResolver::AddCustom)", where=where)
    if tflm_has(opcode):
        return Finding("tflm-only-op", f"op {opcode} (operator {index}) is not supported by edgeq's compiler; "
                                       f"TFLM runs it: use --runtime tflm", where=where)
    return Finding("no-mcu-op", f"op {opcode} (operator {index}) runs neither with edgeq's compiler nor with TFLM: "
                                f"replace it in the model", where=where)


def unsupported_ops(graph: Graph, supported_ops: tuple[str, ...] = MCU_SUPPORTED_OPS) -> list[Finding]:
    """One finding per op kind edgeq's compiler lacks, at its first operator (ops are checked before anything else:
    an op is the real blocker even when the model's number format would be a second one)."""
    seen: dict[str, int] = {}
    for op in graph.operators:
        if op.opcode not in supported_ops:
            seen.setdefault(op.opcode, op.index)
    return [op_blocker(opcode, index) for opcode, index in seen.items()]


#: where edgeq's compiler takes int16 activations in an int16x8 model: op -> operand positions ("in"/"out" = any
#: input/output; an int: that input): QUANTIZE both ways, SOFTMAX's int16 output, SVDF's int16 state, the LSTM's
#: int16 cell state
INT16_OPERANDS: dict[str, tuple] = {"QUANTIZE": ("in", "out"), "SOFTMAX": ("out",), "SVDF": (4,),
                                    "UNIDIRECTIONAL_SEQUENCE_LSTM": (19,)}
#: ops with int16 kernels for every activation (pooling, elementwise arithmetic, MEAN, data movement)
INT16_OPERANDS.update({op: ("in", "out") for op in (
    "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SUB", "MUL", "MEAN", "SUM", "CONCATENATION", "PAD", "RESHAPE", "SQUEEZE",
    "EXPAND_DIMS", "TRANSPOSE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK",
    "RESIZE_NEAREST_NEIGHBOR", "LOGISTIC", "TANH", "SOFTMAX", "MAXIMUM", "MINIMUM", "RELU", "RELU6", "LEAKY_RELU",
    "DEQUANTIZE", "SQUARED_DIFFERENCE", "BATCH_MATMUL")})
#: int16x8 convolutions and FC: int16 input and output, int8 weights, int64 bias (edgeq_*_s16 kernels)
INT16_OPERANDS.update({op: ("in", "out") for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                                                    "TRANSPOSE_CONV")})


def int16_blockers(graph: Graph) -> list[tuple[int, str]]:
    """(operator index, opcode) of the operators that read or write an int16 activation where edgeq's kernels are
    int8 only (see INT16_OPERANDS)."""
    out = []
    for op in graph.operators:
        allowed = INT16_OPERANDS.get(op.opcode, ())
        ins = [t for k, t in enumerate(op.inputs) if t >= 0 and "in" not in allowed and k not in allowed]
        outs = [t for t in op.outputs if t >= 0 and "out" not in allowed]
        if any(graph.tensors[t].dtype == "int16" and not graph.tensors[t].is_constant for t in ins + outs):
            out.append((op.index, op.opcode))
    return out


def _int16x8_finding(graph: Graph) -> Finding | None:
    bad = int16_blockers(graph)
    if not bad:
        return None
    index, opcode = bad[0]
    return Finding("int16x8", f"int16x8 model: operator {index} ({opcode}) has int16 activations and edgeq's "
                              f"kernel for it is int8 only; TFLM runs it: use --runtime tflm",
                   where=f"operator {index} ({opcode})")


def _kind_finding(kind: str) -> Finding | None:
    fix = "quantize it fully to int8 with 'edgeq quantize MODEL --mode int8 --data CALIB.npy'"
    if kind == "float32":
        return Finding("float-model", f"float32 model: edgeq's kernels need int8 ({fix})")
    if kind == "float16":
        return Finding("float16", f"float16 model: MCU kernels need int8 ({fix})")
    if kind == "dynamic-range":
        return Finding("hybrid", f"dynamic-range (hybrid) model: MCU kernels cannot run int8 weights with float "
                                 f"activations ({fix})")
    if kind == "uint8":
        return Finding("uint8", f"uint8 (legacy quantization) model: TFLM/CMSIS-NN need int8 ({fix})")
    if kind == "int16x8":
        return Finding("int16x8", "int16x8 model (int16 activations, int8 weights): edgeq's compiler has int8 "
                                  "kernels only; TFLM runs it: use --runtime tflm")
    if kind == "mixed":
        return Finding("mixed", "mixed tensor types in the graph; edgeq's compiler needs int8 activations")
    return None


def _dynamic_shape(graph: Graph) -> Finding | None:
    for t in graph.tensors:
        # An open batch (-1 in the signature's first dimension) with a stored shape of 1 runs fine on an MCU;
        # any other unknown dimension needs shape inference at run time, which TFLM does not do.
        if t.is_dynamic and any(d < 0 for d in (t.shape_signature or ())[1:]):
            return Finding("dynamic-shape", f"dynamic shape {list(t.shape_signature or ())}: MCU runtimes need "
                                            f"static shapes", where=f"tensor {t.index} {t.name!r}")
    return None


def mcu_findings(graph: Graph, supported_ops: tuple[str, ...] = MCU_SUPPORTED_OPS) -> list[Finding]:
    """Everything that stops edgeq's compiler from running this model: unsupported ops first (each with the next
    step), then the number format, subgraphs, dynamic shapes."""
    out: list[Finding] = unsupported_ops(graph, supported_ops)
    kind = model_kind(graph)
    f = _int16x8_finding(graph) if kind == "int16x8" else _kind_finding(kind)
    if f is not None:
        out.append(f)
    if graph.num_subgraphs > 1:
        out.append(Finding("subgraphs", f"{graph.num_subgraphs} subgraphs (control flow): only the main one is "
                                        f"compiled"))
    f = _dynamic_shape(graph)
    if f is not None:
        out.append(f)
    # QUANTIZE / DEQUANTIZE inside the graph compile (int8 <-> float32, int8/int16 requantization): no finding
    return out


def tflm_findings(graph: Graph) -> list[Finding]:
    """What stops TFLM (its reference or CMSIS-NN kernels, on a microcontroller without an NPU) from running this
    model, judged from the op tables and the number format (TFLM itself checks tensor types per kernel when it
    allocates: ``edgeq export --runtime tflm`` measures the arena by running it)."""
    out: list[Finding] = []
    seen: set[str] = set()
    for op in graph.operators:
        if op.opcode in seen or tflm_has(op.opcode):
            continue
        seen.add(op.opcode)
        name = custom_name(op.opcode)
        where = f"operator {op.index} ({op.opcode})"
        if name is not None and name in NPU_CUSTOM_OPS:
            out.append(Finding("npu-op", f"custom op {name!r} (operator {op.index}) needs {NPU_CUSTOM_OPS[name]}",
                               where=where))
        elif name is not None:
            out.append(Finding("unknown-custom-op", f"custom op {name!r} (operator {op.index}) has no TFLM kernel: "
                                                    f"register your own with MicroMutableOpResolver::AddCustom",
                               where=where))
        else:
            out.append(Finding("no-tflm-op", f"op {op.opcode} (operator {op.index}) has no TFLM kernel",
                               where=where))
    kind = model_kind(graph)
    # tflite-micro#757 (hybrid), #2587 (float16), #280 (uint8)
    if kind == "dynamic-range":
        out.append(Finding("hybrid", "dynamic-range (hybrid) model: TFLM cannot run int8 weights with float "
                                     "activations (quantize it fully to int8 with 'edgeq quantize')"))
    elif kind == "float16":
        out.append(Finding("float16", "float16 model: TFLM cannot run float16 weights (quantize it to int8)"))
    elif kind == "uint8":
        out.append(Finding("uint8", "uint8 (legacy quantization) model: TFLM needs int8 (quantize it to int8)"))
    elif kind == "float32":
        out.append(Finding("float-model", "float32 model: TFLM's float reference kernels run it, several times "
                                          "slower and 4x bigger than int8 (edgeq quantize)", blocking=False))
    f = _dynamic_shape(graph)
    if f is not None:
        out.append(f)
    return out


def runtime_verdicts(graph: Graph) -> dict:
    """Per MCU runtime: can it run this model, and why not. ``verdict`` is the runtime ``export --runtime auto``
    picks: "edgeq" (its C, both backends: portable and cmsis-nn), else "tflm", else "none"."""
    edgeq = mcu_findings(graph)
    tflm = tflm_findings(graph)
    edgeq_ok = not blocking(edgeq)
    tflm_ok = not blocking(tflm)
    return {
        "edgeq": {"ok": edgeq_ok, "backends": ["portable", "cmsis-nn"] if edgeq_ok else [],
                  "reasons": [f.to_dict() for f in edgeq]},
        "tflm": {"ok": tflm_ok, "reasons": [f.to_dict() for f in tflm]},
        "verdict": "edgeq" if edgeq_ok else "tflm" if tflm_ok else "none",
    }
