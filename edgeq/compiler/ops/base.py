"""What every lowered layer has in common, TFLM style: one class per op kind, whose ``prepare()`` checks the operator,
computes its parameters once (multipliers, shifts, padding, activation range, dims) and returns its kernel call as
data (:class:`edgeq.compiler.cparams.KernelCall`).

A layer never sees arena offsets or C text: its call refers to tensors by index (``TensorRef``) and to the constant
data it registered with the :class:`LowerContext` (weights, biases, per-channel multipliers) by name (``ConstRef``);
the backend's :class:`Renderer` prints the call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from edgeq.compiler.cparams import (CArray, CLiteral, ConstRef, Context, CStruct, KernelCall, ScratchRef, TensorRef,
                                    CONTEXT, c_call_lines, c_declaration, c_initializer)
from edgeq.compiler.names import c_comment
from edgeq.errors import ModelError, UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from edgeq.tflite.graph import Graph, Operator, Tensor


@dataclass
class ConstArray:
    """One ``const`` array of model_data.c."""

    name: str  # C identifier (edgeq_...)
    ctype: str  # int8_t, int32_t, float
    values: np.ndarray
    comment: str = ""
    flash: bool = True  # PROGMEM on AVR (read through EDGEQ_W8/EDGEQ_W32); False: read by plain pointer

    @property
    def nbytes(self) -> int:
        return int(self.values.size * np.dtype(_NP_TYPES[self.ctype]).itemsize)


_NP_TYPES = {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32, "int64_t": np.int64, "float": np.float32,
             "uint8_t": np.uint8}


class LowerContext:
    """Shared state while lowering one graph: the graph and the constant arrays the layers register.

    Constants are named after the layer that registers them first (``owner``, set by lower() before each
    ``prepare()``): ``edgeq_conv0_filter``, ``edgeq_conv0_mult``, ``edgeq_fc11_bias``."""

    def __init__(self, graph: "Graph", target: str, backend: str, optimize: str = "speed"):
        self.graph = graph
        self.target = target
        self.backend = backend
        #: "speed": shape-specialised portable kernels where they apply; "size": only the general kernels
        self.optimize = optimize
        self.consts: dict[str, ConstArray] = {}
        self.owner = "model"  # c name of the layer being prepared (edgeq.compiler.names.layer_c_name)
        self._tensor_consts: dict[tuple[int, str], str] = {}
        self._tensor_const_users: dict[tuple[int, str], int] = {}

    def add_const(self, what: str, ctype: str, values, comment: str = "", flash: bool = True,
                  owner: str | None = None) -> str:
        """Register a constant array ``edgeq_<owner>_<what>`` (a numbered suffix if the layer has several of that
        kind); returns its C name."""
        arr = np.ascontiguousarray(np.asarray(values, dtype=_NP_TYPES[ctype]).reshape(-1))
        base = f"edgeq_{owner or self.owner}_{what}"
        name, k = base, 1
        while name in self.consts:
            k += 1
            name = f"{base}_{k}"
        self.consts[name] = ConstArray(name, ctype, arr, c_comment(comment), flash)
        return name

    def tensor_const(self, index: int, ctype: str, what: str, flash: bool = True) -> str:
        """The constant array holding tensor ``index`` (one array per tensor, shared by every layer using it)."""
        key = (index, ctype)
        if key not in self._tensor_consts:
            t = self.graph.tensors[index]
            self._tensor_consts[key] = self.add_const(
                what, ctype, t.array(), comment=f"{what} {list(t.shape)} '{t.name}'", flash=flash)
        self._tensor_const_users[key] = self._tensor_const_users.get(key, 0) + 1
        return self._tensor_consts[key]

    def release_tensor_const(self, index: int, ctype: str) -> None:
        """One user of :meth:`tensor_const`'s array no longer reads it (a backend kernel that reads its own copy of
        the tensor); the array is dropped from model_data.c when no user is left."""
        key = (index, ctype)
        self._tensor_const_users[key] -= 1
        if self._tensor_const_users[key] == 0:
            del self.consts[self._tensor_consts.pop(key)]
            del self._tensor_const_users[key]


class Renderer:
    """Prints a layer's :class:`~edgeq.compiler.cparams.KernelCall` as C: tensor references become the named arena
    buffers (``buffers``: tensor index -> object with ``.name`` and ``.ctype``), kernel and type names get the
    backend's prefix (``fn`` / ``ty``), ``CONTEXT`` becomes the layer's kernel context. A backend that runs some
    layers on other kernels (cmsis-nn) returns a per-layer renderer from :meth:`for_layer`."""

    def __init__(self, buffers: dict, backend: str = "portable"):
        self._buffers = buffers
        self.backend = backend
        self.used: set[str] = set()  # buffer names the printed code refers to (model.c declares only those)
        #: the kernel context blocks the printed code refers to: name -> (offset, bytes, what, layer index)
        self.scratch: dict[str, tuple[int, int, str, int]] = {}
        self._layer: "Layer | None" = None  # the layer being printed

    def for_layer(self, layer: "Layer") -> "Renderer":
        return self

    # ---- names ---------------------------------------------------------------------------------------------------
    def fn(self, name: str) -> str:
        return f"edgeq_{name}"

    def ty(self, name: str) -> str:
        return f"edgeq_{name}"

    def buffer(self, t: int) -> str:
        """The name of tensor ``t``'s arena buffer (and remember that the code uses it)."""
        name = self._buffers[t].name
        self.used.add(name)
        return name

    def tensor(self, ref: TensorRef) -> str:
        """A tensor argument: the buffer's name, cast only when the kernel reads it as another type."""
        text = self.buffer(ref.index)
        if ref.ctype != self._buffers[ref.index].ctype:
            text = f"({'' if ref.writable else 'const '}{ref.ctype} *){text}"
        return f"{text} + {ref.offset}" if ref.offset else text

    def context(self, layer: "Layer") -> Context:
        """The layer's kernel context: its delay ring when it runs in place with one (a backend with kernel scratch
        overrides this), else none."""
        if layer.inplace_ring:
            off, size = layer.inplace_ring
            what = "channel plane" if layer.inplace_method == "channel" else "delay ring"
            if layer.scratch_bytes() and what == "delay ring":
                what = "working buffers + stage + delay ring"
            return Context(buf=ScratchRef(off, size, what), size=size)
        if layer.plane_scratch:
            off, size = layer.plane_scratch
            return Context(buf=ScratchRef(off, size, "channel plane"), size=size)
        if layer.work_scratch:
            off, size = layer.work_scratch
            return Context(buf=ScratchRef(off, size, "working buffers"), size=size)
        return Context(buf=None, size=0)

    def scratch_buffer(self, ref: ScratchRef) -> str:
        """The name of the layer's context block in the arena (and remember to declare it in the memory map)."""
        from edgeq.compiler.names import layer_c_name

        layer = self._layer
        name = f"scratch_{layer_c_name(layer.opcode, layer.index)}" if layer is not None else f"scratch_{ref.offset}"
        while name in self.scratch and self.scratch[name] != (ref.offset, ref.size, ref.what, layer.index):
            name += "_"  # pragma: no cover - one context per layer
        self.scratch[name] = (ref.offset, ref.size, ref.what, layer.index if layer is not None else -1)
        return name

    def struct_pointer(self, ref: ConstRef) -> str:
        """A constant array stored in a struct field (CMSIS-NN's pointer fields are non-const: it casts)."""
        return self.value(ref)

    def value(self, v) -> str:
        """A reference or literal as C text."""
        if v is None:
            return "NULL"
        if isinstance(v, TensorRef):
            return self.tensor(v)
        if isinstance(v, ConstRef):
            return f"{v.name} + {v.offset}" if v.name and v.offset else (v.name or "NULL")
        if isinstance(v, CLiteral):
            return v.text
        if isinstance(v, ScratchRef):
            return self.scratch_buffer(v)
        raise TypeError(f"no C form for {v!r}")  # pragma: no cover - a compiler bug

    def _field(self, v) -> str:
        return self.struct_pointer(v) if isinstance(v, ConstRef) else self.value(v)

    # ---- calls ---------------------------------------------------------------------------------------------------
    def call_lines(self, layer: "Layer", call: KernelCall) -> list[str]:
        """The declarations of the call's struct and array arguments, then the call (``status = `` when the kernel
        returns a status)."""
        self._layer = layer
        decls: list[str] = []
        args: list[str] = []
        for a in call.locals + call.args:
            v = self.context(layer) if a.value is CONTEXT else a.value
            if isinstance(v, CStruct):
                decls += c_declaration(f"const {self.ty(v.C_TYPE)} {a.name}", v, self._field, LINE_WIDTH)
                args.append(f"&{a.name}")
            elif isinstance(v, CArray):
                ct = self.ty(v.ctype.C_TYPE) if isinstance(v.ctype, type) else v.ctype
                decl = f"{ct}const" if ct.endswith("*") else f"const {ct}"
                head = f"{decl} {a.name}[{len(v.values)}] = "
                if isinstance(v.ctype, type):  # an array of structs: one element per line
                    decls += [head + "{"] + [f"    {c_initializer(e, self._field)}," for e in v.values] + ["};"]
                else:
                    decls.append(f"{head}{c_initializer(tuple(v.values), self._field)};")
                args.append(a.name)
            else:
                args.append(c_initializer(v, self.value))
        args = args[len(call.locals):]  # the locals are declared, not passed
        head = f"status = {self.fn(call.kernel)}(" if call.returns_status else f"{self.fn(call.kernel)}("
        if not any(_is_scalar(a.value) for a in call.args):
            return decls + c_call_lines(head[:-1], args, LINE_WIDTH)
        # scalars would read as bare numbers: one argument per line, named after the prototype's parameter
        return decls + [head] + [f"    /* {a.name} */ {text}{',' if k < len(args) - 1 else ');'}"
                                 for k, (a, text) in enumerate(zip(call.args, args))]

    def calls_of(self, layer: "Layer") -> tuple[KernelCall, ...]:
        """The calls this backend makes for ``layer`` (its own unless the backend runs it on another kernel)."""
        return layer.calls

    def layer_lines(self, layer: "Layer") -> list[str]:
        """All of a layer's code: one call as is; several each in its own block, each status checked."""
        calls = self.calls_of(layer)
        if len(calls) == 1:
            return self.call_lines(layer, calls[0]) + (_STATUS_CHECK if calls[0].returns_status else [])
        lines: list[str] = []
        for call in calls:
            body = self.call_lines(layer, call) + (_STATUS_CHECK if call.returns_status else [])
            lines += ["{"] + ["    " + ln for ln in body] + ["}"]
        return lines


