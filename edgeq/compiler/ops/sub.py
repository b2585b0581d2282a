"""SUB (int8) -> edgeq_elementwise_sub_s8, or edgeq_broadcast_sub_s8 when shapes differ. TFLM's sub_common.cc
parameters (edgeq.quant.fixedpoint.sub_params: ADD's formulas in double, left shift 20) and SubElementwise's
arithmetic; the fused activation clamp. In place like ADD. int16 -> edgeq_elementwise_sub_s16 /
edgeq_broadcast_sub_s16 (left shift 15, as TFLM's int16 SUB)."""

from __future__ import annotations

from edgeq.compiler.ops.add import Add
from edgeq.quant import fixedpoint as fp


class Sub(Add):
    OPS = ("SUB",)
    KIND = "sub"

    def prepare_quantization(self, s1: float, s2: float, s_out: float) -> None:
        self.params["add"] = fp.sub_params(s1, s2, s_out, left_shift=15 if self.dtype == "int16" else 20)
