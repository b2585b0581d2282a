"""``edgeq analyze MODEL --board B``: what a model costs on a board, per layer and in total, before anything is built.

Every figure comes from the compiler's own work, not from a separate model of it:

* per layer: op, input/output shapes, MACs, the arena bytes live while it runs and the arena high-water mark (the
  memory plan's ``per_layer``), the constant bytes it brings (the arrays it registers in model_data.c: weights, bias,
  multipliers, shifts, tables) and its kernel scratch;
* RAM = the plan's one static array (``EDGEQ_ARENA_BYTES + EDGEQ_SCRATCH_BYTES``, exactly what model.c declares) +
  the firmware's copy of the inputs + the protocol's state + the board core's own RAM + the stack the board reserves;
  flash = the constant arrays (exact) + a code estimate + the board core's own flash. ``edgeq export`` runs the same
  :func:`edgeq.targets.fit.edgeq_fit` for its fit check, so the two never disagree.
* instructions per layer from a cost table measured on the emulated Cortex-M4 (``cost_model.json``, fitted by
  ``benchmarks/analyze.py``): for every kernel kind (backend, kernel, variant) instructions = a x MACs +
  b x output elements + c x input elements + d, least-squares over the per-layer instruction counts that QEMU
  (``-icount shift=0``, SysTick read after every layer) measured on a set of models. Cycles = instructions x the
  core's cycles per instruction (1.0 assumed for the Cortex-M cores: QEMU counts instructions, not cycles;
  flash wait states and the M0+'s missing DSP instructions make real chips slower); ms at the board's clock.
  AVR (the Uno) has no calibrated table: no instruction estimate is given for it.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.targets.boards import Board, FitReport, cmsis_nn_available, get_board, pick_backend
from edgeq.targets.fit import edgeq_fit

COST_MODEL_JSON = Path(__file__).with_name("cost_model.json")

#: cycles per instruction assumed per core for the ms figure (QEMU counts instructions)
CORE_CPI = {"cortex-m4f": 1.0, "cortex-m7": 1.0, "cortex-m55": 1.0, "cortex-m0plus": 1.0}


# ---- cost model ---------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _cost_table(path: str) -> dict:
    return json.loads(Path(path).read_text())


def cost_table() -> dict:
    return _cost_table(str(COST_MODEL_JSON))


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


def layer_macs(layer) -> int:
    """Multiply-accumulates of one layer (0 for layers that only move or compare data)."""
    op, g = layer.op, layer.graph
    out = g.tensors[op.outputs[0]] if op.outputs else None
    n_out = out.num_elements if out is not None else 0

    def inp(k):
        return g.tensors[op.inputs[k]] if k < len(op.inputs) and op.inputs[k] >= 0 else None

    code = layer.opcode
    if code in ("CONV_2D", "CONV_3D"):
        return n_out * _prod(inp(1).shape[1:])
    if code == "DEPTHWISE_CONV_2D":
        return n_out * _prod(inp(1).shape[1:3])
    if code == "TRANSPOSE_CONV":
        return inp(2).num_elements * _prod(inp(1).shape)
    if code in ("FULLY_CONNECTED", "BATCH_MATMUL"):
        w = inp(1)
        return n_out * int(w.shape[-1]) if w is not None and w.shape else 0
    if code in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        p = layer.params
        fh, fw = p.get("filter", (1, 1)) if isinstance(p.get("filter"), (tuple, list)) else (1, 1)
        return n_out * int(fh) * int(fw)
    if code in ("SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM"):
        # every weight once per step of every batch row
        weights = sum(g.tensors[t].num_elements for t in op.inputs
                      if t >= 0 and g.tensors[t].is_constant and g.tensors[t].dtype == "int8")
        x = inp(0)
        steps = _prod(x.shape[:-1]) if x is not None and len(x.shape) > 1 else 1
        return weights * steps
    return 0


def kernel_kind(layer, backend_impl) -> str:
    """The cost table's key for a layer: backend actually running it, kernel, and the variant that changes its
    inner loop (CMSIS-NN picks 1x1 / 1xN / depthwise 3x3 fast paths; TFLM-style portable loops do not)."""
    name = layer.kernel_name() or layer.opcode.lower()
    on_cmsis = getattr(backend_impl, "_cmsis_layers", None)  # the cmsis-nn backend's choice after planning
    be = "cmsis-nn" if on_cmsis is not None and layer.index in on_cmsis else "portable"
    variant = ""
    p = layer.params
    if name == "convolve_wrapper_s8":
        fd = p.get("filter_dims")
        pad = tuple(p.get("padding", (0, 0)))
        stride = tuple(p.get("stride", (1, 1)))
        if fd is not None and fd[1] == 1 and fd[2] == 1 and pad == (0, 0) and stride == (1, 1):
            variant = ":1x1"
        elif fd is not None and fd[1] == 1:
            variant = ":1xN"
    elif name == "depthwise_conv_wrapper_s8":
        fd = p.get("filter_dims")
        if fd is not None and fd[1] == 3 and fd[2] == 3 and p.get("ch_mult", 1) == 1:
            variant = ":3x3"
    return f"{be}:{name}{variant}"


def layer_features(layer, graph) -> tuple[int, int, int]:
    """(MACs, output elements, input elements): what the cost table's coefficients multiply."""
    n_out = sum(graph.tensors[t].num_elements for t in layer.op.outputs)
    n_in = sum(graph.tensors[t].num_elements for t in layer.reads())
    return layer_macs(layer), n_out, n_in


