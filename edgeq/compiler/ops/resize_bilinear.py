"""RESIZE_BILINEAR (int8, NHWC) -> edgeq_resize_bilinear_s8 with per-row / per-column maps computed here.

TFLM's reference_ops::ResizeBilinearInteger: a 10-bit fixed-point scale ``((1024*in + out/2) / out)`` (align_corners:
``(1024*(in-1) + (out-1)/2) / (out-1)``), the source position ``i*scale`` (half_pixel_centers: ``+ scale/2 - 512``),
lower index ``max(pos/1024, 0)``, upper ``min((pos+1023)/1024, in-1)`` (C division), the four weighted pixels summed
in int64 and divided by 2^20 rounding half away from zero. The input and output quantization must match (TFLM
copies the int8 arithmetic without requantizing)."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer, c_dims, dims4


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


class ResizeBilinear(Layer):
    OPS = ("RESIZE_BILINEAR",)
    SOURCES = ("edgeq_data_movement_s8.c",)

    def prepare(self) -> None:
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        self.require_rank(x, (4,), "input")
        size = self.require_const(self.input(1), "size")
        oh, ow = (int(v) for v in size.array().reshape(-1)[:2])
        n, h, w, c = x.shape
        if list(out.shape) != [n, oh, ow, c]:
            raise self.unsupported(f"output {list(out.shape)} is not the input {list(x.shape)} resized to {oh}x{ow}")
        ac = bool(self.op.options.get("align_corners", False))
        hp = bool(self.op.options.get("half_pixel_centers", False))
        if ac and hp:
            raise self.unsupported("align_corners and half_pixel_centers together (TFLM refuses it too)")
        p = self.params
        p.update(in_dims=dims4(x.shape), oh=oh, ow=ow)
        p["y_map"] = self.ctx.add_const(f"edgeq_l{self.index}_y_map", "int32_t", bilinear_map(h, oh, ac, hp),
                                        comment=f"layer {self.index} rows: lower, upper, 10-bit fraction")
        p["x_map"] = self.ctx.add_const(f"edgeq_l{self.index}_x_map", "int32_t", bilinear_map(w, ow, ac, hp),
                                        comment=f"layer {self.index} columns: lower, upper, 10-bit fraction")

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def kernel_name(self) -> str:
        return "resize_bilinear_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        return [
            c_dims(r, "input_dims", p["in_dims"]),
            f"{r.fn('resize_bilinear_s8')}({r.cptr(self.op.inputs[0])}, &input_dims, {p['oh']}, {p['ow']}, "
            f"{p['y_map']}, {p['x_map']}, {r.ptr(self.op.outputs[0])});",
        ]
