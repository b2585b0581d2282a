"""PACK (int8) -> one edgeq_strided_copy per input: input k fills index k of the new output axis
(reference_ops::Pack)."""

from __future__ import annotations

from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer, axis_of, contiguous_strides


class Pack(StridedCopyLayer):
    OPS = ("PACK",)
    DATA_INPUTS = None  # every input is data

    def plan(self) -> list[Copy]:
        out = self.output()
        axis = axis_of(self, int(self.op.options.get("axis", 0)), len(out.shape))
        n = len(self.op.inputs)
        if out.shape[axis] != n:
            raise self.unsupported(f"{n} inputs for output axis {axis} of size {out.shape[axis]}")
        ost = contiguous_strides(out.shape)
        copies = []
        for k, src in enumerate(self.op.inputs):
            x = self.tensor(src)
            if list(x.shape) != list(out.shape[:axis]) + list(out.shape[axis + 1:]):
                raise self.unsupported(f"input {k} {list(x.shape)} does not stack into {list(out.shape)}")
            copies.append(Copy(src, self.op.outputs[0], tuple(x.shape), tuple(contiguous_strides(x.shape)),
                               tuple(ost[:axis] + ost[axis + 1:]), out_offset=k * ost[axis]))
        return copies
