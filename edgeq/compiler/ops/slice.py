"""SLICE and STRIDED_SLICE (int8) -> edgeq_strided_copy.

SLICE: ``begin`` and ``size`` (-1 = to the end), constant. STRIDED_SLICE: ``begin``/``end``/``strides`` constant,
with begin/end/shrink-axis masks (reference_ops::StridedSlice's StartForAxis / StopForAxis: the same clamping as a
Python slice); ellipsis and new-axis masks are refused. The start and step per axis become the copy's offset and
strides (a negative step walks backwards)."""

from __future__ import annotations

from edgeq.compiler.ops.data_movement import Copy, StridedCopyLayer, contiguous_strides


def _copy(layer, starts: list[int], steps: list[int], sizes: list[int]) -> Copy:
    x = layer.input(0)
    st = contiguous_strides(x.shape)
    offset = sum(s * k for s, k in zip(starts, st))
    return Copy(layer.op.inputs[0], layer.op.outputs[0], tuple(sizes), tuple(s * k for s, k in zip(steps, st)),
                tuple(contiguous_strides(sizes)), in_offset=offset)


class Slice(StridedCopyLayer):
    OPS = ("SLICE",)

    def plan(self) -> list[Copy]:
        x = self.input(0)
        begin = self.const_param(1, "begin")
        size = self.const_param(2, "size")
        rank = len(x.shape)
        if len(begin) != rank or len(size) != rank:
            raise self.unsupported(f"begin {begin} / size {size} do not match rank {rank}")
        sizes = [x.shape[k] - begin[k] if size[k] == -1 else size[k] for k in range(rank)]
        if any(b < 0 or s < 0 or b + s > d for b, s, d in zip(begin, sizes, x.shape)):
            raise self.unsupported(f"slice begin {begin} size {size} out of the input {list(x.shape)}")
        self._check_out(sizes)
        return [_copy(self, begin, [1] * rank, sizes)]

    def _check_out(self, sizes: list[int], keep=None) -> None:
        out = self.output()
        kept = [s for k, s in enumerate(sizes) if keep is None or keep[k]]
        if list(out.shape) != kept:
            raise self.unsupported(f"computed output shape {kept} differs from the model's {list(out.shape)}")


class StridedSlice(Slice):
    OPS = ("STRIDED_SLICE",)

    def plan(self) -> list[Copy]:
        x = self.input(0)
        o = self.op.options
        if int(o.get("ellipsis_mask", 0)) or int(o.get("new_axis_mask", 0)):
            raise self.unsupported("STRIDED_SLICE with an ellipsis or new-axis mask")
        if o.get("offset"):
            raise self.unsupported("STRIDED_SLICE with offset=true")
        begin = self.const_param(1, "begin")
        end = self.const_param(2, "end")
        strides = self.const_param(3, "strides")
        rank = len(x.shape)
        n = len(begin)
        if not (len(end) == len(strides) == n) or n > rank:
            raise self.unsupported(f"begin/end/strides lengths {len(begin)}/{len(end)}/{len(strides)} for rank {rank}")
        bmask, emask, smask = (int(o.get(k, 0)) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
        starts, steps, sizes, keep = [], [], [], []
        for k in range(rank):
            d = int(x.shape[k])
            if k >= n:  # unspecified trailing axes: the whole axis
                starts.append(0), steps.append(1), sizes.append(d), keep.append(True)
                continue
            step = strides[k]
            if step == 0:
                raise self.unsupported(f"stride 0 on axis {k}")
            if smask >> k & 1:
                b = begin[k] + d if begin[k] < 0 else begin[k]
                if not 0 <= b < d:
                    raise self.unsupported(f"shrink-axis index {begin[k]} out of range on axis {k}")
                starts.append(b), steps.append(1), sizes.append(1), keep.append(False)
                continue
            b = None if bmask >> k & 1 else begin[k]
            e = None if emask >> k & 1 else end[k]
            start, stop, stp = slice(b, e, step).indices(d)
            starts.append(start), steps.append(stp), sizes.append(len(range(start, stop, stp))), keep.append(True)
        self._check_out(sizes, keep)
        return [_copy(self, starts, steps, sizes)]
