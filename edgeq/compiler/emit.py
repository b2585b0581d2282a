"""Render the lowered, planned model into C (jinja2 templates in firmware_templates/) and copy the kernels it calls.

model.c names every planned tensor's place in the arena (:func:`arena_buffers`: ``buf_input0``, ``buf_conv0_out``,
``buf_state0``) and declares those the code uses as its memory map (:func:`buffer_decls`: shape, bytes, the layers it
is live in, what it shares memory with), with the layers' delay rings and kernel scratch (``scratch_dwconv1``);
each layer's block is its kernel calls as the backend's renderer prints them (:func:`layer_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq import __version__
from edgeq._resources import templates_dir
from edgeq._templates import c_comment, c_float, c_int, c_string
from edgeq.compiler.ops.base import ConstArray, Renderer

#: always copied for the portable backend
PORTABLE_BASE = ("edgeq_nn.h", "edgeq_nn_support.c")


def _int_texts(values: np.ndarray) -> list[str]:
    texts = values.astype(np.int64).astype(str).tolist()
    for i in np.flatnonzero(values.astype(np.int64) == -(2**31)).tolist():
        texts[i] = c_int(-(2**31))
    return texts


def array_text(c: ConstArray, per_line: int = 16) -> str:
    if c.ctype == "float":
        texts = [c_float(x) for x in c.values.tolist()]
        per_line = 8
    else:
        texts = _int_texts(c.values)
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

    def renderer(self, buffers: dict[int, Buffer]) -> Renderer:
        return Renderer(buffers, backend=self.name)

    def scratch_bytes(self, layer) -> int:
        """The layer's kernel working buffers (Layer.scratch_bytes: e.g. the 1x1 / KxK convolutions' windows and
        lanes), planned like every other kernel scratch."""
        return layer.scratch_bytes()

    def allows_inplace_delay(self, layer, delay: int) -> bool:
        """edgeq's window kernels write through edgeq_out_writer: any delay ring works."""
        return True

    def inplace_methods(self, layer) -> dict[str, int]:
        """compile_model's hook: every in-place method the layer offers (edgeq's kernels implement them all)."""
        return layer.inplace_methods()

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


#: tensor dtype -> the C element type its arena buffer is declared with
_BUFFER_CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t", "uint8": "uint8_t",
                  "float32": "float", "bool": "uint8_t"}


@dataclass(frozen=True)
class Buffer:
    """One activation tensor's place in the arena, as model.c declares it: ``static int8_t *const name = ...``."""

    tensor: int
    name: str
    ctype: str
    offset: int
    nbytes: int
    shape: tuple[int, ...]
    first: int  # first layer it is live in
    last: int  # last layer it is live in (len(layers) for model outputs and recurrent state)
    role: str = ""  # "model input 0", "model output 0", "recurrent state"
    shares: str = ""  # "in place of buf_x" (the layer overwrites its input), "alias of buf_x" (RESHAPE)


def arena_buffers(lw, plan) -> dict[int, Buffer]:
    """Every planned tensor with a stable, unique C name: ``buf_input0`` for model inputs, ``buf_<layer>_out`` for
    a layer's output (``buf_conv0_out``, ``buf_fc11_out``; ``_out1``... for further outputs), ``buf_state0`` for
    recurrent state, ``buf_t<index>`` for anything else."""
    from edgeq.compiler.lower import state_tensors
    from edgeq.compiler.names import layer_c_name

    graph = lw.graph
    names: dict[int, str] = {}
    roles: dict[int, str] = {}
    for k, t in enumerate(graph.inputs):
        names.setdefault(t, f"buf_input{k}")
        roles[t] = f"model input {k}"
    for k, t in enumerate(state_tensors(graph)):
        names.setdefault(t, f"buf_state{k}")
        roles[t] = "recurrent state"
    for layer in lw.layers:
        base = layer_c_name(layer.opcode, layer.index)
        for j, t in enumerate(layer.op.outputs):
            names.setdefault(t, f"buf_{base}_out" + (str(j) if j else ""))
    for k, t in enumerate(graph.outputs):
        roles[t] = f"model output {k}" + (f", {roles[t]}" if t in roles else "")
    final: dict[int, str] = {}
    taken: set[str] = set()
    for t in lw.buffers:
        name = names.get(t, f"buf_t{t}")
        while name in taken:  # pragma: no cover - the rules above give distinct names
            name += "_"
        taken.add(name)
        final[t] = name
    by_planner = {planner_name: t for t, planner_name in lw.buffers.items()}
    shares = {by_planner[child]: f"in place of {final[by_planner[parent]]}" for child, parent in plan.inplace
              if child in by_planner and parent in by_planner}
    for layer in lw.layers:
        if layer.is_alias and layer.op.outputs[0] in final and layer.op.inputs[0] in final:
            shares[layer.op.outputs[0]] = f"alias of {final[layer.op.inputs[0]]}"
    out: dict[int, Buffer] = {}
    for t, planner_name in lw.buffers.items():
        tensor = graph.tensors[t]
        first, last = lw.lifetimes.get(t, (0, len(lw.layers)))
        out[t] = Buffer(t, final[t], _BUFFER_CTYPES.get(tensor.dtype, "int8_t"), plan.offsets[planner_name],
                        tensor.nbytes, tuple(int(d) for d in tensor.shape), first, last, roles.get(t, ""),
                        shares.get(t, ""))
    return out


