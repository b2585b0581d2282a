"""``--backend cmsis-nn``: the same lowered layers and templates as the portable backend, calling CMSIS-NN.

Nothing in the templates or the op modules is forked. This backend
* maps kernel names to CMSIS-NN functions with :data:`CMSIS_FUNCS` (edgeq's kernels mirror CMSIS-NN's signatures,
  so only the ``arm_``/``cmsis_nn_`` prefixes change); a layer whose kernel has no CMSIS-NN twin (broadcast ADD/MUL,
  MEAN, int16 PAD, CONCATENATION, QUANTIZE, RELU..., grouped CONV) keeps edgeq's portable kernel, in the same model;
* prints each layer's kernel call with a per-layer renderer (:class:`_LayerRenderer`: ``arm_``+``cmsis_nn_``
  names, or ``edgeq_`` for the portable ones) whose ``context()`` gives a CMSIS-NN layer its scratch block
  ``scratch_<layer>`` at ``&edgeq_arena[plan.scratch_offsets[i]]`` (often a hole between activations; or the
  precomputed FC kernel sums on MVE) and whose ``struct_pointer()`` casts the constant arrays a struct points to (CMSIS-NN's fields are
  non-const ``int32_t *``); a layer that needs a context but whose call takes none fails loudly (AssertionError),
  never silently;
* sizes scratch per target with the CMSIS-NN getter rules mirrored in :mod:`edgeq.compiler.cmsis_nn`
  (scalar: host/m0plus/generic, DSP: m4/m7, MVE: m55) and ``#error``s if model.c is compiled for another CMSIS-NN
  code path than the one planned (its scratch would be too small);
* in place (``allows_inplace_delay``): CMSIS-NN's kernels cannot hold output back in a delay ring, so only layers
  whose ring would be 0 bytes, and only kernels that read what a pixel needs before writing it: elementwise
  ADD/MUL, average pool, depthwise (not MVE's one-input-channel case, which runs as a convolution). Not
  convolutions (the mat-mult kernels write row p+1 while still reading rows p and p+1) nor arm_max_pool_s8 (memcpy
  onto its own source). Should a plan still put such a layer in place, it runs on edgeq's portable kernel.
* copies ``Include/`` and exactly the Source .c files the called functions need, FLAT into the output folder
  (``arm_*.c`` + headers next to model.c, ``Internal/`` kept), so any build (the host Makefile, Arduino's sketch
  folder, a firmware's ``*.c`` glob) compiles them with no extra -I; CMSIS-NN's LICENSE goes along as
  ``LICENSE-CMSIS-NN.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeq._resources import templates_dir
from edgeq.compiler import cmsis_nn as cn
from edgeq.compiler.cmsis_calls import call_for
from edgeq.compiler.cparams import CLiteral, ConstRef, Context, ScratchRef
from edgeq.compiler.names import layer_c_name
from edgeq.compiler.ops.base import Renderer
from edgeq.errors import UnsupportedError

#: edgeq kernel name (Layer.kernel_name()) -> CMSIS-NN function with the same arguments
CMSIS_FUNCS: dict[str, str] = {
    "convolve_wrapper_s8": "arm_convolve_wrapper_s8",
    "depthwise_conv_wrapper_s8": "arm_depthwise_conv_wrapper_s8",
    "fully_connected_s8": "arm_fully_connected_s8",
    "fully_connected_per_channel_s8": "arm_fully_connected_per_channel_s8",
    "avgpool_s8": "arm_avgpool_s8",
    "max_pool_s8": "arm_max_pool_s8",
    "elementwise_add_s8": "arm_elementwise_add_s8",
    "elementwise_mul_s8": "arm_elementwise_mul_s8",
    "softmax_s8": "arm_softmax_s8",
    "softmax_s8_s16": "arm_softmax_s8_s16",
    # int16 (int16x8 models): bit-exact with TFLM's int16 reference kernels where mapped (docs/cmsis-nn.md);
    # ADD only with zero points 0 (arm_elementwise_add_s16 ignores the offsets), see handles()
    "avgpool_s16": "arm_avgpool_s16",
    "elementwise_add_s16": "arm_elementwise_add_s16",
    "elementwise_mul_s16": "arm_elementwise_mul_s16",
}

GLUE_HEADER = "edgeq_cmsis_nn.h"
PORTABLE_HEADER = "edgeq_nn.h"
PORTABLE_BASE = ("edgeq_nn.h", "edgeq_nn_support.c")



class _LayerRenderer(Renderer):
    """Renderer for one layer: CMSIS-NN names, scratch and casts for a CMSIS-NN layer, edgeq's for a portable one.

    ``ctx``: the CMSIS-NN layer's kernel context (its scratch in the arena, or its precomputed FC kernel sums), or
    None for the portable default. ``used`` and ``scratch`` are the model renderer's (one memory map for all layers)."""

    def __init__(self, buffers, used: set[str], scratch: dict, cmsis: bool, ctx: Context | None = None, call=None):
        super().__init__(buffers, backend="cmsis-nn")
        self.used = used
        self.scratch = scratch
        self.cmsis = cmsis
        self.ctx = ctx if cmsis else None
        self.call = call if cmsis else None  # the CMSIS-NN call, when it takes other arguments than edgeq's kernel
        self.ctx_used = False

    def calls_of(self, layer) -> tuple:
        return (self.call,) if self.call is not None else layer.calls

    def fn(self, name: str) -> str:
        return CMSIS_FUNCS.get(name, f"arm_{name}") if self.cmsis else f"edgeq_{name}"

    def ty(self, name: str) -> str:
        return f"cmsis_nn_{name}" if self.cmsis else f"edgeq_{name}"

    def context(self, layer) -> Context:
        if self.ctx is not None:
            self.ctx_used = True
            return self.ctx
        return super().context(layer)

    def struct_pointer(self, ref: ConstRef) -> str:
        if not self.cmsis or ref.name is None:
            return super().struct_pointer(ref)
        return f"({ref.ctype} *){ref.name}"  # CMSIS-NN's struct fields are non-const pointers

    def layer_lines(self, layer) -> list[str]:
        lines = super().layer_lines(layer)
        if self.ctx is not None and not self.ctx_used:
            raise AssertionError(f"cmsis-nn backend: layer {layer.index} needs a context ({self.ctx}) but its "
                                 f"C call declares none")
        return lines


