"""What the data-movement layers share: one or more strided copies (``edgeq_strided_copy``), each a 6-D loop
whose input and output strides are computed here, once, from the shapes and the op's constant parameters.

Every op built on it copies elements as TFLM's reference kernels do (no arithmetic, so bit-exact by construction;
the tests still compare with TFLM): int8, or int16 for the ops whose TFLM kernel takes int16 (``INT16``); the one
kernel takes the element size. A subclass's ``plan()`` returns its copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeq.compiler.cparams import CArray, KernelCall, out_ref
from edgeq.compiler.ops._int16 import CTYPE, ELEM_SIZE, act_dtype
from edgeq.compiler.ops.base import Layer
from edgeq.compiler.ops.elementwise import operand, operand_ref

RANK = 6  # the kernel's loop depth


def contiguous_strides(shape) -> list[int]:
    """Row-major element strides of ``shape``."""
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * int(shape[k + 1])
    return strides


@dataclass(frozen=True)
class Copy:
    """out[o_off + sum(i_k * out_strides[k])] = in[i_off + sum(i_k * in_strides[k])] for i over ``dims``."""

    src: int  # tensor index
    dst: int
    dims: tuple[int, ...]
    in_strides: tuple[int, ...]
    out_strides: tuple[int, ...]
    in_offset: int = 0
    out_offset: int = 0

    def padded(self) -> "Copy":
        """The same copy with exactly RANK dims (leading 1s with stride 0)."""
        n = len(self.dims)
        if n > RANK:
            raise ValueError(f"rank {n} > {RANK}")
        pad = RANK - n
        return Copy(self.src, self.dst, (1,) * pad + tuple(self.dims), (0,) * pad + tuple(self.in_strides),
                    (0,) * pad + tuple(self.out_strides), self.in_offset, self.out_offset)


class StridedCopyLayer(Layer):
    """Base of TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH."""

    SOURCES = ("edgeq_data_movement.c",)
    #: positions in op.inputs of the data tensors (the others are constant parameters)
    DATA_INPUTS: tuple[int, ...] | None = (0,)
    #: TFLM's kernel for the op also takes int16 (DEPTH_TO_SPACE, SPACE_TO_DEPTH and GATHER take int8 / float only)
    INT16: bool = True

    def plan(self) -> list[Copy]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def dtype(self) -> str:
        return act_dtype(self) if self.INT16 else "int8"

    def prepare(self) -> tuple[KernelCall, ...]:
        dt = self.dtype
        for k in self.data_inputs():
            operand(self, k, f"input {k}", dt)
        for k in range(len(self.op.outputs)):
            out = self.output(k)
            if out.dtype != dt:
                raise self.unsupported(f"output {k} '{out.name}' is {out.dtype}; this op is compiled for int8"
                                       f"{' and int16' if self.INT16 else ' only (TFLM: int8 and float only)'}")
        copies = []
        for c in self.plan():
            if len(c.dims) > RANK:
                raise self.unsupported(f"more than {RANK} dimensions")
            if math.prod(c.dims) == 0:
                continue
            copies.append(c.padded())
        self.params["copies"] = copies
        return self._call()

    def data_inputs(self) -> list[int]:
        return list(self.DATA_INPUTS) if self.DATA_INPUTS is not None else list(range(len(self.op.inputs)))

    def reads(self) -> list[int]:
        return [self.op.inputs[k] for k in self.data_inputs() if not self.tensor(self.op.inputs[k]).is_constant]

    def const_param(self, k: int, what: str) -> list[int]:
        """A constant int32/int64 parameter tensor (perm, begin, size, axis, ...) as a list of ints."""
        t = self.require_const(self.input(k), what)
        return [int(v) for v in t.array().reshape(-1)]

    def _call(self) -> tuple[KernelCall, ...]:
        dt = self.dtype
        return tuple(KernelCall.make("strided_copy", status=False,
                                     input=operand_ref(self, c.src, c.in_offset),
                                     in_strides=CArray("int32_t", c.in_strides),
                                     output=out_ref(c.dst, CTYPE[dt], offset=c.out_offset),
                                     out_strides=CArray("int32_t", c.out_strides), dims=CArray("int32_t", c.dims),
                                     elem_size=ELEM_SIZE[dt])
                     for c in self.params["copies"])

def axis_of(layer: Layer, axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise layer.unsupported(f"axis {axis} out of range for rank {rank}")
    return a


def slice_copies(layer: StridedCopyLayer, src: int, dst: int, axis: int, start: int, size: int) -> Copy:
    """The copy of ``src[..., start:start+size, ...]`` (along ``axis``) into the contiguous tensor ``dst``."""
    shape = list(layer.tensor(src).shape)
    st = contiguous_strides(shape)
    dims = shape[:]
    dims[axis] = size
    return Copy(src, dst, tuple(dims), tuple(st), tuple(contiguous_strides(dims)), in_offset=start * st[axis])
