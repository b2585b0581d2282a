"""ADD (int8) -> edgeq_elementwise_add_s8 (arm_elementwise_add_s8), or edgeq_broadcast_add_s8 when shapes differ.
Parameters as TFLM's CalculateOpDataAdd (edgeq.quant.fixedpoint.add_params: left shift 20, QuantizeMultiplier-
SmallerThanOneExp for both inputs and the output), the fused activation clamp. In place: the output may take the
memory of an input of the same shape that dies here.

int16 -> edgeq_elementwise_add_s16 / edgeq_broadcast_add_s16: TFLM's int16 ADD (add.cc) always takes the general
path (reference_ops::Add with pot_scale = false: AddElementwise, BroadcastAdd6DSlow), the int8 arithmetic with left
shift 15; TFLite's special power-of-two-scale path (zero points 0, POT scales) is not what TFLM runs."""

from __future__ import annotations

from edgeq.compiler.cparams import out_ref
from edgeq.compiler.ops._int16 import CTYPE
from edgeq.compiler.ops.elementwise import BinaryElementwise
from edgeq.quant import fixedpoint as fp


class Add(BinaryElementwise):
    OPS = ("ADD",)
    KIND = "add"

    def prepare_quantization(self, s1: float, s2: float, s_out: float) -> None:
        self.params["add"] = fp.add_params(s1, s2, s_out, left_shift=15 if self.dtype == "int16" else 20)

    def kernel_args(self) -> dict:
        p, ap = self.params, self.params["add"]
        return dict(input_1_offset=p["in1_offset"], input_1_mult=ap.input1_multiplier, input_1_shift=ap.input1_shift,
                    input_2_offset=p["in2_offset"], input_2_mult=ap.input2_multiplier, input_2_shift=ap.input2_shift,
                    left_shift=ap.left_shift, output=out_ref(self.op.outputs[0], CTYPE[self.dtype]),
                    out_offset=p["out_offset"],
                    out_mult=ap.output_multiplier, out_shift=ap.output_shift, out_activation_min=p["act_min"],
                    out_activation_max=p["act_max"])