_STATUS_CHECK = ["if (status != 0) {", "    return (int)status;", "}"]

#: longest statement line a layer block prints on one line (model.c indents them by 8: lines stay within 110)
LINE_WIDTH = 102


def _is_scalar(value) -> bool:
    """A number passed by value (an int, or a float as a C literal), not a buffer, constant array, struct or
    context."""
    return isinstance(value, (bool, int, np.integer, CLiteral))


@dataclass
class Layer:
    """One operator of the graph, lowered. Subclasses set ``OPS`` and implement ``prepare``."""

    OPS: ClassVar[tuple[str, ...]] = ()
    #: portable kernel source files this layer needs (firmware_templates/kernels/portable/)
    SOURCES: ClassVar[tuple[str, ...]] = ()

    op: "Operator"
    ctx: LowerContext
    params: dict = field(default_factory=dict)

    # ---- graph access ----------------------------------------------------------------------------------------------
    @property
    def graph(self) -> "Graph":
        return self.ctx.graph

    @property
    def index(self) -> int:
        return self.op.index

    @property
    def opcode(self) -> str:
        return self.op.opcode

    def tensor(self, i: int) -> "Tensor":
        return self.graph.tensors[i]

    def input(self, k: int) -> "Tensor | None":
        if k >= len(self.op.inputs) or self.op.inputs[k] < 0:
            return None
        return self.graph.tensors[self.op.inputs[k]]

    def output(self, k: int = 0) -> "Tensor":
        return self.graph.tensors[self.op.outputs[k]]

    @property
    def where(self) -> str:
        return f"operator {self.index} ({self.opcode})"

    def unsupported(self, message: str, hint: str | None = None) -> UnsupportedError:
        return UnsupportedError(message, where=self.where, hint=hint)

    # ---- checks ----------------------------------------------------------------------------------------------------
    def require_int8(self, t: "Tensor | None", what: str, dtypes: tuple[str, ...] = ("int8",)) -> "Tensor":
        """``t``, quantized and of one of ``dtypes`` (int8 unless the op also has int16 kernels)."""
        if t is None:
            raise self.unsupported(f"{what} is missing")
        if t.dtype not in dtypes:
            raise self.unsupported(f"{what} '{t.name}' is {t.dtype}; this op is compiled for "
                                   f"{' or '.join(dtypes)} only",
                                   hint="quantize the model fully to int8 with 'edgeq quantize'")
        if t.quant is None or not t.quant.is_quantized:
            raise self.unsupported(f"{what} '{t.name}' has no quantization parameters")
        return t

    def require_activation(self, t: "Tensor | None", what: str, dtypes: tuple[str, ...] = ("int8",)) -> "Tensor":
        t = self.require_int8(t, what, dtypes)
        if t.quant.per_channel:
            raise self.unsupported(f"{what} '{t.name}' is quantized per channel; activations must be per tensor")
        return t

    def require_const(self, t: "Tensor | None", what: str) -> "Tensor":
        if t is None or not t.is_constant:
            raise self.unsupported(f"{what} must be a constant tensor")
        return t

    def require_rank(self, t: "Tensor", ranks: tuple[int, ...], what: str) -> None:
        if len(t.shape) not in ranks:
            raise self.unsupported(f"{what} '{t.name}' has shape {list(t.shape)}; expected rank "
                                   f"{' or '.join(map(str, ranks))}")

    # ---- interface used by lower/emit ----------------------------------------------------------------------------
    def prepare(self) -> "KernelCall | tuple[KernelCall, ...] | None":  # pragma: no cover - abstract
        """Check the operator and compute everything its kernel call needs, once: returns the call(s) as data
        (:class:`~edgeq.compiler.cparams.KernelCall`), or nothing for a layer that emits no code (an alias)."""
        raise NotImplementedError

    #: the kernel calls prepare() returned (set by lower(); empty for layers without code)
    calls: tuple[KernelCall, ...] = ()

    def reads(self) -> list[int]:
        """Non-constant tensors this layer reads (arena buffers)."""
        return [t for t in self.op.inputs if t >= 0 and not self.graph.tensors[t].is_constant]

    def writes(self) -> list[int]:
        return list(self.op.outputs)

    #: names of the constant arrays (ctx.consts) this layer registered first; set by lower()
    const_names: ClassVar[tuple[str, ...]] = ()

    #: True for layers whose output is the input's memory (RESHAPE): no call is emitted
    is_alias: ClassVar[bool] = False

    def inplace_candidates(self) -> list[int]:
        """Input tensors whose memory the output may take (the kernel reads every element before overwriting it,
        possibly through a delay ring of ``inplace_delay()`` bytes)."""
        return []

    def inplace_delay(self) -> int:
        """Bytes of delay ring (kernel scratch) this layer needs to run in place; 0 for elementwise kernels."""
        return 0

    def inplace_methods(self) -> dict[str, int]:
        """The ways this layer's kernels can overwrite their input, each with the working bytes (kernel scratch) it
        needs: ``{"ring": delay}`` (written in memory order through a delay ring; 0 = plain in-place writes) and,
        for depthwise convolutions, ``{"channel": plane}`` (one channel at a time through a channel plane).
        Empty when the layer cannot run in place."""
        return {"ring": self.inplace_delay()} if self.inplace_candidates() else {}

    def preferred_inplace_method(self) -> str:
        """The method of :meth:`inplace_methods` whose kernel runs fastest (the planner's first variant)."""
        return "ring"

    #: set after planning when the output really shares the input's memory and needs a working buffer (delay ring
    #: or channel plane): (arena offset, size in bytes)
    inplace_ring: tuple[int, int] | None = None
    #: set after planning: the method of :meth:`inplace_methods` the layer runs in place with, or None
    inplace_method: str | None = None
    #: set after planning when a layer that does not run in place got a working buffer of its own in the kernel
    #: scratch (a depthwise layer's channel plane): (arena offset, size in bytes)
    plane_scratch: tuple[int, int] | None = None
    #: set after planning when a layer that does not run in place got its :meth:`scratch_bytes` of kernel scratch:
    #: (arena offset, size in bytes)
    work_scratch: tuple[int, int] | None = None

    def scratch_bytes(self) -> int:
        """Bytes of kernel scratch (ctx->buf) the layer's kernel works in on the portable backend (the twin of its
        C ``*_buffer_size`` function); a layer that runs in place gets them as part of its in-place block."""
        return 0

    @property
    def sources(self) -> tuple[str, ...]:
        """Portable kernel sources this layer needs (may depend on the parameters)."""
        return self.SOURCES

    def kernel_name(self) -> str:
        """The (first) kernel this layer calls, without the backend prefix; "" when it emits no code."""
        return self.calls[0].kernel if self.calls else ""

    def describe(self, note: str = "") -> str:
        """One line for the comment above the call: index, op, output shape(s), a note, then the output's tensor
        name (last: the comment is cut to length there)."""
        outs = ", ".join("x".join(str(int(d)) for d in self.tensor(t).shape) or "scalar" for t in self.op.outputs)
        return f"layer {self.index}: {self.opcode} -> {outs}{', ' + note if note else ''} '{self.output().name}'"