class CmsisRenderer(Renderer):
    """The model-level renderer: kernel names in reports, and a :class:`_LayerRenderer` per layer."""

    def __init__(self, buffers, backend: "CmsisNNBackend"):
        super().__init__(buffers, backend="cmsis-nn")
        self._be = backend

    def fn(self, name: str) -> str:
        return CMSIS_FUNCS.get(name, f"edgeq_{name}")

    def ty(self, name: str) -> str:
        return f"cmsis_nn_{name}"

    def for_layer(self, layer) -> Renderer:
        be = self._be
        return _LayerRenderer(self._buffers, self.used, self.scratch, layer.index in be._cmsis_layers,
                              be._contexts.get(layer.index), be._calls.get(layer.index))


@dataclass
class CmsisNNBackend:
    root: Path
    target: str = "host"
    name: str = "cmsis-nn"
    nn_header: str = GLUE_HEADER
    arch: str = field(init=False)
    _scratch: dict[int, int] = field(default_factory=dict, init=False)
    _cmsis_layers: set[int] = field(default_factory=set, init=False)
    _kernel_sums: dict[int, str] = field(default_factory=dict, init=False)
    _contexts: dict[int, Context] = field(default_factory=dict, init=False)
    _calls: dict[int, object] = field(default_factory=dict, init=False)  # layer -> its CMSIS-NN KernelCall
    _prepared: bool = field(default=False, init=False)

    def __post_init__(self):
        self.root = Path(self.root)
        if self.target == "avr":
            raise UnsupportedError("CMSIS-NN needs a 32-bit target", where="--backend cmsis-nn --target avr",
                                   hint="use --backend portable for AVR")
        self.arch = cn.arch_for(self.target)

    # ---- which layers run on CMSIS-NN ---------------------------------------------------------------------------
    def handles(self, layer) -> bool:
        """Does CMSIS-NN have this layer's kernel (before in-place considerations)?"""
        name = layer.kernel_name()
        call = call_for(layer)
        if call is not None:  # an op whose CMSIS-NN call differs from edgeq's (edgeq.compiler.cmsis_calls)
            return call.applies(layer, self.arch)
        if name not in CMSIS_FUNCS:
            return False
        p = layer.params
        if name == "elementwise_add_s16":  # CMSIS-NN's int16 ADD has no zero points (the converter's are 0)
            return p["in1_offset"] == p["in2_offset"] == p["out_offset"] == 0
        if name == "convolve_wrapper_s8":
            # grouped convolution: keep edgeq's kernel (TFLM's CMSIS-NN glue does not dispatch groups either)
            return p["filter_dims"][3] == p["input_dims"][3]
        return True

    def allows_inplace_delay(self, layer, delay: int) -> bool:
        """compile_model's hook: may ``layer`` run in place with a ``delay``-byte ring? CMSIS-NN kernels write
        straight to the output (no ring): only delay 0, and only kernels that read a pixel's inputs before writing
        it. Layers that stay on edgeq's portable kernels support any ring."""
        if not self.handles(layer):
            return True
        return delay == 0 and self._inplace_safe(layer)

    def inplace_methods(self, layer) -> dict[str, int]:
        """compile_model's hook: the in-place methods allowed for ``layer``. A layer CMSIS-NN runs keeps its
        CMSIS-NN kernel: in place only where that kernel itself may overwrite its input (no delay ring, no channel
        plane); layers on edgeq's portable kernels may use any method."""
        methods = layer.inplace_methods()
        if not self.handles(layer):
            return methods
        return {"ring": 0} if methods.get("ring") == 0 and self._inplace_safe(layer) else {}

    def _inplace_safe(self, layer) -> bool:
        """May this CMSIS-NN kernel overwrite its input (the layer's own check already passed)?"""
        name = layer.kernel_name()
        if name == "convolve_wrapper_s8":
            return False  # the mat-mult kernels write row p+1 while rows p, p+1 are still being read
        if name == "max_pool_s8":
            return False  # memcpy of the first tap onto the output: overlapping source and destination
        if name == "depthwise_conv_wrapper_s8" and self.arch == "mve":
            p = layer.params
            threshold = cn.CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD
            if p["input_dims"][3] == 1 and p["output_dims"][3] > threshold:
                return False  # converted to a convolution (im2col over several pixels)
        return True

    # ---- scratch -----------------------------------------------------------------------------------------------
    def scratch_bytes(self, layer) -> int:
        size = self._layer_scratch(layer) if self.handles(layer) else 0
        self._scratch[layer.index] = size
        return size

    def _layer_scratch(self, layer) -> int:
        name = layer.kernel_name()
        p = layer.params
        call = call_for(layer)
        if call is not None:
            return call.scratch(layer, self.arch)
        if name == "convolve_wrapper_s8":
            conv = cn.ConvParams(cn.Tile(*p["stride"]), cn.Tile(*p["padding"]), cn.Tile(*p["dilation"]))
            return cn.convolve_wrapper_s8_buffer_size(self.arch, conv, cn.Dims(*p["input_dims"]),
                                                      cn.Dims(*p["filter_dims"]), cn.Dims(*p["output_dims"]))
        if name == "depthwise_conv_wrapper_s8":
            dw = cn.DwConvParams(p["ch_mult"], cn.Tile(*p["stride"]), cn.Tile(*p["padding"]),
                                 cn.Tile(*p["dilation"]))
            return cn.depthwise_conv_wrapper_s8_buffer_size(self.arch, dw, cn.Dims(*p["input_dims"]),
                                                            cn.Dims(*p["filter_dims"]), cn.Dims(*p["output_dims"]))
        if name == "avgpool_s8":
            out = p["output_dims"]
            return cn.avgpool_s8_buffer_size(self.arch, out[2], p["input_dims"][3])
        if name == "avgpool_s16":
            return cn.avgpool_s16_buffer_size(self.arch, p["output_dims"][2], p["input_dims"][3])
        # FULLY_CONNECTED on MVE needs 4*C_OUT bytes of kernel sums: edgeq precomputes them into flash instead
        return 0

    # ---- after planning: decide per layer, register the kernel sums, bind the renderers -----------------------
    def renderer(self, buffers) -> Renderer:
        return CmsisRenderer(buffers, self)

    def prepare(self, lw, plan) -> None:
        inplace_out = {child for child, _ in plan.inplace}
        for layer in lw.layers:
            use = self.handles(layer)
            if use and layer.op.outputs and lw.buffers.get(layer.op.outputs[0]) in inplace_out:
                delay = layer.inplace_delay() if hasattr(layer, "inplace_delay") else 0
                if delay or layer.inplace_method == "channel" or not self._inplace_safe(layer):
                    use = False  # in place with a delay ring, or a kernel that cannot: edgeq's portable kernel
            if use:
                self._cmsis_layers.add(layer.index)
                call = call_for(layer)
                if call is not None:
                    call.setup(layer)
                if layer.kernel_name().startswith("fully_connected") and self.arch == "mve":
                    self._kernel_sums[layer.index] = self._register_kernel_sums(lw, layer)
            self._bind(layer, use, plan)
        self._prepared = True

    def _register_kernel_sums(self, lw, layer) -> str:
        p = layer.params
        g = lw.graph
        w = g.tensors[layer.op.inputs[1]].array().reshape(-1).tolist()
        b_idx = layer.op.inputs[2] if len(layer.op.inputs) > 2 else -1
        bias = g.tensors[b_idx].array().reshape(-1).tolist() if b_idx >= 0 else None
        sums = cn.kernel_sums(w, p["out_depth"], p["accum_depth"], bias, p["input_offset"], 0)
        return lw.ctx.add_const("kernel_sums", "int32_t", sums,
                                f"layer {layer.index} FC kernel sums (arm_vector_sum_s8, for MVE)", flash=False,
                                owner=layer_c_name(layer.opcode, layer.index))

    def _bind(self, layer, use: bool, plan) -> None:
        """The kernel context of a layer that runs on CMSIS-NN: its kernel sums (MVE FULLY_CONNECTED) or its
        scratch block in the arena; none when it needs neither."""
        if not use:
            return
        scratch = self._scratch.get(layer.index, 0)
        offs = getattr(plan, "scratch_offsets", None)
        scratch_off = offs[layer.index] if offs and layer.index < len(offs) else None
        if scratch and scratch_off is None:  # an older planner: one region after the activations
            scratch_off = plan.arena_bytes
        sums = self._kernel_sums.get(layer.index)
        if sums:
            self._contexts[layer.index] = Context(buf=CLiteral(f"(void *){sums}"),
                                                  size=4 * layer.params.get("out_depth", 0))
        elif scratch:
            self._contexts[layer.index] = Context(buf=ScratchRef(scratch_off, scratch, "kernel scratch"),
                                                  size=scratch)
        call = call_for(layer)
        if call is not None:  # an op whose CMSIS-NN call takes other arguments than edgeq's kernel
            self._calls[layer.index] = call.render(layer, self.arch)

    # ---- files -------------------------------------------------------------------------------------------------
    def functions(self, layers) -> list[str]:
        return sorted({self.function(layer) for layer in layers if layer.index in self._cmsis_layers})

    def kernel_of(self, layer) -> str:
        """The function ``layer`` calls in this compile: its CMSIS-NN function, or edgeq's portable kernel."""
        return self.function(layer) if layer.index in self._cmsis_layers else f"edgeq_{layer.kernel_name()}"

    @staticmethod
    def function(layer) -> str:
        """The CMSIS-NN function a mapped layer calls."""
        call = call_for(layer)
        return call.function if call is not None else CMSIS_FUNCS[layer.kernel_name()]

    def copy_kernels(self, layers, dest: Path) -> list[str]:
        if not self._prepared:
            raise AssertionError("cmsis-nn backend: copy_kernels before prepare")  # pragma: no cover
        out = []
        # portable kernels: the header always (EDGEQ_ALIGNED / EDGEQ_CONST_DATA), sources only for portable layers
        portable = [layer for layer in layers if layer.index not in self._cmsis_layers and layer.kernel_name()]
        files = [PORTABLE_HEADER]
        if portable:
            files = list(PORTABLE_BASE)
            for layer in portable:
                files += [f for f in layer.sources if f not in files]
        src_dir = templates_dir() / "kernels" / "portable"
        for f in files:
            (dest / f).write_bytes((src_dir / f).read_bytes())
            out.append(f)
        funcs = self.functions(layers)
        out += cn.copy_sources(self.root, funcs, dest, flat=True)
        (dest / GLUE_HEADER).write_text(self.glue_header(funcs), encoding="utf-8")
        out.append(GLUE_HEADER)
        return out

    def glue_header(self, funcs: list[str]) -> str:
        arch = self.arch.upper()
        return f"""/*
 * edgeq <-> CMSIS-NN glue ({cn.cmsis_nn_version(self.root)}), generated for target {self.target}.
 * CMSIS-NN functions called: {", ".join(funcs) or "none"}.
 */
#ifndef EDGEQ_CMSIS_NN_H
#define EDGEQ_CMSIS_NN_H

#include "arm_nnfunctions.h"
#include "{PORTABLE_HEADER}"

/* The kernel scratch was planned for CMSIS-NN's {self.arch} code path ({self.target}); the getters differ per path,
 * so building this code for another one would under-allocate it. Recompile the model with the matching --target. */
#define EDGEQ_CMSIS_NN_PLANNED_{arch} 1
#if defined(ARM_MATH_MVEI)
#if !defined(EDGEQ_CMSIS_NN_PLANNED_MVE)
#error "edgeq: this model was compiled for CMSIS-NN's {self.arch} path but is built for MVE (Helium): edgeq compile --target cortex-m55"
#endif
#elif defined(ARM_MATH_DSP)
#if !defined(EDGEQ_CMSIS_NN_PLANNED_DSP)
#error "edgeq: this model was compiled for CMSIS-NN's {self.arch} path but is built for a DSP core: edgeq compile --target cortex-m4 (or m7)"
#endif
#else
#if !defined(EDGEQ_CMSIS_NN_PLANNED_SCALAR)
#error "edgeq: this model was compiled for CMSIS-NN's {self.arch} path but is built without DSP/MVE: edgeq compile --target host (or cortex-m0plus, generic)"
#endif
#endif

#endif /* EDGEQ_CMSIS_NN_H */
"""
