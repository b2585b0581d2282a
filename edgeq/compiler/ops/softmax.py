"""SOFTMAX (int8 -> int8, output scale 1/256 and zero point -128) -> edgeq_softmax_s8 (arm_softmax_s8); int8 -> int16
(output scale 1/65536, zero point -32768, as int16x8 keyword models end) -> edgeq_softmax_s8_s16 (arm_softmax_s8_s16).

Parameters as TFLM's CalculateSoftmaxParams: multiplier / left shift from PreprocessSoftmaxScaling(beta, scale, 5),
diff_min = -CalculateInputRadius(5, left_shift) (edgeq.quant.fixedpoint.softmax_params). Rows are the last axis.
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.compiler.cparams import KernelCall, TensorRef
from edgeq.compiler.cparams import out_ref
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp


class Softmax(Layer):
    OPS = ("SOFTMAX",)
    SOURCES = ("edgeq_softmax_s8.c",)

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(0), "input")
        out = self.output()
        if out.dtype == "int16":
            # TFLM: zero point -32768 and TF_LITE_ENSURE_NEAR(scale, 1/65536, 0.001/65536)
            if (out.quant is None or not out.quant.is_quantized or out.zero_point != -32768
                    or abs(float(out.scale) - 1.0 / 65536) > 0.001 / 65536):
                raise self.unsupported(f"int8 -> int16 SOFTMAX needs output scale 1/65536 and zero point -32768 "
                                       f"(TFLM), got {out.scale} / {out.zero_point}")
        else:
            out = self.require_activation(out, "output")
            if out.zero_point != -128 or np.float32(out.scale) != np.float32(1.0 / 256):
                raise self.unsupported(f"int8 SOFTMAX needs output scale 1/256 and zero point -128 (TFLM), got "
                                       f"{out.scale} / {out.zero_point}")
        if not x.shape:
            raise self.unsupported("scalar input")
        beta = float(self.op.options.get("beta", 1.0))
        sp = fp.softmax_params(x.scale, beta)
        row = int(x.shape[-1])
        rows = math.prod(x.shape[:-1]) if len(x.shape) > 1 else 1
        out16 = out.dtype == "int16"
        self.params.update(rows=rows, row_size=row, mult=sp.input_multiplier, shift=sp.input_left_shift,
                           diff_min=sp.diff_min, out16=out16)
        return KernelCall.make(
            "softmax_s8_s16" if out16 else "softmax_s8", status=False, input=TensorRef(self.op.inputs[0]),
            num_rows=rows, row_size=row, mult=sp.input_multiplier, shift=sp.input_left_shift, diff_min=sp.diff_min,
            output=out_ref(self.op.outputs[0], "int16_t" if out16 else "int8_t"))