# ---- requantization parameters the C kernels can execute -----------------------------------------------------------

#: shifts the kernels can apply: a left shift of at most 30 keeps ``x * (1 << shift)`` inside int32 (TFLM and CMSIS-NN
#: alike), a right shift of at most 31 stays inside the width of an int32 (QuantizeMultiplier flushes smaller
#: multipliers to zero). A shift outside is undefined behaviour in C; only absurd scales produce one.
MIN_SHIFT, MAX_SHIFT = -31, 30


def _call_shifts(name: str, value, consts):
    """(name, values) of every ``*shift`` field or argument inside a kernel call argument."""
    if isinstance(value, CStruct):
        for f in dataclasses.fields(value):
            yield from _call_shifts(f"{name}.{f.name}", getattr(value, f.name), consts)
    elif name.endswith("shift"):
        if isinstance(value, ConstRef) and value.name in consts:
            yield name, consts[value.name].values.tolist()
        elif isinstance(value, (int, np.integer)):
            yield name, [value]


def _shift_values(layer: "Layer"):
    """(parameter name, values) of every shift ``layer.prepare()`` derived: the ``*shift`` arguments and struct
    fields of its kernel calls; params whose key ends in ``shift`` (an int, or the name of a registered int32 const
    array) and NamedTuple params with ``*shift`` fields."""
    for call in layer.calls:
        for a in call.args:
            yield from _call_shifts(a.name, a.value, layer.ctx.consts)
    for key, value in layer.params.items():
        if hasattr(value, "_fields"):
            for f in value._fields:
                if f.endswith("shift"):
                    yield f"{key}.{f}", [getattr(value, f)]
        elif key.endswith("shift"):
            if isinstance(value, (int, np.integer)):
                yield key, [value]
            elif isinstance(value, str) and value in layer.ctx.consts:
                yield key, layer.ctx.consts[value].values.tolist()


