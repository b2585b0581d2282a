"""Model compiler: an int8 .tflite -> standalone C (no interpreter), bit-exact with TFLM's reference kernels.

    from edgeq.compiler import compile_model
    res = compile_model("kws_ref_model.tflite", target="host", backend="portable", out_dir="build/kws")
    res.ram_bytes, res.arena_bytes, res.scratch_bytes, res.const_bytes, res.ops, res.files, res.memory_report

Pipeline: ``read_model`` -> :func:`edgeq.compiler.lower.lower` (one Layer per op, parameters computed once) ->
:func:`edgeq.compiler.planner.plan_memory` (static arena) -> :mod:`edgeq.compiler.emit` (jinja2 templates in
firmware_templates/) into an output folder written atomically. The generated C API is docs/contracts.md section 1.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from edgeq._proc import run
from edgeq.errors import EdgeqError, ToolchainError, UnsupportedError

TARGETS = ("host", "cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m55", "avr", "generic")
BACKENDS = ("portable", "cmsis-nn")
#: what the portable backend optimizes for: "speed" (default) picks the shape-specialised kernels (1x1 convolution,
#: 3x3 depthwise) where they apply; "size" only the general kernels, so less kernel code in flash. Same outputs.
OPTIMIZE = ("speed", "size")
#: PROGMEM data must sit below 64 KB of flash for near pgm_read_* (vectors + data + a margin)
AVR_MAX_CONST_BYTES = 64000

__all__ = ["TARGETS", "BACKENDS", "OPTIMIZE", "CompileResult", "Planned", "plan_model", "compile_model", "build_host"]


@dataclass
class CompileResult:
    out_dir: Path
    model_name: str
    sha256: str
    target: str
    backend: str
    arena_bytes: int
    scratch_bytes: int
    const_bytes: int
    ops: int  # number of operators (layers) compiled
    op_counts: dict[str, int]
    files: list[str]
    op_order_bound: int  #: max over ops of the bytes live at once, no in-place layer (planner.op_order_bound)
    inputs: list[dict]
    outputs: list[dict]
    layers: list[dict] = field(default_factory=list)
    memory_report: list[dict] = field(default_factory=list)
    inplace: list[list[str]] = field(default_factory=list)
    binary: Path | None = None  #: ``model_host`` when built (``edgeq compile --build``)
    optimize: str = "speed"
    #: the least RAM any plan of this op order can have with these kernels, in-place layers included
    #: (planner.inplace_bound; docs/compiler.md "Memory plan, in place"); ``ram_bytes >= bound``
    bound: int = 0
    inplace_choice: str = ""  #: which in-place variant the compiler kept, and what the others planned

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.scratch_bytes

    def to_dict(self) -> dict:
        def io(d):
            return {k: d[k] for k in ("name", "shape", "dtype", "bytes", "scale", "zero_point")}

        return {
            "out_dir": str(self.out_dir),
            "model": self.model_name,
            "sha256": self.sha256,
            "target": self.target,
            "backend": self.backend,
            "optimize": self.optimize,
            "ram_bytes": self.ram_bytes,
            "arena_bytes": self.arena_bytes,
            "scratch_bytes": self.scratch_bytes,
            "const_bytes": self.const_bytes,
            "ops": self.ops,
            "op_counts": dict(self.op_counts),
            "op_order_bound": self.op_order_bound,
            "bound": self.bound,
            "inplace_choice": self.inplace_choice,
            "inputs": [io(d) for d in self.inputs],
            "outputs": [io(d) for d in self.outputs],
            "files": list(self.files),
            "inplace": [list(p) for p in self.inplace],
            "layers": list(self.layers),
            "memory_report": list(self.memory_report),
        }


def _backend(name: str, cmsis_nn_dir, target: str):
    from edgeq.compiler.emit import PortableBackend

    if name == "portable":
        return PortableBackend()
    if name == "cmsis-nn":
        from edgeq.compiler.cmsis_nn import find_cmsis_nn

        from edgeq.compiler.backend_cmsis import CmsisNNBackend

        root = find_cmsis_nn(cmsis_nn_dir)  # clear error when there is no checkout
        return CmsisNNBackend(root=root, target=target)
    raise EdgeqError(f"unknown backend {name!r}", where="--backend", hint=f"use one of {', '.join(BACKENDS)}")


def _plan(lw, be):
    """Static memory plan, with in-place layers where that lowers the RAM (:func:`_plan_inplace`), then - on the
    portable backend - a padded channel plane (kernel scratch) for each 3x3 depthwise layer that does not run in
    place, so that it runs on edgeq_depthwise_conv_3x3_plane_s8 like an in-place one (``Layer.plane_scratch_bytes``):
    only where the plane fits beside the bytes live at that layer, and only if the re-plan needs no more RAM than the
    plan without planes (else that plan stands)."""
    plan, apply = _plan_inplace(lw, be, {})
    planes = {}
    for layer in lw.layers:
        size = layer.plane_scratch_bytes() if hasattr(layer, "plane_scratch_bytes") else None
        i = layer.index
        if (size and i < len(plan.per_layer) and not _runs_inplace(plan, lw, layer)
                and plan.per_layer[i].get("live_bytes", 0) + plan.per_layer[i].get("scratch", 0) + size
                <= plan.ram_bytes):
            planes[i] = size
    if planes:
        plan2, apply2 = _plan_inplace(lw, be, planes)
        if plan2.ram_bytes <= plan.ram_bytes:
            apply2()
            for layer in lw.layers:
                layer.plane_scratch = None
                i = layer.index
                if i in planes and not _runs_inplace(plan2, lw, layer):
                    off = plan2.scratch_offsets[i]
                    if off is None or plan2.per_layer[i].get("scratch", 0) < planes[i]:  # pragma: no cover - a bug
                        raise AssertionError(f"layer {i} has no {planes[i]}-byte channel plane")
                    layer.use_plane_scratch((off, planes[i]))
            _give_working_buffers(plan2, lw)
            return plan2
    apply()
    _give_working_buffers(plan, lw)
    return plan


def _give_working_buffers(plan, lw) -> None:
    """Point each layer that does not run in place at its kernel working buffers (``Layer.scratch_bytes``, e.g.
    edgeq_convolve_kxk_s8's windows) in the plan's kernel scratch; an in-place layer has them in its in-place block."""
    for layer in lw.layers:
        layer.work_scratch = None
        size = layer.scratch_bytes()
        if size <= 0 or layer.inplace_ring or layer.plane_scratch:
            continue
        i = layer.index
        off = plan.scratch_offsets[i] if i < len(plan.scratch_offsets) else None
        if off is None or plan.per_layer[i].get("scratch", 0) < size or off % 4:  # pragma: no cover - a bug
            raise AssertionError(f"layer {i} has no 4-aligned {size}-byte kernel scratch")
        layer.work_scratch = (off, size)


def _runs_inplace(plan, lw, layer) -> bool:
    """Whether ``plan`` gave the layer's output its input's memory."""
    out = layer.op.outputs[0] if layer.op.outputs else None
    return out is not None and lw.buffers.get(out) in {c for c, _ in plan.inplace}


def _plan_inplace(lw, be, extra: dict[int, int]):
    """Static memory plan, with in-place layers where that lowers the RAM; ``extra``: layer index -> kernel scratch
    bytes it needs on top of the backend's. Returns the plan and a function that sets the layers up for it (kernel,
    working buffer).

    A layer that overwrites its input may need a working buffer (kernel scratch) whose size depends on how it runs in
    place: a delay ring ("ring", window kernels in memory order) or a channel plane ("channel", depthwise one channel
    at a time, TinyEngine's technique); ``be.inplace_methods(layer)`` lists the ones the backend allows with their
    bytes. The planner only knows afterwards which in-place pairs pay off. So: plan with every candidate and no
    working buffer; then plan again, offering only the pairs it took, with each layer's working buffer chosen two
    ways - each layer's fastest method (:meth:`Layer.preferred_inplace_method`: the ring, or the channel plane of a 3x3
    depthwise layer), and the smaller of ring and plane - and also
    without any in-place layer; keep the variant that needs the least RAM (ties: no in-place, then rings).
    ``plan.inplace_choice`` says which won, ``plan.bound`` is :func:`edgeq.compiler.planner.inplace_bound` with the
    same methods: the least RAM any plan of this op order can have with these kernels.
    """
    import dataclasses

    from edgeq.compiler.lower import buffer_requests
    from edgeq.compiler.planner import inplace_bound, plan_memory

    hook = getattr(be, "inplace_methods", None)
    if hook is None:  # a backend without the hook: plain in-place writes only
        def hook(layer):
            m = layer.inplace_methods()
            return {"ring": 0} if m.get("ring") == 0 else {}
    methods = {layer.index: hook(layer) for layer in lw.layers if not layer.is_alias}
    reqs = buffer_requests(lw, methods=lambda layer: methods.get(layer.index, {}))
    base = [max(be.scratch_bytes(layer), extra.get(layer.index, 0)) for layer in lw.layers]
    by_out = {lw.buffers[layer.op.outputs[0]]: layer for layer in lw.layers
              if layer.op.outputs and layer.op.outputs[0] in lw.buffers}  # a folded PAD has no buffer
    work = {r.name: min(methods[by_out[r.name].index].values()) for r in reqs
            if r.inplace_of is not None and methods.get(by_out[r.name].index)}
    bound, bound_per_op = inplace_bound(reqs, base, work)

    def pick(m: dict[str, int], smallest: bool, fast: str) -> str:
        if fast in m and not (smallest and min(m.values()) < m[fast]):
            return fast
        return min(m, key=lambda k: (m[k], k != fast))

    first = plan_memory(reqs, base)
    taken = {c for c, _ in first.inplace}
    needs_work = {c: methods[by_out[c].index] for c in taken
                  if c in by_out and min(methods[by_out[c].index].values()) > 0}
    if not needs_work:  # in-place layers without working buffers cost nothing extra: the first plan stands
        variants = [("in place, no working buffer" if taken else "no in-place layer", {}, first)]
    else:
        variants = [("no in-place layer", {},
                     plan_memory([dataclasses.replace(r, inplace_of=None) for r in reqs], base))]
        offered = [r if r.inplace_of is None or r.name in taken else dataclasses.replace(r, inplace_of=None)
                   for r in reqs]
        tried = set()
        for label, smallest in (("fastest kernels first", False), ("smallest working buffer", True)):
            choice = {c: pick(m, smallest, by_out[c].preferred_inplace_method()) for c, m in needs_work.items()}
            key = tuple(sorted(choice.items()))
            if key in tried:
                continue
            tried.add(key)
            scratch = list(base)
            for c, k in choice.items():
                i = by_out[c].index
                scratch[i] = max(scratch[i], needs_work[c][k])
            variants.append((f"in place, {label}", choice, plan_memory(offered, scratch)))
    order = {"no in-place layer": 0}
    label, choice, plan = min(variants, key=lambda v: (v[2].ram_bytes, order.get(v[0], 1)))
    won = plan  # the variant kept (the pass below may move its layers to faster kernels at no RAM cost)
    if choice:
        plan, choice, faster = _fastest_where_free(plan, choice, needs_work, by_out, offered, base)
        label += f", {faster} on the fastest kernel at no RAM cost" if faster else ""
    if not plan.inplace:
        label, choice = "no in-place layer", {}
    elif choice and any(k == "channel" for k in choice.values()):
        label = f"{label} ({sum(k == 'channel' for k in choice.values())} depthwise by channel plane)"
    plan.bound, plan.bound_per_op = bound, bound_per_op
    plan.inplace_variants = {lab: p.ram_bytes for lab, _, p in variants}
    plan.inplace_choice = f"{label}; other variants: " + ", ".join(
        f"{lab} {p.ram_bytes} B" for lab, _, p in variants if p is not won) if len(variants) > 1 else label

    def apply() -> None:
        inplace = {c for c, _ in plan.inplace}
        offsets = getattr(plan, "scratch_offsets", None) or []
        for layer in lw.layers:
            layer.inplace_ring = None
            layer.inplace_method = None
            if not layer.op.outputs or lw.buffers.get(layer.op.outputs[0]) not in inplace:
                continue
            name = lw.buffers[layer.op.outputs[0]]
            method = choice.get(name, "ring")
            size = methods[layer.index][method] if method in methods.get(layer.index, {}) else layer.inplace_delay()
            layer.inplace_method = method
            if method == "channel":
                layer.use_channel_kernel()
            if size > 0:
                off = offsets[layer.index] if layer.index < len(offsets) else None
                if off is None or plan.per_layer[layer.index].get("scratch", 0) < size:  # pragma: no cover - a bug
                    raise AssertionError(f"layer {layer.index} runs in place without its {size}-byte {method} buffer")
                layer.inplace_ring = (off, size)

    return plan, apply


def _fastest_where_free(plan, choice: dict, needs_work: dict, by_out: dict, offered, base: list[int]):
    """Start from the least-RAM in-place choice and move each in-place layer, one at a time, to its fastest kernel
    when the re-plan needs no more RAM: to its fastest method (:meth:`Layer.preferred_inplace_method`) or, when the
    backend does not offer that method in place, out of place (its own output buffer, the general kernel). A layer
    away from the peak gets this for free, and the smallest working buffer can be much slower (a 7x7 depthwise on
    5x5 pixels by channel plane takes twice the instructions of the general kernel). Returns the plan, the choice
    and how many layers moved."""
    import dataclasses

    from edgeq.compiler.planner import plan_memory

    moved = 0
    for c in sorted(choice):
        fast = by_out[c].preferred_inplace_method()
        if choice[c] == fast:
            continue
        if fast in needs_work[c]:
            trial, reqs = {**choice, c: fast}, offered
        else:
            trial = {k: v for k, v in choice.items() if k != c}
            reqs = [dataclasses.replace(r, inplace_of=None) if r.name == c else r for r in offered]
        scratch = list(base)
        for name, k in trial.items():
            i = by_out[name].index
            scratch[i] = max(scratch[i], needs_work[name][k])
        p = plan_memory(reqs, scratch)
        if p.ram_bytes <= plan.ram_bytes and {x for x, _ in p.inplace} >= {x for x, _ in plan.inplace} - {c}:
            plan, choice, offered, moved = p, trial, reqs, moved + 1
    return plan, choice, moved


@dataclass
class Planned:
    """A model lowered and memory-planned exactly as :func:`compile_model` does it, before any C is written: what
    ``edgeq analyze`` and export's fit check read (the arena the firmware declares is ``plan.ram_bytes``)."""

    graph: object  # edgeq.tflite.Graph
    target: str
    backend: str
    lowered: object  # edgeq.compiler.lower.Lowered
    plan: object  # edgeq.compiler.planner.MemoryPlan
    backend_impl: object  # PortableBackend | CmsisNNBackend

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def scratch_bytes(self) -> int:
        return self.plan.scratch_bytes

    @property
    def ram_bytes(self) -> int:
        """The one static array model.c declares: EDGEQ_ARENA_BYTES + EDGEQ_SCRATCH_BYTES."""
        return self.plan.ram_bytes

    @property
    def const_bytes(self) -> int:
        return sum(c.nbytes for c in self.lowered.ctx.consts.values())


