"""RESIZE_BILINEAR (int8, NHWC) -> edgeq_resize_bilinear_s8 with per-row / per-column maps computed here.

TFLM's reference_ops::ResizeBilinearInteger: a 10-bit fixed-point scale ``((1024*in + out/2) / out)`` (align_corners:
``(1024*(in-1) + (out-1)/2) / (out-1)``), the source position ``i*scale`` (half_pixel_centers: ``+ scale/2 - 512``),
lower index ``max(pos/1024, 0)``, upper ``min((pos+1023)/1024, in-1)`` (C division), the four weighted pixels summed
in int64 and divided by 2^20 rounding half away from zero. The input and output quantization must match (TFLM
copies the int8 arithmetic without requantizing)."""

from __future__ import annotations

from edgeq.compiler.cparams import ConstRef, Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops._resize import ResizeLayer


def _cdiv(n: int, d: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


def bilinear_map(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """[lower, upper, position - 1024 * lower] for each output index, flattened."""
    scale = _cdiv(1024 * in_size + out_size // 2, out_size)
    if align_corners and out_size > 1:
        scale = _cdiv(1024 * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    out = []
    for i in range(out_size):
        pos = i * scale + _cdiv(scale, 2) - (1 << 9) if half_pixel_centers else i * scale
        lo = max(_cdiv(pos, 1024), 0)
        hi = min(_cdiv(pos + 1023, 1024), in_size - 1)
        out += [lo, hi, pos - 1024 * lo]
    return out


class ResizeBilinear(ResizeLayer):
    OPS = ("RESIZE_BILINEAR",)
    SOURCES = ("edgeq_resize_bilinear_s8.c",)
    MAP_ROWS = "rows: lower, upper, 10-bit fraction"
    MAP_COLUMNS = "columns: lower, upper, 10-bit fraction"

    def check_io(self):
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        if self.op.options.get("align_corners", False) and self.op.options.get("half_pixel_centers", False):
            raise self.unsupported("align_corners and half_pixel_centers together (TFLM refuses it too)")
        return x, out

    def _call(self) -> KernelCall:
        p = self.params
        return KernelCall.make("resize_bilinear_s8", status=False, input=TensorRef(self.op.inputs[0]),
                               input_dims=Dims(*p["in_dims"]), output_h=p["oh"], output_w=p["ow"],
                               y_map=ConstRef(p["y_map"], "int32_t"), x_map=ConstRef(p["x_map"], "int32_t"),
                               output=out_ref(self.op.outputs[0]))

    def index_map(self, in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
        return bilinear_map(in_size, out_size, align_corners, half_pixel_centers)
