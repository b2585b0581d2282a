"""ADD (int8) -> edgeq_elementwise_add_s8 (arm_elementwise_add_s8), or edgeq_broadcast_add_s8 when shapes differ.
Parameters as TFLM's CalculateOpDataAdd (edgeq.quant.fixedpoint.add_params: left shift 20, QuantizeMultiplier-
SmallerThanOneExp for both inputs and the output), the fused activation clamp. In place: the output may take the
memory of an input of the same shape that dies here."""

from __future__ import annotations

from edgeq.compiler.ops.base import Renderer
from edgeq.compiler.ops.elementwise import BinaryElementwise
from edgeq.quant import fixedpoint as fp


class Add(BinaryElementwise):
    OPS = ("ADD",)
    KIND = "add"

    def prepare_quantization(self, s1: float, s2: float, s_out: float) -> None:
        self.params["add"] = fp.add_params(s1, s2, s_out, left_shift=20)

    def kernel_args(self, r: Renderer) -> str:
        p, ap = self.params, self.params["add"]
        return (f"{p['in1_offset']}, {ap.input1_multiplier}, {ap.input1_shift}, {p['in2_offset']}, "
                f"{ap.input2_multiplier}, {ap.input2_shift}, {ap.left_shift}, {r.ptr(self.op.outputs[0])}, "
                f"{p['out_offset']}, {ap.output_multiplier}, {ap.output_shift}, {p['act_min']}, {p['act_max']}")