def estimate_instructions(kind: str, feats: tuple[int, int, int], table: dict | None = None) -> tuple[float, str]:
    """Instructions for one layer from the cost table; returns (estimate, the table row used: the kind itself, or
    the backend's fallback for a kind no calibration model had)."""
    table = table or cost_table()
    kinds = table["kinds"]
    row_key = kind if kind in kinds else ("fallback:" + kind.split(":", 1)[0])
    row = kinds.get(row_key) or kinds["fallback:portable"]
    a, b, c, d = row["coef"]
    macs, n_out, n_in = feats
    return a * macs + b * n_out + c * n_in + d, row_key


# ---- the analysis ------------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    model: str
    board: Board
    backend: str
    target: str
    layers: list[dict]
    fit: FitReport
    arena_bytes: int
    scratch_bytes: int
    const_bytes: int
    io_bytes: int
    instructions: int | None
    cycles: int | None
    ms: float | None
    calibration: str
    notes: list[str] = field(default_factory=list)

    @property
    def ram_bytes(self) -> int:
        """The compiled plan's static array (arena + scratch), as model.c declares it."""
        return self.arena_bytes + self.scratch_bytes

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "board": self.board.name,
            "core": self.board.core.name,
            "clock_hz": self.board.clock_hz,
            "backend": self.backend,
            "target": self.target,
            "arena_bytes": self.arena_bytes,
            "scratch_bytes": self.scratch_bytes,
            "ram_bytes": self.ram_bytes,
            "const_bytes": self.const_bytes,
            "io_bytes": self.io_bytes,
            "fit": self.fit.to_dict(),
            "instructions": self.instructions,
            "cycles": self.cycles,
            "ms": self.ms,
            "calibration": self.calibration,
            "macs": sum(r["macs"] for r in self.layers),
            "layers": list(self.layers),
            "notes": list(self.notes),
        }

    def markdown(self) -> str:
        from edgeq._fmt import markdown_table

        def n(v):
            return "-" if v is None else f"{v:,}"

        rows = [[r["index"], r["op"], " + ".join("x".join(map(str, s)) for s in r["in_shapes"]) or "-",
                 " + ".join("x".join(map(str, s)) for s in r["out_shapes"]), n(r["macs"]), n(r["live_bytes"]),
                 n(r["high_water"]), n(r["const_bytes"]), n(r["scratch_bytes"]), n(r["instructions"]),
                 r["kernel"] or "-"] for r in self.layers]
        lines = [f"# edgeq analyze: {self.model} on {self.board.name} ({self.board.core.name}, "
                 f"{self.board.clock_text}, {self.backend} backend)", "",
                 markdown_table(["layer", "op", "input", "output", "MACs", "live B", "arena high-water B",
                                 "constants B", "scratch B", "instructions (est.)", "kernel"], rows), ""]
        f = self.fit

        def parts(d):
            return ", ".join(f"{k} {v:,}" for k, v in d.items())

        lines.append(f"**RAM** {f.ram_needed:,} of {f.ram_available:,} B ({f.ram_margin:,} B "
                     f"{'free' if f.ram_margin >= 0 else 'over'}): {parts(f.ram_parts)}.  ")
        lines.append(f"**Flash** {f.flash_needed:,} of {f.flash_available:,} B ({f.flash_margin:,} B "
                     f"{'free' if f.flash_margin >= 0 else 'over'}): {parts(f.flash_parts)}.  ")
        lines.append(f"Arena + scratch {self.ram_bytes:,} B = the compiled plan's EDGEQ_RAM_BYTES "
                     f"({self.arena_bytes:,} B activations + {self.scratch_bytes:,} B scratch).  ")
        macs = sum(r["macs"] for r in self.layers)
        if self.instructions is not None:
            lines.append(f"**Estimate** {macs:,} MACs, {self.instructions:,} instructions, {self.cycles:,} cycles, "
                         f"{self.ms:,.2f} ms at {self.board.clock_text}.  ")
        else:
            lines.append(f"**Estimate** {macs:,} MACs; no instruction estimate for {self.board.core.name}.  ")
        lines.append(f"Calibration: {self.calibration}")
        lines.append(f"**Fits {self.board.name}: {'yes' if f.fits else 'NO'}**")
        for note in self.notes:
            lines.append(f"\nNote: {note}")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike) -> Path:
        """PNG: arena bytes live and the high-water mark per layer, with the board's RAM budget for the arena."""
        from edgeq._plot import plain_axis, pyplot, save_png

        plt = pyplot("analyze --plot")
        fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * len(self.layers) + 3), 4.2))
        xs = [r["index"] for r in self.layers]
        ax.bar(xs, [r["live_bytes"] for r in self.layers], color="#4c72b0", label="activations live (B)")
        ax.bar(xs, [r["scratch_bytes"] for r in self.layers], bottom=[r["live_bytes"] for r in self.layers],
               color="#dd8452", label="kernel scratch (B)")
        ax.step(xs, [r["high_water"] for r in self.layers], where="mid", color="#222222",
                label="arena high-water (B)")
        ax.axhline(self.ram_bytes, color="#55a868", linestyle="--",
                   label=f"arena + scratch {self.ram_bytes:,} B")
        budget = self.fit.ram_available - (self.fit.ram_needed - self.ram_bytes)
        if 0 < budget < 3 * max(self.ram_bytes, 1):
            ax.axhline(budget, color="#c44e52", linestyle=":", label=f"room on {self.board.name}: {budget:,} B")
        top = max([self.ram_bytes] + [r["high_water"] for r in self.layers]
                  + [r["live_bytes"] + r["scratch_bytes"] for r in self.layers])
        if 0 < budget < 3 * max(self.ram_bytes, 1):
            top = max(top, budget)
        ax.set_ylim(0, 1.12 * top if top else 1)  # the lines at the top stay visible
        ax.set_xlabel("layer (execution order)")
        ax.set_ylabel("bytes")
        ax.set_title(f"{self.model} on {self.board.name}: memory over layers")
        plain_axis(ax.yaxis)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        return save_png(fig, path)


