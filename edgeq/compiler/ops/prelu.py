"""PRELU (int8, per-tensor alpha, usually a constant per channel) -> edgeq_prelu_s8. Parameters as TFLM's
CalculatePreluParams (QuantizeMultiplier of double(s_in)/double(s_out) and double(s_in)*double(s_alpha)/double(s_out));
arithmetic as reference_ops::BroadcastPrelu4DSlow, 4-D broadcasting of input and alpha."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeq.compiler.cparams import CArray, CStruct, Dims, KernelCall, out_ref
from edgeq.compiler.ops.base import Layer, dims4
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, operand_ref
from edgeq.quant import fixedpoint as fp


@dataclass(frozen=True)
class PreluParams(CStruct):
    """edgeq_prelu_params (edgeq_nn.h)."""

    C_TYPE: ClassVar[str] = "prelu_params"
    input_offset: int
    alpha_offset: int
    output_offset: int
    mult_1: int
    shift_1: int
    mult_2: int
    shift_2: int


class Prelu(Layer):
    OPS = ("PRELU",)
    SOURCES = ("edgeq_activations_s8.c",)

    def prepare(self) -> KernelCall:
        x = self.tensor(operand(self, 0, "input"))
        a = self.tensor(operand(self, 1, "alpha"))
        out = self.require_activation(self.output(), "output")
        s_in, s_a, s_out = (float(np.float32(t.scale)) for t in (x, a, out))
        m1, sh1 = fp.quantize_multiplier(s_in / s_out)
        m2, sh2 = fp.quantize_multiplier(s_in * s_a / s_out)
        self.params.update(s_in=broadcast_strides(self, x.shape, out.shape),
                           s_alpha=broadcast_strides(self, a.shape, out.shape), out_dims=dims4(out.shape),
                           q=PreluParams(input_offset=-x.zero_point, alpha_offset=-a.zero_point,
                                         output_offset=out.zero_point, mult_1=m1, shift_1=sh1, mult_2=m2, shift_2=sh2))
        return self._call()

    def inplace_candidates(self) -> list[int]:
        t = self.op.inputs[0]
        return [t] if tuple(self.tensor(t).shape) == tuple(self.output().shape) else []

    def _call(self) -> KernelCall:
        p = self.params
        return KernelCall.make("prelu_s8", status=False, input=operand_ref(self, self.op.inputs[0]),
                               in_strides=CArray("int32_t", tuple(p["s_in"])),
                               alpha=operand_ref(self, self.op.inputs[1]),
                               alpha_strides=CArray("int32_t", tuple(p["s_alpha"])), output_dims=Dims(*p["out_dims"]),
                               prelu_params=p["q"], output=out_ref(self.op.outputs[0]))
