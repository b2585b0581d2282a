"""RESIZE_NEAREST_NEIGHBOR (int8 or int16, NHWC) -> edgeq_resize_nearest (with the element size) and two index maps
computed here.

TFLM's reference_ops::GetNearestNeighbor in float32, exactly: scale = in / out (or (in-1)/(out-1) with
align_corners), the source index floor((i + offset) * scale) (round half away from zero with align_corners), offset
0.5 with half_pixel_centers, clamped to [0, in-1]. The bytes are copied, as in TFLM (no requantization)."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.cparams import ConstRef, Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops._int16 import CTYPE, ELEM_SIZE, act_dtype, activation
from edgeq.compiler.ops._resize import ResizeLayer


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


class ResizeNearestNeighbor(ResizeLayer):
    OPS = ("RESIZE_NEAREST_NEIGHBOR",)
    SOURCES = ("edgeq_data_movement.c",)
    MAP_ROWS = "source rows"
    MAP_COLUMNS = "source columns"

    def check_io(self):
        dt = act_dtype(self)
        x = activation(self, self.input(0), "input", dt, per_tensor=False)
        out = self.output()
        if out.dtype != dt:
            raise self.unsupported(f"output '{out.name}' is {out.dtype} where the input is {x.dtype}")
        return x, out

    def _call(self) -> KernelCall:
        p, dt = self.params, act_dtype(self)
        return KernelCall.make("resize_nearest", status=False, input=TensorRef(self.op.inputs[0], CTYPE[dt]),
                               input_dims=Dims(*p["in_dims"]), output_h=p["oh"], output_w=p["ow"],
                               y_map=ConstRef(p["y_map"], "int32_t"), x_map=ConstRef(p["x_map"], "int32_t"),
                               output=out_ref(self.op.outputs[0], CTYPE[dt]), elem_size=ELEM_SIZE[dt])

    def index_map(self, in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
        return nearest_map(in_size, out_size, align_corners, half_pixel_centers)
