"""MIRROR_PAD (int8, NHWC, height and width only; TFLM has no int16 MIRROR_PAD) -> edgeq_resize_nearest,
whose two index maps (output row -> input row, output column -> input column) here hold TFLM's mirror_pad.cc
GetInputDimension: REFLECT (offset 1) mirrors around the edge element, SYMMETRIC (offset 0) repeats it. The bytes
are copied, as in TFLM (no requantization). Padding the batch or channel axis is refused (the kernel maps rows and
columns only)."""

from __future__ import annotations

from edgeq.compiler.cparams import ConstRef, Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer, dims4

REFLECT = 0  # MirrorPadMode


def mirror_map(size: int, left: int, right: int, offset: int) -> list[int]:
    """Input index for each output index along one axis (TFLM's GetInputDimension)."""
    out = []
    for i in range(size + left + right):
        if i < left:
            original = left + offset - 1
            out.append(original - min(i, original - offset))
        elif i - left >= size:
            j = i - left - size
            original = size - (1 + offset)
            out.append(original - min(j, original))
        else:
            out.append(i - left)
    return out


class MirrorPad(Layer):
    OPS = ("MIRROR_PAD",)
    SOURCES = ("edgeq_data_movement.c",)

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(0), "input")
        out = self.output()
        if out.dtype != "int8":
            raise self.unsupported(f"output '{out.name}' is {out.dtype} where the input is int8")
        self.require_rank(x, (4,), "input")
        pads_t = self.require_const(self.input(1), "paddings")
        if pads_t.dtype not in ("int32", "int64"):
            raise self.unsupported(f"paddings tensor is {pads_t.dtype}")
        pads = [[int(v) for v in row] for row in pads_t.array().reshape(-1, 2).tolist()]
        if len(pads) != 4 or pads[0] != [0, 0] or pads[3] != [0, 0]:
            raise self.unsupported(f"paddings {pads}: only height and width are mirror-padded here")
        offset = 1 if int(self.op.options.get("mode", REFLECT)) == REFLECT else 0
        n, h, w, c = (int(d) for d in x.shape)
        for size, (a, b) in ((h, pads[1]), (w, pads[2])):
            if min(a, b) < 0 or max(a, b) > size - offset:
                raise self.unsupported(f"paddings {pads} too large for the input {list(x.shape)} (TFLite allows "
                                       f"at most the size{' - 1' if offset else ''})")
        oh, ow = h + sum(pads[1]), w + sum(pads[2])
        if list(out.shape) != [n, oh, ow, c]:
            raise self.unsupported(f"output {list(out.shape)} does not match {list(x.shape)} padded by {pads}")
        p = self.params
        p.update(in_dims=dims4(x.shape), oh=oh, ow=ow)
        p["y_map"] = self.ctx.add_const("y_map", "int32_t", mirror_map(h, *pads[1], offset),
                                        comment=f"layer {self.index} source rows")
        p["x_map"] = self.ctx.add_const("x_map", "int32_t", mirror_map(w, *pads[2], offset),
                                        comment=f"layer {self.index} source columns")
        return self._call()

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def _call(self) -> KernelCall:
        p = self.params
        return KernelCall.make("resize_nearest", status=False, input=TensorRef(self.op.inputs[0]),
                               input_dims=Dims(*p["in_dims"]), output_h=p["oh"], output_w=p["ow"],
                               y_map=ConstRef(p["y_map"], "int32_t"), x_map=ConstRef(p["x_map"], "int32_t"),
                               output=out_ref(self.op.outputs[0]), elem_size=1)