def shape_text(shape) -> str:
    """``1x25x5x64`` (``scalar`` for a rank-0 shape)."""
    return "x".join(str(int(d)) for d in shape) or "scalar"


def buffer_decls(buffers: dict[int, Buffer], used: set[str], n_layers: int,
                 scratch: dict[str, tuple[int, int, str, int]] | None = None) -> list[dict]:
    """model.c's memory map: one declaration per buffer the code uses, by offset, with its shape, size and the
    layers it is live in (buffers at the same offset share memory at different times, or alias: RESHAPE), and the
    layers' kernel context blocks (``scratch``: name -> offset, bytes, what, layer: a delay ring or kernel scratch)."""
    rows = []
    for b in buffers.values():
        if b.name not in used:
            continue
        live = f"live layers {b.first}..{min(b.last, n_layers - 1)}" if n_layers else "live always"
        note = ", ".join(x for x in (live, b.role, b.shares) if x)
        cast = "" if b.ctype == "int8_t" else f"({b.ctype} *)"
        rows.append({"name": b.name, "ctype": b.ctype, "offset": b.offset, "cast": cast, "order": (b.offset, b.first),
                     "comment": c_comment(f"{shape_text(b.shape)} = {b.nbytes} B, {note}", max_len=120)})
    for name, (offset, size, what, layer) in (scratch or {}).items():
        rows.append({"name": name, "ctype": "int8_t", "offset": offset, "cast": "", "order": (offset, layer),
                     "comment": c_comment(f"{size} B {what} of layer {layer}", max_len=120)})
    return sorted(rows, key=lambda r: (r["order"], r["name"]))


def layer_blocks(layers, renderer: Renderer) -> list[dict]:
    """Each layer's comment and C statements (its kernel calls, status checks included)."""
    blocks = []
    for layer in layers:
        lines = renderer.for_layer(layer).layer_lines(layer)
        blocks.append({"index": layer.index, "comment": c_comment(layer.describe(), max_len=98), "lines": lines})
    return blocks


#: integer I/O type -> (C type, min, max as C expressions)
_QTYPES = {"int8": ("int8_t", "-128", "127"), "int16": ("int16_t", "-32768", "32767"),
           "int32": ("int32_t", "INT32_MIN", "INT32_MAX")}


def state_entries(graph, buffers: dict[int, Buffer], renderer: Renderer, indices) -> list[dict]:
    """The variable tensors (recurrent state) edgeq_reset() sets back to their initial value: the zero point for
    int8, else 0 (TFLM's ResetTensorData)."""
    out = []
    for t in indices:
        tensor = graph.tensors[t]
        value = tensor.zero_point if (tensor.dtype == "int8" and tensor.quant is not None
                                      and tensor.quant.is_quantized) else 0
        out.append({"buffer": renderer.buffer(t), "bytes": tensor.nbytes, "value": int(value),
                    "comment": c_comment(f"tensor {t} {tensor.dtype} {list(tensor.shape)} '{tensor.name}'",
                                         max_len=100)})
    return out


def io_entries(graph, buffers: dict[int, Buffer], renderer: Renderer, indices, role: str) -> list[dict]:
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
            "scale_literal": c_float(scale) if scale else "0.0f",
            "zero_point": int(zp),
            "offset": buffers[t].offset,
            "buffer": renderer.buffer(t),
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
            "inplace_method": layer.inplace_method,
        })
    return report


def memory_rows(report: list[dict]) -> list[str]:
    rows = ["layer  op                   out bytes   live bytes  high water  scratch  note"]
    for r in report:
        work = "channel plane" if r.get("inplace_method") == "channel" else "ring"
        note = "alias" if r["alias"] else ("in place" + (f", {r['ring_bytes']} B {work}" if r["ring_bytes"] else "")
                                           if r["inplace"] else "")
        if r.get("folded_into") is not None:
            note = f"folded into layer {r['folded_into']}"
        rows.append(f"{r['index']:5d}  {r['op']:<20s} {r['out_bytes']:9d}  {r['live_bytes']:11d}  "
                    f"{r['high_water']:10d}  {r['scratch']:7d}  {note}".rstrip())
    return rows
