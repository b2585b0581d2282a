"""Render the lowered, planned model into C (jinja2 templates in firmware_templates/) and copy the kernels it calls."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq import __version__
from edgeq._resources import templates_dir
from edgeq.compiler.names import c_comment, c_string
from edgeq.compiler.ops.base import ConstArray, Renderer

#: always copied for the portable backend
PORTABLE_BASE = ("edgeq_nn.h", "edgeq_nn_support.c")


@functools.lru_cache(maxsize=1)
def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def render(template: str, **ctx) -> str:
    return _env().get_template(template).render(**ctx)


# ---- literals -----------------------------------------------------------------------------------------------------


def float_literal(x: float) -> str:
    """A float32 value as a C float literal that round-trips exactly."""
    v = float(np.float32(x))
    text = repr(v)
    if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"


def _int_texts(values: np.ndarray, ctype: str) -> list[str]:
    v = values.astype(np.int64)
    texts = v.astype(str).tolist()
    if ctype == "int32_t":
        # -2147483648 is not an int literal in C: write it as an expression
        for i in np.flatnonzero(v == -(2**31)).tolist():
            texts[i] = "(-2147483647 - 1)"
    return texts


def array_text(c: ConstArray, per_line: int = 16) -> str:
    if c.ctype == "float":
        texts = [float_literal(x) for x in c.values.tolist()]
        per_line = 8
    else:
        texts = _int_texts(c.values, c.ctype)
        if c.ctype == "int32_t":
            per_line = 8
    lines = []
    for i in range(0, len(texts), per_line):
        lines.append("    " + ", ".join(texts[i:i + per_line]) + ",")
    return "\n".join(lines)


# ---- backends -----------------------------------------------------------------------------------------------------


@dataclass
class PortableBackend:
    """edgeq's own C99 kernels (firmware_templates/kernels/portable/)."""

    name: str = "portable"
    nn_header: str = "edgeq_nn.h"

    def renderer(self, ptrs: dict[int, str]) -> Renderer:
        return Renderer(ptrs, backend=self.name)

    def scratch_bytes(self, layer) -> int:
        return 0

    def allows_inplace_delay(self, layer, delay: int) -> bool:
        """edgeq's window kernels write through edgeq_out_writer: any delay ring works."""
        return True

    def kernel_files(self, layers) -> list[str]:
        files = list(PORTABLE_BASE)
        for layer in layers:
            for f in layer.sources:
                if f not in files:
                    files.append(f)
        return files

    def copy_kernels(self, layers, dest: Path) -> list[str]:
        src_dir = templates_dir() / "kernels" / "portable"
        out = []
        for f in self.kernel_files(layers):
            (dest / f).write_bytes((src_dir / f).read_bytes())
            out.append(f)
        return out


# ---- model files --------------------------------------------------------------------------------------------------


_CALL_STATUS = re.compile(r"^status = ")


def layer_blocks(layers, renderer: Renderer) -> list[dict]:
    blocks = []
    for layer in layers:
        lines = layer.c_call(renderer)
        blocks.append({
            "index": layer.index,
            "comment": c_comment(layer.describe(), max_len=160),
            "lines": lines,
            "checks_status": any(_CALL_STATUS.match(ln) for ln in lines),
        })
    return blocks


#: integer I/O type -> (C type, min, max as C expressions)
_QTYPES = {"int8": ("int8_t", "-128", "127"), "int16": ("int16_t", "-32768", "32767"),
           "int32": ("int32_t", "INT32_MIN", "INT32_MAX")}


def state_entries(graph, plan_offsets: dict[str, int], buffers: dict[int, str], indices) -> list[dict]:
    """The variable tensors (recurrent state) edgeq_reset() sets back to their initial value: the zero point for
    int8, else 0 (TFLM's ResetTensorData)."""
    out = []
    for t in indices:
        tensor = graph.tensors[t]
        value = tensor.zero_point if (tensor.dtype == "int8" and tensor.quant is not None
                                      and tensor.quant.is_quantized) else 0
        out.append({"offset": plan_offsets[buffers[t]], "bytes": tensor.nbytes, "value": int(value),
                    "comment": c_comment(f"tensor {t} {tensor.dtype} {list(tensor.shape)} '{tensor.name}'",
                                         max_len=100)})
    return out


