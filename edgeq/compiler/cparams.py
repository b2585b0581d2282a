"""Kernel calls as data: the C structs the kernels take, as frozen dataclasses, and the one printer for them.

A layer's ``prepare()`` returns its :class:`KernelCall` (or a tuple of them): the kernel's name, whether it returns a
status, and its arguments in the C function's order. A struct argument is a :class:`CStruct` dataclass whose fields
mirror the C struct field for field (edgeq_nn.h; CMSIS-NN's arm_nn_types.h uses the same field names), a tensor is a
:class:`TensorRef`, a constant array a :class:`ConstRef`, a small local array a :class:`CArray`, the layer's kernel
context :data:`CONTEXT`. Nothing here knows arena offsets or backend prefixes: the backend's renderer
(:class:`edgeq.compiler.ops.base.Renderer`) resolves those, and :func:`c_initializer` prints every struct as a C99
designated initializer, so no C field order is written anywhere else::

    ConvParams(input_offset=-83, output_offset=-128, stride=Tile(w=2, h=2), ...)
    -> {.input_offset = -83, .output_offset = -128, .stride = {.w = 2, .h = 2}, ...}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, ClassVar

from edgeq._templates import c_int


class CStruct:
    """Base of the struct dataclasses. ``C_TYPE`` is the C type name without the backend prefix (``conv_params`` is
    ``edgeq_conv_params`` on the portable kernels, ``cmsis_nn_conv_params`` on CMSIS-NN)."""

    C_TYPE: ClassVar[str] = ""


# ---- references the renderer resolves --------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorRef:
    """An activation tensor (an arena buffer), read through ``const ctype *`` or written through ``ctype *``;
    ``offset`` elements past its start."""

    index: int
    ctype: str = "int8_t"
    writable: bool = False
    offset: int = 0


def out_ref(index: int, ctype: str = "int8_t", offset: int = 0) -> TensorRef:
    """A tensor the kernel writes."""
    return TensorRef(index, ctype, True, offset)


@dataclass(frozen=True)
class ConstRef:
    """A constant array of model_data.c by name (None: a NULL pointer, e.g. no bias), ``offset`` elements in."""

    name: str | None
    ctype: str = "int8_t"
    offset: int = 0


@dataclass(frozen=True)
class ScratchRef:
    """A block of the arena a kernel uses as its context buffer (``what``: "delay ring", "kernel scratch"); model.c
    declares it in its memory map as ``scratch_<layer>``."""

    offset: int
    size: int
    what: str


@dataclass(frozen=True)
class CLiteral:
    """A value that is already C text (a float literal, a cast)."""

    text: str


@dataclass(frozen=True)
class CArray:
    """A small array local to the call (strides, pointer tables), passed by name: ``const ctype name[n] = {...}``.
    ``ctype`` is a C type name, or a CStruct class for an array of structs."""

    ctype: object
    values: tuple


class _Context:
    """The layer's kernel context ({buf, size}): its scratch, delay ring or precomputed sums; NULL, 0 when none."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "CONTEXT"


CONTEXT = _Context()


# ---- the structs both kernel sets take (edgeq_nn.h / arm_nn_types.h; an op's own struct, for a portable kernel
# only, is defined in its op module) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile(CStruct):
    C_TYPE: ClassVar[str] = "tile"
    w: int
    h: int


@dataclass(frozen=True)
class Activation(CStruct):
    C_TYPE: ClassVar[str] = "activation"
    min: int
    max: int


@dataclass(frozen=True)
class Dims(CStruct):
    C_TYPE: ClassVar[str] = "dims"
    n: int
    h: int
    w: int
    c: int

    @classmethod
    def of(cls, shape) -> "Dims":
        """A shape of rank <= 4 as n, h, w, c (leading 1s)."""
        shape = tuple(int(d) for d in shape)
        return cls(*((1,) * (4 - len(shape)) + shape))

    @property
    def size(self) -> int:
        return self.n * self.h * self.w * self.c


@dataclass(frozen=True)
class Context(CStruct):
    C_TYPE: ClassVar[str] = "context"
    buf: object  # ScratchRef (a block of the arena), CLiteral of another address, or None for NULL
    size: int


@dataclass(frozen=True)
class ConvParams(CStruct):
    C_TYPE: ClassVar[str] = "conv_params"
    input_offset: int
    output_offset: int
    stride: Tile
    padding: Tile
    dilation: Tile
    activation: Activation


@dataclass(frozen=True)
class DwConvParams(CStruct):
    C_TYPE: ClassVar[str] = "dw_conv_params"
    input_offset: int
    output_offset: int
    ch_mult: int
    stride: Tile
    padding: Tile
    dilation: Tile
    activation: Activation