def _check_optimize(optimize: str) -> None:
    if optimize not in OPTIMIZE:
        raise EdgeqError(f"unknown optimization goal {optimize!r}", where="--optimize",
                         hint=f"use one of {', '.join(OPTIMIZE)}")


def plan_model(model, target: str = "host", backend: str = "portable", cmsis_nn_dir=None,
               optimize: str = "speed") -> Planned:
    """Lower ``model`` (a path or a Graph) and plan its memory as :func:`compile_model` would, writing nothing."""
    from edgeq.compiler.lower import lower
    from edgeq.tflite import Graph, read_model

    if target not in TARGETS:
        raise EdgeqError(f"unknown target {target!r}", where="--target", hint=f"use one of {', '.join(TARGETS)}")
    if backend not in BACKENDS:
        raise EdgeqError(f"unknown backend {backend!r}", where="--backend", hint=f"use one of {', '.join(BACKENDS)}")
    _check_optimize(optimize)
    graph = model if isinstance(model, Graph) else read_model(model)
    be = _backend(backend, cmsis_nn_dir, target)
    lw = lower(graph, target=target, backend=backend, optimize=optimize)
    plan = _plan(lw, be)
    if hasattr(be, "prepare"):  # the backend's per-layer choice (and its constants, e.g. MVE kernel sums)
        be.prepare(lw, plan)
    return Planned(graph=graph, target=target, backend=backend, lowered=lw, plan=plan, backend_impl=be)