def _shapes(graph, idxs) -> list[list[int]]:
    return [[int(d) for d in graph.tensors[t].shape] for t in idxs if t >= 0 and not graph.tensors[t].is_constant]


def analyze(model: str | os.PathLike, board: str = "qemu-m4", *, backend: str | None = None,
            cmsis_nn_dir: str | os.PathLike | None = None) -> Analysis:
    """Per-layer and total cost of ``model`` on ``board`` with edgeq's compiler (see the module docstring)."""
    from edgeq._fs import MAX_MODEL_BYTES, check_input_file
    from edgeq.compiler import plan_model
    from edgeq.errors import ModelError
    from edgeq.tflite import read_model

    b = get_board(board)
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelError("no such model file", where=str(path))
    check_input_file(path, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError)
    graph = read_model(path)
    notes: list[str] = []
    be, note = pick_backend(b, backend, cmsis_nn_available(cmsis_nn_dir) if backend != "portable" else False)
    if note:
        notes.append(note)
    planned = plan_model(graph, target=b.core.target, backend=be, cmsis_nn_dir=cmsis_nn_dir)
    lw, plan = planned.lowered, planned.plan
    consts = lw.ctx.consts
    io_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs)
    table = cost_table()
    calibrated = b.core.arch == "arm"
    rows = []
    total = 0.0
    for layer in lw.layers:
        i = layer.index
        entry = plan.per_layer[i] if i < len(plan.per_layer) else {}
        feats = layer_features(layer, graph)
        kind = kernel_kind(layer, planned.backend_impl)
        instr = None
        row_used = None
        free = layer.is_alias or layer.params.get("folded_into") is not None  # no code: RESHAPE, a PAD folded away
        if calibrated and not free:
            est, row_used = estimate_instructions(kind, feats, table)
            instr = int(round(max(est, 0.0)))
            total += instr
        elif free:
            instr = 0 if calibrated else None
        rows.append({
            "index": i,
            "op": layer.opcode,
            "name": graph.tensors[layer.op.outputs[0]].name if layer.op.outputs else "",
            "in_shapes": _shapes(graph, layer.op.inputs),
            "out_shapes": _shapes(graph, layer.op.outputs),
            "macs": feats[0],
            "live_bytes": int(entry.get("live_bytes", 0)),
            "high_water": int(entry.get("high_water", 0)),
            "scratch_bytes": int(entry.get("scratch", 0)),
            "const_bytes": int(sum(consts[n].nbytes for n in layer.const_names)),
            "kernel": None if free else kind,
            "cost_row": row_used,
            "instructions": instr,
            "no_code": bool(free),
        })
        if row_used is not None and row_used != kind:
            notes.append(f"layer {i} ({kind}): no calibrated row, used {row_used}")
    fit = edgeq_fit(b, graph, planned, io_bytes=io_bytes)
    if calibrated:
        instructions = int(round(total + table["invoke_overhead"]))
        cpi = CORE_CPI.get(b.core.name, 1.0)
        cycles = int(round(instructions * cpi))
        ms = 1000.0 * cycles / b.clock_hz
        calibration = (f"{table['measured_on']}; instructions = a x MACs + b x outputs + c x inputs + d per kernel "
                       f"kind, fitted by benchmarks/analyze.py; cycles = instructions x {cpi:g} (assumed CPI)")
    else:
        instructions = cycles = None
        ms = None
        calibration = f"no instruction table for {b.core.name} (calibrated on Cortex-M only)"
    return Analysis(model=path.name, board=b, backend=be, target=b.core.target, layers=rows, fit=fit,
                    arena_bytes=planned.arena_bytes, scratch_bytes=planned.scratch_bytes,
                    const_bytes=planned.const_bytes, io_bytes=io_bytes, instructions=instructions, cycles=cycles,
                    ms=ms, calibration=calibration, notes=notes)