@dataclass(frozen=True)
class PoolParams(CStruct):
    C_TYPE: ClassVar[str] = "pool_params"
    stride: Tile
    padding: Tile
    activation: Activation


@dataclass(frozen=True)
class FcParams(CStruct):
    C_TYPE: ClassVar[str] = "fc_params"
    input_offset: int
    filter_offset: int
    output_offset: int
    activation: Activation


@dataclass(frozen=True)
class PerChannelQuantParams(CStruct):
    C_TYPE: ClassVar[str] = "per_channel_quant_params"
    multiplier: ConstRef
    shift: ConstRef


@dataclass(frozen=True)
class BiasData(CStruct):
    """The bias of the int16x8 convolution (cmsis_nn_bias_data): int64 values, or int32 ones."""

    C_TYPE: ClassVar[str] = "bias_data"
    data: ConstRef
    is_int32_bias: bool


@dataclass(frozen=True)
class PerTensorQuantParams(CStruct):
    C_TYPE: ClassVar[str] = "per_tensor_quant_params"
    multiplier: int
    shift: int


# ---- calls -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument of a kernel call: its parameter name (the name of the local a struct is declared as) and value."""

    name: str
    value: object


@dataclass(frozen=True)
class KernelCall:
    """One call of a kernel: ``kernel`` without its backend prefix (``convolve_wrapper_s8``), whether it returns an
    ``edgeq_status`` the generated code must check, and the arguments in the C function's order."""

    kernel: str
    returns_status: bool
    args: tuple[Arg, ...]
    #: structs / arrays declared before the call but not passed (what a struct argument points to)
    locals: tuple[Arg, ...] = ()

    @classmethod
    def make(cls, kernel: str, *, status: bool, locals: dict | None = None, **args) -> "KernelCall":
        """``KernelCall.make("softmax_s8", status=False, input=TensorRef(3), num_rows=1, ...)``: the keyword
        order is the C argument order."""
        return cls(kernel, status, tuple(Arg(k, v) for k, v in args.items()),
                   tuple(Arg(k, v) for k, v in (locals or {}).items()))

    def arg(self, name: str):
        for a in self.args:
            if a.name == name:
                return a.value
        raise KeyError(name)

    def replace(self, **changes) -> "KernelCall":
        return dataclasses.replace(self, **changes)


# ---- printing ----------------------------------------------------------------------------------------------------


def c_declaration(head: str, value: CStruct, ref: Callable[[object], str], width: int) -> list[str]:
    """``head = {...};`` on one line when it fits in ``width`` characters, else one top-level field per line, the
    ``=`` aligned::

        const edgeq_conv_params conv_params = {
            .input_offset  = -83,
            .output_offset = -128,
            .stride        = {.w = 2, .h = 2},
            ...
        };
    """
    line = f"{head} = {c_initializer(value, ref)};"
    if len(line) <= width:
        return [line]
    fields = dataclasses.fields(value)
    pad = max(len(f.name) for f in fields)
    return ([f"{head} = {{"] + [f"    .{f.name:<{pad}} = {c_initializer(getattr(value, f.name), ref)},"
                                for f in fields] + ["};"])


def c_call_lines(head: str, args: list[str], width: int) -> list[str]:
    """``head(a, b, ...);`` on one line when it fits in ``width`` characters, else wrapped, the continuation lines
    aligned after the parenthesis."""
    line = f"{head}({', '.join(args)});"
    if len(line) <= width:
        return [line]
    lines, current = [], f"{head}("
    indent = " " * len(current)
    for k, a in enumerate(args):
        piece = a + (");" if k == len(args) - 1 else ",")
        if current.strip() and current != f"{head}(" and len(current) + 1 + len(piece) > width:
            lines.append(current.rstrip())
            current = indent + piece
        else:
            current += ("" if current.endswith("(") else " ") + piece
    return lines + [current]


def c_initializer(value, ref: Callable[[object], str]) -> str:
    """``value`` as a C initializer: a CStruct as ``{.field = ..., ...}`` (nested structs alike), a tuple as
    ``{a, b, ...}``, an int as its literal; ``ref`` prints everything else (references, literals, None)."""
    if isinstance(value, CStruct):
        fields = ", ".join(f".{f.name} = {c_initializer(getattr(value, f.name), ref)}"
                           for f in dataclasses.fields(value))
        return "{" + fields + "}"
    if isinstance(value, (tuple, list)):
        return "{" + ", ".join(c_initializer(v, ref) for v in value) + "}"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return c_int(value)
    if hasattr(value, "__index__") and not isinstance(value, (CLiteral, ConstRef, TensorRef)):
        return c_int(int(value))  # numpy integers
    return ref(value)
