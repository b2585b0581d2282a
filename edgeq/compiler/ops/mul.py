"""MUL (int8) -> edgeq_elementwise_mul_s8 (arm_elementwise_mul_s8), or edgeq_broadcast_mul_s8 when shapes differ;
int16 (zero points 0) -> edgeq_elementwise_mul_s16 / edgeq_broadcast_mul_s16, the same arithmetic.
Parameters as TFLM's CalculateOpDataMul: QuantizeMultiplier(s1 * s2 / s_out) (edgeq.quant.fixedpoint.mul_params),
the fused activation clamp. In place like ADD."""

from __future__ import annotations

from edgeq.compiler.cparams import out_ref
from edgeq.compiler.ops._int16 import CTYPE
from edgeq.compiler.ops.elementwise import BinaryElementwise
from edgeq.quant import fixedpoint as fp


class Mul(BinaryElementwise):
    OPS = ("MUL",)
    KIND = "mul"
    INT16_ZERO_POINT_0 = True  # mul_common.cc: TF_LITE_ENSURE_EQ(zero_point, 0) for int16

    def prepare_quantization(self, s1: float, s2: float, s_out: float) -> None:
        self.params["mult"], self.params["shift"] = fp.mul_params(s1, s2, s_out)

    def kernel_args(self) -> dict:
        p = self.params
        return dict(input_1_offset=p["in1_offset"], input_2_offset=p["in2_offset"],
                    output=out_ref(self.op.outputs[0], CTYPE[self.dtype]),
                    out_offset=p["out_offset"], out_mult=p["mult"], out_shift=p["shift"],
                    out_activation_min=p["act_min"], out_activation_max=p["act_max"])
