"""PAD (int8, constant paddings, up to 4-D) -> edgeq_pad_s8 (arm_pad_s8). The pad value is the output zero point
(TFLM's PadPrepare for int8 without a constant value)."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer, dims4


class Pad(Layer):
    OPS = ("PAD",)
    SOURCES = ("edgeq_data_movement_s8.c",)

    def prepare(self) -> None:
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        pads_t = self.require_const(self.input(1), "paddings")
        if pads_t.dtype not in ("int32", "int64"):
            raise self.unsupported(f"paddings tensor is {pads_t.dtype}")
        rank = len(x.shape)
        if rank > 4 or rank == 0:
            raise self.unsupported(f"input rank {rank} (1..4 supported)")
        pads = pads_t.array().reshape(-1, 2).tolist()
        if len(pads) != rank or any(a < 0 or b < 0 for a, b in pads):
            raise self.unsupported(f"paddings {pads} do not fit input rank {rank}")
        if [x.shape[k] + pads[k][0] + pads[k][1] for k in range(rank)] != list(out.shape):
            raise self.unsupported(f"output {list(out.shape)} does not match {list(x.shape)} padded by {pads}")
        if x.zero_point != out.zero_point or abs(x.scale - out.scale) > 1e-6 * abs(out.scale):
            raise self.unsupported("input and output quantization differ")
        pre = [0] * (4 - rank) + [int(a) for a, _ in pads]
        post = [0] * (4 - rank) + [int(b) for _, b in pads]
        self.params.update(input_dims=dims4(x.shape), pre=pre, post=post, value=out.zero_point)

    def kernel_name(self) -> str:
        return "pad_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        d, a, b = p["input_dims"], p["pre"], p["post"]
        return [
            f"const {r.ty('dims')} input_size = {{{d[0]}, {d[1]}, {d[2]}, {d[3]}}};",
            f"const {r.ty('dims')} pre_pad = {{{a[0]}, {a[1]}, {a[2]}, {a[3]}}};",
            f"const {r.ty('dims')} post_pad = {{{b[0]}, {b[1]}, {b[2]}, {b[3]}}};",
            f"status = {r.fn('pad_s8')}({r.cptr(self.op.inputs[0])}, {r.ptr(self.op.outputs[0])}, "
            f"(int8_t)({p['value']}), &input_size, &pre_pad, &post_pad);",
        ]
