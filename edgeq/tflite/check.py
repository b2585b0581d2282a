"""What kind of model is this, and can a microcontroller (TFLM / CMSIS-NN / edgeq's compiler) run it?"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.tflite.graph import Graph

#: Ops edgeq's compiler lowers to kernels (int8). QUANTIZE/DEQUANTIZE only at float model I/O.
MCU_SUPPORTED_OPS: tuple[str, ...] = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL", "SOFTMAX",
    "RESHAPE", "MEAN", "CONCATENATION", "PAD", "LOGISTIC", "RELU", "RELU6", "QUANTIZE", "DEQUANTIZE",
)

_WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}


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
        if op.opcode in ("QUANTIZE", "DEQUANTIZE"):
            continue
        for t in op.inputs + op.outputs:
            if t >= 0 and not graph.tensors[t].is_constant:
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
    if "int16" in act_types and "int8" in weight_types:
        return "int16x8"
    if act_types <= {"int8", "int32"}:
        io = {graph.tensors[i].dtype for i in graph.inputs + graph.outputs}
        return "int8 (float I/O)" if "float32" in io else "int8"
    return "mixed"


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]


def mcu_findings(graph: Graph, supported_ops: tuple[str, ...] = MCU_SUPPORTED_OPS) -> list[Finding]:
    """Everything that stops this model from running on an MCU with TFLM/CMSIS-NN or edgeq's compiler."""
    out: list[Finding] = []
    kind = model_kind(graph)
    fix = "quantize it fully to int8 with 'edgeq quantize MODEL --mode int8 --data CALIB.npy'"
    if kind == "float32":
        out.append(Finding("float-model", f"float32 model: MCU kernels need int8 ({fix})"))
    elif kind == "float16":
        out.append(Finding("float16", f"float16 model: TFLM cannot run float16 weights ({fix})"))
    elif kind == "dynamic-range":
        out.append(Finding("hybrid", f"dynamic-range (hybrid) model: TFLM cannot run int8 weights with float "
                                     f"activations ({fix})"))
    elif kind == "uint8":
        out.append(Finding("uint8", f"uint8 (legacy quantization) model: TFLM/CMSIS-NN need int8 ({fix})"))
    elif kind == "mixed":
        out.append(Finding("mixed", "mixed tensor types in the graph; edgeq needs int8 activations"))
    if graph.num_subgraphs > 1:
        out.append(Finding("subgraphs", f"{graph.num_subgraphs} subgraphs (control flow): only the main one is "
                                        f"compiled"))
    for t in graph.tensors:
        # An open batch (-1 in the signature's first dimension) with a stored shape of 1 runs fine on an MCU;
        # any other unknown dimension needs shape inference at run time, which TFLM does not do.
        if t.is_dynamic and any(d < 0 for d in (t.shape_signature or ())[1:]):
            out.append(Finding("dynamic-shape", f"dynamic shape {list(t.shape_signature or ())}: MCU runtimes "
                                                f"need static shapes", where=f"tensor {t.index} {t.name!r}"))
            break
    io = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        where = f"operator {op.index} ({op.opcode})"
        if op.opcode not in supported_ops:
            out.append(Finding("unsupported-op", f"op {op.opcode} is not supported on MCU targets "
                                                 f"(supported: {', '.join(supported_ops)})", where=where))
        elif op.opcode in ("QUANTIZE", "DEQUANTIZE") and kind.startswith("int8"):
            ends = set(op.inputs) | set(op.outputs)
            if not ends & io:
                out.append(Finding("inner-quantize", f"{op.opcode} inside the graph (only at float model I/O)",
                                   where=where))
    return out