def io_entries(graph, plan_offsets: dict[str, int], buffers: dict[int, str], indices, role: str) -> list[dict]:
    """Facts about each model input/output for model.h (scale/zero point of the int8 view for float I/O)."""
    out = []
    for t in indices:
        tensor = graph.tensors[t]
        q = tensor
        if tensor.dtype == "float32":
            # the int8 tensor the model quantizes this input to / dequantizes this output from
            for op in graph.operators:
                if role == "input" and op.opcode == "QUANTIZE" and op.inputs and op.inputs[0] == t:
                    q = graph.tensors[op.outputs[0]]
                    break
                if role == "output" and op.opcode == "DEQUANTIZE" and op.outputs and op.outputs[0] == t:
                    q = graph.tensors[op.inputs[0]]
                    break
        scale = q.scale if (q.quant is not None and q.quant.is_quantized) else 0.0
        zp = q.zero_point if (q.quant is not None and q.quant.is_quantized) else 0
        qtype = q.dtype if q.dtype in _QTYPES else "int8"
        out.append({
            "index": t,
            "ctype": _QTYPES[qtype][0],  # the integer type of edgeq_quantize_input / edgeq_dequantize_output
            "qmin": _QTYPES[qtype][1],
            "qmax": _QTYPES[qtype][2],
            "name": tensor.name,
            "comment": c_comment(tensor.name, max_len=80),
            "dtype": tensor.dtype,
            "bytes": tensor.nbytes,
            "shape": [int(d) for d in tensor.shape],
            "scale": float(np.float32(scale)),
            "scale_literal": float_literal(scale) if scale else "0.0f",
            "zero_point": int(zp),
            "offset": plan_offsets[buffers[t]],
        })
    return out


def banner(model_name: str, sha256: str) -> str:
    return c_comment(f"Generated by edgeq {__version__} from {model_name} (sha256 {sha256[:16]}...)", max_len=160)


def model_name_for(graph) -> str:
    src = Path(graph.source).stem if graph.source and graph.source != "<bytes>" else graph.name
    return c_string(src or "model", max_len=64)


def memory_report(layers, plan, graph, buffers) -> list[dict]:
    """One entry per layer: output bytes, bytes live during it, the arena high-water mark, its scratch, and whether
    its output took its input's memory (in place, with the delay ring it needed)."""
    inplace = {c for c, _ in plan.inplace}
    report = []
    for layer in layers:
        i = layer.index
        entry = plan.per_layer[i] if i < len(plan.per_layer) else {}
        out = layer.op.outputs[0] if layer.op.outputs else None
        folded = layer.params.get("folded_into")  # a PAD / TRANSPOSE folded into its reader: no buffer
        report.append({
            "index": i,
            "op": layer.opcode,
            "out_bytes": 0 if folded is not None else sum(graph.tensors[t].nbytes for t in layer.op.outputs),
            "folded_into": folded,
            "live_bytes": entry.get("live_bytes", 0),
            "high_water": entry.get("high_water", 0),
            "scratch": entry.get("scratch", 0),
            "alias": bool(layer.is_alias),
            "inplace": out is not None and buffers.get(out) in inplace,
            "ring_bytes": layer.inplace_ring[1] if layer.inplace_ring else 0,
        })
    return report


def memory_rows(report: list[dict]) -> list[str]:
    rows = ["layer  op                   out bytes   live bytes  high water  scratch  note"]
    for r in report:
        note = "alias" if r["alias"] else ("in place" + (f", {r['ring_bytes']} B ring" if r["ring_bytes"] else "")
                                           if r["inplace"] else "")
        if r.get("folded_into") is not None:
            note = f"folded into layer {r['folded_into']}"
        rows.append(f"{r['index']:5d}  {r['op']:<20s} {r['out_bytes']:9d}  {r['live_bytes']:11d}  "
                    f"{r['high_water']:10d}  {r['scratch']:7d}  {note}".rstrip())
    return rows
