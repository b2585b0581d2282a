"""GATHER (int8 params, constant int32/int64 indices, batch_dims 0) -> edgeq_strided_copy: output row k along
the axis is input row indices[k] (reference gather.cc with batch_dims 0). Indices in arithmetic progression make
one strided copy, others one copy per index. Computed indices (a model input) are refused."""

from __future__ import annotations

import math

from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer, axis_of


class Gather(StridedCopyLayer):
    OPS = ("GATHER",)
    INT16 = False  # TFLM: int8 and float only

    def plan(self) -> list[Copy]:
        x = self.input(0)
        idx_t = self.input(1)
        if idx_t is None or not idx_t.is_constant:
            raise self.unsupported("GATHER with indices computed at run time (only constant indices are compiled)")
        if int(self.op.options.get("batch_dims", 0)) != 0:
            raise self.unsupported("GATHER with batch_dims != 0")
        shape = [int(d) for d in x.shape]
        axis = axis_of(self, int(self.op.options.get("axis", 0)), len(shape))
        indices = [int(v) for v in idx_t.array().reshape(-1)]
        if any(not 0 <= i < shape[axis] for i in indices):
            raise self.unsupported(f"GATHER index out of range 0..{shape[axis] - 1}: {indices}")
        out = self.output()
        outer, inner, n = math.prod(shape[:axis]), math.prod(shape[axis + 1:]), len(indices)
        if out.num_elements != outer * n * inner:
            raise self.unsupported(f"output {list(out.shape)} does not match {n} rows of {shape} along axis {axis}")
        src, dst = self.op.inputs[0], self.op.outputs[0]
        steps = {b - a for a, b in zip(indices, indices[1:])}
        if len(steps) <= 1:  # one strided copy: [outer, n, inner]
            step = steps.pop() if steps else 0
            return [Copy(src, dst, (outer, n, inner), (shape[axis] * inner, step * inner, 1), (n * inner, inner, 1),
                         in_offset=indices[0] * inner)]
        return [Copy(src, dst, (outer, inner), (shape[axis] * inner, 1), (n * inner, 1), in_offset=i * inner,
                     out_offset=k * inner) for k, i in enumerate(indices)]
