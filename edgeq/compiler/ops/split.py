"""SPLIT, SPLIT_V and UNPACK (int8) -> one edgeq_strided_copy per output: output k is the input's k-th slice
along the axis (equal slices for SPLIT, the given sizes for SPLIT_V, slices of 1 with the axis removed for
UNPACK)."""

from __future__ import annotations

from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer, axis_of, slice_copies


class Split(StridedCopyLayer):
    OPS = ("SPLIT",)
    DATA_INPUTS = (1,)  # SPLIT's inputs are (axis, input)

    def plan(self) -> list[Copy]:
        src = self.op.inputs[1]
        x = self.tensor(src)
        axis = axis_of(self, self.const_param(0, "axis")[0], len(x.shape))
        n = len(self.op.outputs)
        if x.shape[axis] % n:
            raise self.unsupported(f"axis {axis} of size {x.shape[axis]} does not split into {n}")
        size = x.shape[axis] // n
        return self._slices(src, axis, [size] * n)

    def _slices(self, src: int, axis: int, sizes: list[int]) -> list[Copy]:
        copies, start = [], 0
        for k, size in enumerate(sizes):
            out = self.output(k)
            if out.num_elements != self.tensor(src).num_elements // self.tensor(src).shape[axis] * size:
                raise self.unsupported(f"output {k} {list(out.shape)} is not slice {k} of the input")
            copies.append(slice_copies(self, src, self.op.outputs[k], axis, start, size))
            start += size
        return copies


class SplitV(Split):
    OPS = ("SPLIT_V",)
    DATA_INPUTS = (0,)  # (input, size_splits, axis)

    def plan(self) -> list[Copy]:
        src = self.op.inputs[0]
        x = self.tensor(src)
        axis = axis_of(self, self.const_param(2, "axis")[0], len(x.shape))
        sizes = self.const_param(1, "size_splits")
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
        if len(sizes) != len(self.op.outputs) or sum(sizes) != x.shape[axis] or min(sizes) < 0:
            raise self.unsupported(f"size_splits {sizes} do not split axis {axis} of size {x.shape[axis]}")
        return self._slices(src, axis, sizes)


class Unpack(Split):
    OPS = ("UNPACK",)
    DATA_INPUTS = (0,)

    def plan(self) -> list[Copy]:
        src = self.op.inputs[0]
        x = self.tensor(src)
        axis = axis_of(self, int(self.op.options.get("axis", 0)), len(x.shape))
        if len(self.op.outputs) != x.shape[axis]:
            raise self.unsupported(f"{len(self.op.outputs)} outputs for axis {axis} of size {x.shape[axis]}")
        return self._slices(src, axis, [1] * x.shape[axis])
