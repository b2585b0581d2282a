"""RESIZE_NEAREST_NEIGHBOR (int8, NHWC) -> edgeq_resize_nearest_s8 with two index maps computed here.

TFLM's reference_ops::GetNearestNeighbor in float32, exactly: scale = in / out (or (in-1)/(out-1) with
align_corners), the source index floor((i + offset) * scale) (round half away from zero with align_corners), offset
0.5 with half_pixel_centers, clamped to [0, in-1]. The bytes are copied, as in TFLM (no requantization)."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.ops.base import Layer, Renderer, c_dims, dims4


def nearest_map(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """Source index for each output index, with TFLM's float32 arithmetic."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    out = []
    for i in range(out_size):
        v = f32(f32(i) + offset) * scale  # float32 product, as the C++ float expression
        src = int(np.sign(v) * np.floor(np.abs(v) + f32(0.5))) if align_corners else int(np.floor(v))
        src = min(src, in_size - 1)
        if half_pixel_centers:
            src = max(0, src)
        out.append(src)
    return out


class ResizeNearestNeighbor(Layer):
    OPS = ("RESIZE_NEAREST_NEIGHBOR",)
    SOURCES = ("edgeq_data_movement_s8.c",)

    def prepare(self) -> None:
        x = self.require_int8(self.input(0), "input")
        out = self.output()
        if out.dtype != "int8":
            raise self.unsupported(f"output '{out.name}' is {out.dtype}; this op is compiled for int8 only")
        self.require_rank(x, (4,), "input")
        size = self.require_const(self.input(1), "size")
        oh, ow = (int(v) for v in size.array().reshape(-1)[:2])
        n, h, w, c = x.shape
        if list(out.shape) != [n, oh, ow, c]:
            raise self.unsupported(f"output {list(out.shape)} is not the input {list(x.shape)} resized to {oh}x{ow}")
        ac = bool(self.op.options.get("align_corners", False))
        hp = bool(self.op.options.get("half_pixel_centers", False))
        p = self.params
        p.update(in_dims=dims4(x.shape), oh=oh, ow=ow)
        p["y_map"] = self.ctx.add_const(f"edgeq_l{self.index}_y_map", "int32_t", nearest_map(h, oh, ac, hp),
                                        comment=f"layer {self.index} source rows")
        p["x_map"] = self.ctx.add_const(f"edgeq_l{self.index}_x_map", "int32_t", nearest_map(w, ow, ac, hp),
                                        comment=f"layer {self.index} source columns")

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def kernel_name(self) -> str:
        return "resize_nearest_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        return [
            c_dims(r, "input_dims", p["in_dims"]),
            f"{r.fn('resize_nearest_s8')}({r.cptr(self.op.inputs[0])}, &input_dims, {p['oh']}, {p['ow']}, "
            f"{p['y_map']}, {p['x_map']}, {r.ptr(self.op.outputs[0])});",
        ]
