"""SOFTMAX (int8 -> int8, output scale 1/256 and zero point -128) -> edgeq_softmax_s8 (arm_softmax_s8); int8 -> int16
(output scale 1/65536, zero point -32768, as int16x8 keyword models end) -> edgeq_softmax_s8_s16 (arm_softmax_s8_s16).

Parameters as TFLM's CalculateSoftmaxParams: multiplier / left shift from PreprocessSoftmaxScaling(beta, scale, 5),
diff_min = -CalculateInputRadius(5, left_shift) (edgeq.quant.fixedpoint.softmax_params). Rows are the last axis.

int16 -> int16 (zero points 0, output scale 1/32768) -> edgeq_softmax_s16 (TFLM's SoftmaxInt16): multiplier and shift
from QuantizeMultiplier(s_in * beta / (10 / 65535)), the exp and 1 / (1 + x) tables of TFLM's Prepare
(edgeq.quant.lut16.softmax_luts), registered once per model.
"""

from __future__ import annotations

import math

import numpy as np

from dataclasses import dataclass
from typing import ClassVar

from edgeq.compiler.cparams import ConstRef, CStruct, KernelCall, TensorRef
from edgeq.compiler.cparams import out_ref
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp
from edgeq.quant.lut16 import softmax_luts


@dataclass(frozen=True)
class SoftmaxLutS16(CStruct):
    """The two tables of SOFTMAX int16 (edgeq_softmax_lut_s16 / cmsis_nn_softmax_lut_s16)."""

    C_TYPE: ClassVar[str] = "softmax_lut_s16"
    exp_lut: ConstRef
    one_by_one_lut: ConstRef


class Softmax(Layer):
    OPS = ("SOFTMAX",)
    SOURCES = ("edgeq_softmax_s8.c",)

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_activations_s16.c",) if self.params.get("in16") else self.SOURCES

    def prepare(self) -> KernelCall:
        if self.input(0) is not None and self.input(0).dtype == "int16":
            return self._prepare_s16()
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

    def _prepare_s16(self) -> KernelCall:
        x, out = self.input(0), self.output()
        for t, what in ((x, "input"), (out, "output")):
            if t.dtype != "int16" or t.quant is None or not t.quant.is_quantized or t.quant.per_channel:
                raise self.unsupported(f"int16 SOFTMAX needs a per-tensor quantized int16 {what}, got {t.dtype}")
            if t.zero_point != 0:
                raise self.unsupported(f"int16 SOFTMAX needs {what} zero point 0 (TFLM), got {t.zero_point}")
        if abs(float(np.float32(out.scale)) - 1.0 / 32768) > 0.001 / 32768:
            raise self.unsupported(f"int16 SOFTMAX needs output scale 1/32768 (TFLM), got {out.scale}")
        if not x.shape:
            raise self.unsupported("scalar input")
        beta = float(np.float32(self.op.options.get("beta", 1.0)))
        mult, shift = fp.quantize_multiplier(float(np.float32(x.scale)) * beta / (10.0 / 65535.0))
        row = int(x.shape[-1])
        rows = math.prod(x.shape[:-1]) if len(x.shape) > 1 else 1
        names = self.ctx.consts
        if "edgeq_softmax16_exp_lut" not in names:  # the same two tables for every int16 SOFTMAX
            exp_lut, one_over = softmax_luts()
            self.ctx.add_const("exp_lut", "int16_t", exp_lut, "SOFTMAX int16: exp over [-10, 0] (TFLM's Prepare)",
                               owner="softmax16")
            self.ctx.add_const("one_over_lut", "int16_t", one_over, "SOFTMAX int16: 1 / (1 + x) over [0, 1]",
                               owner="softmax16")
        self.params.update(rows=rows, row_size=row, mult=mult, shift=shift, in16=True)
        return KernelCall.make(
            "softmax_s16", status=False, input=TensorRef(self.op.inputs[0], "int16_t"), num_rows=rows,
            row_size=row, mult=mult, shift=shift,
            softmax_params=SoftmaxLutS16(ConstRef("edgeq_softmax16_exp_lut", "int16_t"),
                                         ConstRef("edgeq_softmax16_one_over_lut", "int16_t")),
            output=out_ref(self.op.outputs[0], "int16_t"))
