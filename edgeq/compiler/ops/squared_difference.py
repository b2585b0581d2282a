"""SQUARED_DIFFERENCE (int8) -> edgeq_squared_difference_s8: TFLM's squared_difference.cc (parameters from
edgeq.quant.fixedpoint.squared_difference_params, left shift 7; the squared int32 difference requantized with
MultiplyByQuantizedMultiplier), 4-D broadcasting, either operand may be a constant."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer, dims4
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, ptr
from edgeq.quant import fixedpoint as fp


class SquaredDifference(Layer):
    OPS = ("SQUARED_DIFFERENCE",)
    SOURCES = ("edgeq_elementwise_s8.c",)

    def prepare(self) -> None:
        a = self.tensor(operand(self, 0, "input 1"))
        b = self.tensor(operand(self, 1, "input 2"))
        out = self.require_activation(self.output(), "output")
        q = fp.squared_difference_params(a.scale, b.scale, out.scale)
        self.params.update(s1=broadcast_strides(self, a.shape, out.shape),
                           s2=broadcast_strides(self, b.shape, out.shape), out_dims=dims4(out.shape),
                           q=dict(input_1_offset=-a.zero_point, input_1_mult=q.input1_multiplier,
                                  input_1_shift=q.input1_shift, input_2_offset=-b.zero_point,
                                  input_2_mult=q.input2_multiplier, input_2_shift=q.input2_shift,
                                  out_offset=out.zero_point, out_mult=q.output_multiplier, out_shift=q.output_shift))

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]

    def kernel_name(self) -> str:
        return "squared_difference_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        s1, s2, od = p["s1"], p["s2"], p["out_dims"]
        fields = ", ".join(f".{k} = {v}" for k, v in p["q"].items())
        return [
            f"const int32_t in1_strides[4] = {{{s1[0]}, {s1[1]}, {s1[2]}, {s1[3]}}};",
            f"const int32_t in2_strides[4] = {{{s2[0]}, {s2[1]}, {s2[2]}, {s2[3]}}};",
            f"const {r.ty('dims')} output_dims = {{{od[0]}, {od[1]}, {od[2]}, {od[3]}}};",
            f"const {r.ty('squared_difference_params')} sd_params = {{{fields}}};",
            f"status = {r.fn('squared_difference_s8')}({ptr(self, r, self.op.inputs[0])}, in1_strides, "
            f"{ptr(self, r, self.op.inputs[1])}, in2_strides, &output_dims, &sd_params, {r.ptr(self.op.outputs[0])});",
        ]