def check_requantization(layer: "Layer") -> None:
    """Refuse a layer whose derived multipliers need a shift outside [MIN_SHIFT, MAX_SHIFT] (scales of 3e38 or 1e-45,
    say), naming the operator and the parameter; called after ``prepare()``, before any C is written."""
    for name, values in _shift_values(layer):
        bad = [int(v) for v in values if not MIN_SHIFT <= int(v) <= MAX_SHIFT]
        if bad:
            raise ModelError(
                f"quantization scales give a requantization shift of {bad[0]} ({name}), outside the "
                f"[{MIN_SHIFT}, {MAX_SHIFT}] the int8 kernels can execute",
                where=layer.where, hint="the input/weight/output scales of this op are not plausible; re-quantize "
                                        "the model")


def check_accumulator(layer: "Layer", weight_abs_sums, bias: "Tensor | None", n_channels: int) -> None:
    """Refuse weights/bias whose int32 accumulator can overflow (undefined behaviour in the C kernels, as in TFLM's).

    Each output channel accumulates ``sum_k w_k * (x_k - zp_in) + bias`` with ``|x_k - zp_in| <= 255``, so
    ``255 * sum_k |w_k| + |bias|`` must stay inside int32. ``weight_abs_sums[c]`` is ``sum_k |w_k|`` of channel c.
    Real models are orders of magnitude below the bound; a damaged bias (a flipped high bit) is not. Also checks that
    the bias has one value per output channel (the kernels read ``n_channels`` of them).
    """
    sums = np.asarray(weight_abs_sums, dtype=np.int64).reshape(-1)
    bound = 255 * sums
    if bias is not None:
        if bias.num_elements != n_channels:
            raise layer.unsupported(f"bias '{bias.name}' has {bias.num_elements} values for {n_channels} output "
                                    f"channels")
        bound = bound + np.abs(bias.array().astype(np.int64).reshape(-1))
    worst = int(bound.max()) if bound.size else 0
    if worst > INT32_MAX:
        c = int(bound.argmax()) if bound.size > 1 else 0
        raise ModelError(f"weights and bias of output channel {c} can overflow the int32 accumulator (|acc| up to "
                         f"{worst:,})", where=layer.where, hint="the weights or bias are damaged; re-export the model")


