"""ADD (int8) -> edgeq_elementwise_add_s8 (arm_elementwise_add_s8), or edgeq_broadcast_add_s8 when shapes differ.
Parameters as TFLM's CalculateOpDataAdd (edgeq.quant.fixedpoint.add_params: left shift 20, QuantizeMultiplier-
SmallerThanOneExp for both inputs and the output), the fused activation clamp. In place: the output may take the
memory of an input of the same shape that dies here.

int16 -> edgeq_elementwise_add_s16 / edgeq_broadcast_add_s16: TFLM's int16 ADD (add.cc) always takes the general
path (reference_ops::Add with pot_scale = false: AddElementwise, BroadcastAdd6DSlow), the int8 arithmetic with left
shift 15; TFLite's special power-of-two-scale path (zero points 0, POT scales) is not what TFLM runs."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.cparams import ConstRef, KernelCall, out_ref
from edgeq.compiler.ops._int16 import CTYPE
from edgeq.compiler.ops.elementwise import BinaryElementwise
from edgeq.quant import fixedpoint as fp


def scaled_input_table(offset: int, multiplier: int, shift: int, left_shift: int) -> np.ndarray:
    """TFLM's scaled ADD input for every int8 x (index x + 128): MultiplyByQuantizedMultiplierSmallerThanOneExp((x +
    offset) << left_shift, multiplier, shift), the first half of AddFunc (add.h)."""
    x = (np.arange(-128, 128, dtype=np.int64) + offset) << left_shift
    return fp.multiply_by_quantized_multiplier(x.astype(np.int32), multiplier, shift).astype(np.int32)


class Add(BinaryElementwise):
    """ADD. On the portable backend (32-bit targets, optimize "speed"), an int8 ADD of two same-shape inputs runs
    edgeq_elementwise_add_lut_s8: both inputs' scaling (two of TFLM's three requantizations per element) looked up
    in two 256-entry int32 tables computed here (2 KB of flash per layer)."""

    OPS = ("ADD",)
    KIND = "add"

    def prepare(self) -> KernelCall:
        call = super().prepare()
        p = self.params
        if (self.KIND != "add" or self.dtype != "int8" or p["broadcast"] or self.ctx.backend != "portable"
                or self.ctx.optimize != "speed" or self.ctx.target == "avr"):  # the table kernel adds: not SUB's
            return call
        ap = p["add"]
        i = self.index
        tables = [self.ctx.add_const("add_table", "int32_t",
                                     scaled_input_table(off, m, sh, ap.left_shift),
                                     f"layer {i} input {k + 1} scaled for every int8 value")
                  for k, (off, m, sh) in enumerate(((p["in1_offset"], ap.input1_multiplier, ap.input1_shift),
                                                    (p["in2_offset"], ap.input2_multiplier, ap.input2_shift)))]
        p["lut"] = True
        a = call.arg
        return KernelCall.make(
            "elementwise_add_lut_s8", status=True, input_1_vect=a("input_1_vect"), input_2_vect=a("input_2_vect"),
            table_1=ConstRef(tables[0], "int32_t"), table_2=ConstRef(tables[1], "int32_t"), output=a("output"),
            out_offset=a("out_offset"), out_mult=a("out_mult"), out_shift=a("out_shift"),
            out_activation_min=a("out_activation_min"), out_activation_max=a("out_activation_max"),
            block_size=a("block_size"))

    def kernel_name(self) -> str:
        """The general kernel's name even when the table one runs: what the cmsis-nn backend maps and the cost
        tables of edgeq analyze are keyed by."""
        return "elementwise_add_s8" if self.params.get("lut") else super().kernel_name()

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
