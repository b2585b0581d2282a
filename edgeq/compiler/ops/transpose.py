"""TRANSPOSE (int8) -> edgeq_strided_copy: the output's dimension k walks the input's dimension perm[k]
(reference_ops::Transpose, up to 6-D). PyTorch NCHW exports start with one.

Folded (no code, no buffer) into a following MEAN that is its only reader when the transpose only reorders axes the
MEAN reduces (MCUNet's NHWC -> NCHW TRANSPOSE before a MEAN over H, W): the MEAN then reduces the TRANSPOSE's input
over the permuted axes. Exact: a sum does not depend on the order of its terms (int32, no overflow for <= 4-D int8
tensors of a microcontroller's size), n and the requantization are the same (a TRANSPOSE keeps scale and zero
point), and the kept axes appear in the same order, so the output bytes are the same.

A TRANSPOSE that only moves axes of size 1 keeps every byte in place: it is an alias of its input, like RESHAPE (no
code, one buffer).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.compiler.cparams import KernelCall
from edgeq.compiler.ops.base import sole_reader
from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer, contiguous_strides


@dataclass(frozen=True)
class TransposeFold:
    transpose_index: int  # the TRANSPOSE operator
    source: int  # the TRANSPOSE's input tensor, read by the MEAN instead
    perm: tuple[int, ...]  # transposed axis k is source axis perm[k]


def _resolved_axes(values, rank: int) -> list[int] | None:
    out: list[int] = []
    for a in values:
        a = a + rank if a < 0 else a
        if not 0 <= a < rank:
            return None
        if a not in out:
            out.append(a)
    return out


def transpose_folds(graph) -> dict[int, TransposeFold]:
    """MEAN operator index -> the TRANSPOSE folded into it (see the module docstring for when)."""
    folds: dict[int, TransposeFold] = {}
    for op in graph.operators:
        if op.opcode != "TRANSPOSE" or len(op.inputs) != 2:
            continue
        mean = sole_reader(graph, op)
        if mean is None or mean.opcode != "MEAN":
            continue
        src, perm_t, out = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], op.outputs[0]
        if src.is_constant or not perm_t.is_constant or src.dtype != "int8" or not 1 <= len(src.shape) <= 4:
            continue
        o = graph.tensors[out]
        if o.dtype != "int8" or o.zero_point != src.zero_point or float(o.scale) != float(src.scale):
            continue
        rank = len(src.shape)
        perm = _resolved_axes([int(v) for v in perm_t.array().reshape(-1)], rank)
        if perm is None or sorted(perm) != list(range(rank)):
            continue
        if len(mean.inputs) < 2 or mean.inputs[1] < 0 or not graph.tensors[mean.inputs[1]].is_constant:
            continue
        axes = _resolved_axes([int(v) for v in graph.tensors[mean.inputs[1]].array().reshape(-1)], rank)
        if axes is None:
            continue
        kept = [perm[k] for k in range(rank) if k not in axes]
        if kept != sorted(kept):
            continue  # the TRANSPOSE reorders kept axes: the MEAN's output order depends on it
        folds[mean.index] = TransposeFold(op.index, op.inputs[0], tuple(perm))
    return folds


class Transpose(StridedCopyLayer):
    OPS = ("TRANSPOSE",)

    @property
    def is_alias(self) -> bool:  # type: ignore[override]
        """Only axes of size 1 move: the same bytes in the same order (a RESHAPE)."""
        x = self.input(0)
        if x is None or x.is_constant or self.folded_into is not None:
            return False
        perm_t = self.input(1)
        if perm_t is None or not perm_t.is_constant:
            return False
        rank = len(x.shape)
        perm = _resolved_axes([int(v) for v in perm_t.array().reshape(-1)], rank)
        if perm is None or sorted(perm) != list(range(rank)):
            return False
        moved = [p for p in perm if int(x.shape[p]) != 1]
        return moved == sorted(moved)

    @property
    def folded_into(self) -> int | None:
        """The MEAN this TRANSPOSE is folded into (set by lower before prepare), or None."""
        return self.params.get("folded_into")

    def prepare(self) -> tuple[KernelCall, ...]:
        if self.folded_into is not None:
            self.params["copies"] = []
            return ()
        calls = super().prepare()
        if self.is_alias:
            self.params["copies"] = []  # no code: the output is the input's memory
            return ()
        return calls

    def reads(self) -> list[int]:
        return [] if self.folded_into is not None else super().reads()

    def writes(self) -> list[int]:
        return [] if self.folded_into is not None else super().writes()

    @property
    def sources(self) -> tuple[str, ...]:
        return () if self.folded_into is not None or self.is_alias else super().sources

    def kernel_name(self) -> str:
        return "" if self.folded_into is not None or self.is_alias else super().kernel_name()

    def describe(self, note: str = "") -> str:
        if self.folded_into is not None:
            return f"layer {self.index}: TRANSPOSE folded into layer {self.folded_into} (MEAN; no code, no buffer)"
        if self.is_alias:
            return super().describe("only axes of size 1 move: alias of its input, no code")
        return super().describe(note)

    def plan(self) -> list[Copy]:
        x = self.input(0)
        out = self.output()
        perm = self.const_param(1, "perm")
        rank = len(x.shape)
        perm = [p + rank if p < 0 else p for p in perm]
        if sorted(perm) != list(range(rank)):
            raise self.unsupported(f"perm {perm} is not a permutation of {rank} dimensions")
        if [x.shape[p] for p in perm] != list(out.shape):
            raise self.unsupported(f"output shape {list(out.shape)} is not the input {list(x.shape)} permuted")
        st = contiguous_strides(x.shape)
        return [Copy(self.op.inputs[0], self.op.outputs[0], tuple(out.shape), tuple(st[p] for p in perm),
                     tuple(contiguous_strides(out.shape)))]