INT32_MAX = (1 << 31) - 1


# ---- small shared helpers -----------------------------------------------------------------------------------------


def sole_reader(graph, producer) -> "Operator | None":
    """The one operator that reads ``producer``'s single output, as its input 0, when that output is not a model
    output (what a fold of ``producer`` into its reader needs), else None."""
    if len(producer.outputs) != 1 or producer.outputs[0] in graph.outputs:
        return None
    out = producer.outputs[0]
    users = [(op, k) for op in graph.operators for k, t in enumerate(op.inputs) if t == out]
    return users[0][0] if len(users) == 1 and users[0][1] == 0 else None


def dims4(shape) -> tuple[int, int, int, int]:
    """A tensor shape as (n, h, w, c): rank < 4 is padded with leading 1s."""
    shape = tuple(int(d) for d in shape)
    if len(shape) > 4:
        raise ValueError(f"rank {len(shape)} > 4")
    return (1,) * (4 - len(shape)) + shape



def inplace_delay(in_shape, out_shape, channel_term, kh: int, kw: int, stride_h: int, stride_w: int, dil_h: int,
                  dil_w: int, pad_h: int, pad_w: int) -> int:
    """How many output bytes a window kernel (conv, depthwise, pool) must hold back to overwrite its own input.

    The kernels write output element ``e`` (flat index, loop order = memory order) through a delay ring of ``D``
    bytes (edgeq_nn_support.c ``edgeq_ow_*``): while element ``e`` is computed, only outputs ``0 .. e-D-1`` have
    reached memory. In place is therefore exact iff every element reads only input positions ``> e - D - 1``, i.e.
    ``D = max(0, max_e(e - first_input_position_read_by(e)))``. ``D == 0``: plain in-place writes are already safe.

    ``channel_term[co]`` = ``co`` minus the first input channel output channel ``co`` reads (conv: ``co - group *
    filter_c``; depthwise: ``co - co // ch_mult``; pooling: 0). The first position a pixel reads is its top-left valid
    tap (rows, then columns ascending). Output pixels with no valid tap read nothing.
    """
    n, h, w, cin = dims4(in_shape)
    _, ho, wo, cout = dims4(out_shape)
    oy = np.arange(ho)[:, None]
    ox = np.arange(wo)[None, :]
    y0 = oy * stride_h - pad_h
    x0 = ox * stride_w - pad_w
    ky = np.where(y0 < 0, -(y0 // dil_h), 0)  # first k with origin + dil * k >= 0, i.e. ceil(-origin / dil)
    kx = np.where(x0 < 0, -(x0 // dil_w), 0)
    iy = y0 + dil_h * ky
    ix = x0 + dil_w * kx
    valid = (ky < kh) & (iy < h) & (kx < kw) & (ix < w)
    if not valid.any():
        return 0
    worst = -(1 << 62)
    for b in range(n):
        diff = ((b * ho + oy) * wo + ox) * cout - ((b * h + iy) * w + ix) * cin
        worst = max(worst, int(diff[valid].max()))
    return max(0, worst + int(np.max(channel_term)))
