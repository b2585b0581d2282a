"""MAXIMUM and MINIMUM (int8) -> edgeq_maximum_s8 / edgeq_minimum_s8: TFLM's maximum_minimum.cc compares the stored
int8 values (no requantization), with 4-D broadcasting; either operand may be a constant."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer, dims4
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, ptr


class Maximum(Layer):
    OPS = ("MAXIMUM",)
    SOURCES = ("edgeq_activations_s8.c",)
    KERNEL = "maximum_s8"

    def prepare(self) -> None:
        a = self.tensor(operand(self, 0, "input 1"))
        b = self.tensor(operand(self, 1, "input 2"))
        out = self.require_int8(self.output(), "output")
        self.params.update(s1=broadcast_strides(self, a.shape, out.shape),
                           s2=broadcast_strides(self, b.shape, out.shape), out_dims=dims4(out.shape))

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]

    def kernel_name(self) -> str:
        return self.KERNEL

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        s1, s2, od = p["s1"], p["s2"], p["out_dims"]
        a, b = ptr(self, r, self.op.inputs[0]), ptr(self, r, self.op.inputs[1])
        return [
            f"const int32_t in1_strides[4] = {{{s1[0]}, {s1[1]}, {s1[2]}, {s1[3]}}};",
            f"const int32_t in2_strides[4] = {{{s2[0]}, {s2[1]}, {s2[2]}, {s2[3]}}};",
            f"const {r.ty('dims')} output_dims = {{{od[0]}, {od[1]}, {od[2]}, {od[3]}}};",
            f"{r.fn(self.KERNEL)}({a}, in1_strides, {b}, in2_strides, &output_dims, {r.ptr(self.op.outputs[0])});",
        ]


class Minimum(Maximum):
    OPS = ("MINIMUM",)
    KERNEL = "minimum_s8"