def _kernel_of(be, renderer, layer) -> str | None:
    """The C function a layer calls (the backend's per-layer choice when it has one)."""
    if not layer.kernel_name():
        return None
    return be.kernel_of(layer) if hasattr(be, "kernel_of") else renderer.fn(layer.kernel_name())


def compile_model(model, target: str = "host", backend: str = "portable", out_dir=None, force: bool = False,
                  cmsis_nn_dir=None, optimize: str = "speed") -> CompileResult:
    """Compile ``model`` (a path or an :class:`edgeq.tflite.Graph`) into ``out_dir``; see the module docstring.
    ``optimize``: "speed" (default) or "size" (:data:`OPTIMIZE`; the outputs are the same)."""
    from edgeq._fs import atomic_dir, check_output_dir
    from edgeq._templates import render
    from edgeq.compiler import emit
    from edgeq.compiler.lower import state_tensors
    from edgeq.compiler.ops.conv import NO_DSP_TARGETS
    from edgeq.tflite import Graph, read_model

    if target not in TARGETS:
        raise EdgeqError(f"unknown target {target!r}", where="--target", hint=f"use one of {', '.join(TARGETS)}")
    if backend not in BACKENDS:
        raise EdgeqError(f"unknown backend {backend!r}", where="--backend", hint=f"use one of {', '.join(BACKENDS)}")
    _check_optimize(optimize)
    if out_dir is None:
        raise EdgeqError("no output folder given", hint="pass -o DIR")
    out_dir = check_output_dir(out_dir, force=force)

    graph = model if isinstance(model, Graph) else read_model(model)
    planned = plan_model(graph, target=target, backend=backend, cmsis_nn_dir=cmsis_nn_dir, optimize=optimize)
    lw, plan, be = planned.lowered, planned.plan, planned.backend_impl

    buffers = emit.arena_buffers(lw, plan)
    renderer = be.renderer(buffers)

    model_name = emit.model_name_for(graph)
    banner = emit.banner(model_name, graph.sha256)
    blocks = emit.layer_blocks(lw.layers, renderer)
    inputs = emit.io_entries(graph, buffers, renderer, graph.inputs, "input")
    outputs = emit.io_entries(graph, buffers, renderer, graph.outputs, "output")
    states = emit.state_entries(graph, buffers, renderer, state_tensors(graph))
    consts = list(lw.ctx.consts.values())
    const_bytes = sum(c.nbytes for c in consts)
    if target == "avr" and const_bytes > AVR_MAX_CONST_BYTES:
        raise UnsupportedError(
            f"{const_bytes} bytes of weights and parameters do not fit AVR flash below 64 KB, where "
            f"pgm_read_byte/pgm_read_dword can read them (limit {AVR_MAX_CONST_BYTES})", where="--target avr",
            hint="use a smaller model, or a 32-bit target")
    const_views = [{"name": c.name, "ctype": c.ctype, "size": int(c.values.size), "flash": c.flash,
                    "comment": c.comment} for c in consts]
    report = emit.memory_report(lw.layers, plan, graph, lw.buffers)
    # a plan for a core without the DSP extension counts the working buffers of the convolution kernels' plain C
    # loops; a build with DSP (this C compiled for another core) would need more and fail at run time: stop the build
    no_dsp_plan = (backend == "portable" and target in NO_DSP_TARGETS
                   and any(layer.params.get("fast_kernel") for layer in lw.layers))

    common = dict(banner=banner, model_name=model_name, sha256=graph.sha256, backend=backend, target=target,
                  inputs=inputs, outputs=outputs, arena_bytes=plan.arena_bytes, scratch_bytes=plan.scratch_bytes,
                  const_bytes=const_bytes, nn_header=be.nn_header, states=states)
    files: dict[str, str] = {}
    files["model.h"] = render("model/model.h.j2", **common)
    files["model.c"] = render(
        "model/model.c.j2", **common, consts=const_views, layers=blocks, op_order_bound=plan.op_order_bound,
        bound=plan.bound, no_dsp_plan=no_dsp_plan,
        plan_notes=textwrap.wrap(f"in-place variant kept: {plan.inplace_choice}", 108),
        buffers=emit.buffer_decls(buffers, renderer.used, len(lw.layers), renderer.scratch),
        arena_alloc=max(plan.arena_bytes + plan.scratch_bytes, 16),
        memory_rows=emit.memory_rows(report))
    files["model_data.c"] = render("model/model_data.c.j2", **common,
                                        consts=[dict(cv, text=emit.array_text(c)) for c, cv in zip(consts, const_views)])

    written: list[str] = []
    with atomic_dir(out_dir, force=force) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
            written.append(name)
        kernel_files = be.copy_kernels(lw.layers, tmp)
        written += kernel_files
        if target == "host":
            c_sources = ["main_host.c", "model.c", "model_data.c"] + [f for f in kernel_files if f.endswith(".c")]
            headers = ["model.h"] + [f for f in kernel_files if f.endswith(".h")]
            (tmp / "main_host.c").write_text(render("host/main_host.c.j2", **common), encoding="utf-8")
            (tmp / "Makefile").write_text(render("host/Makefile.j2", **common, sources=c_sources,
                                                      headers=headers), encoding="utf-8")
            written += ["main_host.c", "Makefile"]

    layers_info = []
    for layer in lw.layers:
        name = graph.tensors[layer.op.outputs[0]].name if layer.op.outputs else ""
        layers_info.append({"index": layer.index, "op": layer.opcode, "name": name,
                            "kernel": _kernel_of(planned.backend_impl, renderer, layer)})
    return CompileResult(
        out_dir=out_dir, model_name=model_name, sha256=graph.sha256, target=target, backend=backend,
        arena_bytes=plan.arena_bytes, scratch_bytes=plan.scratch_bytes, const_bytes=const_bytes,
        ops=len(lw.layers), op_counts=graph.op_counts(), files=written, op_order_bound=plan.op_order_bound,
        bound=plan.bound, inplace_choice=plan.inplace_choice, inputs=inputs, outputs=outputs, layers=layers_info,
        memory_report=report, inplace=[list(p) for p in plan.inplace], optimize=optimize,
    )


def build_host(out_dir, extra_cflags: str = "", cc: str | None = None, timeout: float = 600) -> Path:
    """``make`` the host program in ``out_dir``; returns the path of ``model_host``."""
    out_dir = Path(out_dir)
    if not (out_dir / "Makefile").is_file():
        raise EdgeqError("no Makefile in the output folder", where=str(out_dir), hint="compile with --target host")
    make = shutil.which("make")
    if not make:
        raise ToolchainError("make not found", hint="apt-get install -y make gcc")
    cmd = [make, "-s"]  # run inside out_dir (cwd below), not with -C: make would tilde-expand a -C path
    if extra_cflags:
        cmd.append(f"EXTRA_CFLAGS={extra_cflags}")
    if cc:
        cmd.append(f"CC={cc}")
    run(cmd, what="building model_host", cwd=out_dir, timeout=timeout,
        hint="run 'make' in the folder to see the full output")
    return out_dir / "model_host"
