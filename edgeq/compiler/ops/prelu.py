"""PRELU (int8, per-tensor alpha, usually a constant per channel) -> edgeq_prelu_s8. Parameters as TFLM's
CalculatePreluParams (QuantizeMultiplier of double(s_in)/double(s_out) and double(s_in)*double(s_alpha)/double(s_out));
arithmetic as reference_ops::BroadcastPrelu4DSlow, 4-D broadcasting of input and alpha."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.ops.base import Layer, Renderer, dims4
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, ptr
from edgeq.quant import fixedpoint as fp


class Prelu(Layer):
    OPS = ("PRELU",)
    SOURCES = ("edgeq_activations_s8.c",)

    def prepare(self) -> None:
        x = self.tensor(operand(self, 0, "input"))
        a = self.tensor(operand(self, 1, "alpha"))
        out = self.require_activation(self.output(), "output")
        s_in, s_a, s_out = (float(np.float32(t.scale)) for t in (x, a, out))
        m1, sh1 = fp.quantize_multiplier(s_in / s_out)
        m2, sh2 = fp.quantize_multiplier(s_in * s_a / s_out)
        self.params.update(s_in=broadcast_strides(self, x.shape, out.shape),
                           s_alpha=broadcast_strides(self, a.shape, out.shape), out_dims=dims4(out.shape),
                           q=dict(input_offset=-x.zero_point, alpha_offset=-a.zero_point, output_offset=out.zero_point,
                                  mult_1=m1, shift_1=sh1, mult_2=m2, shift_2=sh2))

    def inplace_candidates(self) -> list[int]:
        t = self.op.inputs[0]
        return [t] if tuple(self.tensor(t).shape) == tuple(self.output().shape) else []

    def kernel_name(self) -> str:
        return "prelu_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        si, sa, od, q = p["s_in"], p["s_alpha"], p["out_dims"], p["q"]
        fields = ", ".join(f".{k} = {v}" for k, v in q.items())
        return [
            f"const int32_t in_strides[4] = {{{si[0]}, {si[1]}, {si[2]}, {si[3]}}};",
            f"const int32_t alpha_strides[4] = {{{sa[0]}, {sa[1]}, {sa[2]}, {sa[3]}}};",
            f"const {r.ty('dims')} output_dims = {{{od[0]}, {od[1]}, {od[2]}, {od[3]}}};",
            f"const {r.ty('prelu_params')} prelu_params = {{{fields}}};",
            f"{r.fn('prelu_s8')}({ptr(self, r, self.op.inputs[0])}, in_strides, {ptr(self, r, self.op.inputs[1])}, "
            f"alpha_strides, &output_dims, &prelu_params, {r.ptr(self.op.outputs[0])});",
        ]
