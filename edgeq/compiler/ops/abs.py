"""ABS (int8) -> a 256-entry table run by ``edgeq_lut_s8`` (:class:`edgeq.compiler.ops.lookup_table.LookupTable`),
computed with TFLM's arithmetic (elementwise.cc AbsEvalQuantized):

    v = |x - zp_in|;  out = v + zp_out                                     when s_in == s_out (float32 compare)
    out = MultiplyByQuantizedMultiplier(v, m, shift) + zp_out              otherwise,
    (m, shift) = QuantizeMultiplier(double(float(s_in / s_out)))

clamped to int8. (int16 ABS, which TFLM also runs, is refused: no int16 kernel here.)
"""

from __future__ import annotations

import numpy as np

from edgeq.compiler.ops.lookup_table import INPUTS, LookupTable
from edgeq.quant import fixedpoint as fp


class Abs(LookupTable):
    OPS = ("ABS",)

    def table(self, x, out) -> np.ndarray:
        f = np.float32
        s_in, s_out = f(x.scale), f(out.scale)
        v = np.abs(INPUTS - x.zero_point)
        if s_in == s_out:
            y = v + out.zero_point
        else:
            m, shift = fp.quantize_multiplier(float(f(s_in / s_out)))
            y = fp.multiply_by_quantized_multiplier(v, m, shift).astype(np.int64) + out.zero_point
        return np.clip(y, -128, 127)
