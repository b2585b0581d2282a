"""LOGISTIC, TANH, RELU, RELU6 (int8) -> edgeq_logistic_s8 / edgeq_tanh_s8 / edgeq_relu_s8 /
edgeq_relu6_s8. Element by element, so they
may run in place.

* LOGISTIC (TFLM logistic_common.cc): input_multiplier / left shift from frexp(s_in * 2^(31-4)) (no 2^31 carry
  handling, exactly as TFLM), radius CalculateInputRadius(4, left_shift, 31); output scale 1/256, zero point -128.
* TANH (tanh.cc CalculateArithmeticOpData, reference_integer_ops::Tanh): the same input multiplier, shift and radius
  as LOGISTIC; gemmlowp tanh; output scale 1/128, zero point 0.
* LOGISTIC / TANH int16 (zero points 0, output scale 2^-15) -> edgeq_logistic_s16 / edgeq_tanh_s16: TFLM's
  CalculateArithmeticOpData for int16 (:func:`int16_lut_input_scaling`) and its sigmoid-table kernels.
* RELU (activations_common.cc CalculateReluOpData): QuantizeMultiplier(double(float32(s_in / s_out))),
  clamp [max(-128, zp_out + roundf(0 / s_out)), 127].
* RELU6 (Relu6Prepare): clamp to [zp_in, FloatToQuantizedType(6, s_in, zp_in)] without requantization.
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.compiler.cparams import KernelCall, TensorRef, out_ref
from edgeq.compiler.ops._int16 import CTYPE, QRANGE, SUFFIX, act_dtype, activation, require_zero_point_0
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp
from edgeq.quant.affine import round_half_away_from_zero


class _Elementwise(Layer):
    SOURCES = ("edgeq_activations_s8.c",)

    def inplace_candidates(self) -> list[int]:
        return [self.op.inputs[0]]


def checked_log2(x: float) -> tuple[int, bool]:
    """TFLite's CheckedLog2 (float32): (round(log2 x), whether x is a power of two within 1e-3 in the exponent)."""
    f = np.float32
    log2 = f(f(math.log(float(f(x)))) * f(f(1.0) / f(math.log(2.0))))
    rounded = f(round_half_away_from_zero(log2))
    return int(rounded), abs(float(f(log2 - rounded))) < 1e-3


def int16_lut_input_scaling(layer: Layer, x, out, pot_shifts: tuple[int, ...]) -> tuple[int, int]:
    """(multiplier, right shift) of the int16 LOGISTIC / TANH input, as TFLM's Prepare (kInputIntegerBits 3):
    a power-of-two input scale with a shift in ``pot_shifts`` gives multiplier 0, which Eval turns into
    ``3 << shift`` with shift 0 (done here); otherwise s_in * 4096 * 3 doubled until above 32767 / 2 (at most 31
    times), truncated. The output scale must be 2^-15."""
    for t, what in ((x, "input"), (out, "output")):
        if t.zero_point != 0:
            raise layer.unsupported(f"int16 {layer.opcode} needs {what} zero point 0 (TFLM), got {t.zero_point}")
    log2_out, pot_out = checked_log2(out.scale)
    if not pot_out or log2_out != -15:
        raise layer.unsupported(f"int16 {layer.opcode} needs output scale 2^-15 (TFLM), got {out.scale}")
    log2_in, pot = checked_log2(x.scale)
    shift = 12 + log2_in
    if pot and shift in pot_shifts:
        return 3 << shift, 0
    multiplier = float(np.float32(x.scale)) * 4096.0 * 3.0
    shift = 0
    while multiplier <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    if int(multiplier) > 32767:
        raise layer.unsupported(f"int16 {layer.opcode}: input scale {x.scale} too large for TFLM's kernel")
    return int(multiplier), shift


class Logistic(_Elementwise):
    OPS = ("LOGISTIC",)
    OUTPUT_ZERO_POINT = -128  # output scale 1/256
    KERNEL = "logistic_s8"
    KERNEL_S16 = "logistic_s16"
    POT_SHIFTS = (0,)  # power-of-two input scales TFLM's int16 Prepare takes as such (TANH: 0 and 1)

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_activations_s16.c",) if act_dtype(self) == "int16" else self.SOURCES

    def prepare(self) -> KernelCall:
        if act_dtype(self) == "int16":
            return self._prepare_s16()
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        if out.zero_point != self.OUTPUT_ZERO_POINT:
            raise self.unsupported(f"int8 {self.opcode} needs output zero point {self.OUTPUT_ZERO_POINT} (TFLM), "
                                   f"got {out.zero_point}")
        input_integer_bits = 4
        real = float(np.float32(x.scale)) * float(1 << (31 - input_integer_bits))
        q, left_shift = math.frexp(real)
        mult = int(round_half_away_from_zero(q * float(1 << 31)))
        if mult >= 1 << 31:  # TFLM casts without the carry; in C++ that wraps to INT32_MIN
            mult -= 1 << 32
        radius = fp.calculate_input_radius(input_integer_bits, left_shift, 31)
        self.params.update(size=x.num_elements, zp=x.zero_point, radius=radius, mult=mult, shift=left_shift)
        return self._call()

    def _call(self) -> KernelCall:
        p = self.params
        return KernelCall.make(self.KERNEL, status=False, input=TensorRef(self.op.inputs[0]), size=p["size"],
                               input_zero_point=p["zp"], input_range_radius=p["radius"], input_multiplier=p["mult"],
                               input_left_shift=p["shift"], output=out_ref(self.op.outputs[0]))

    def _prepare_s16(self) -> KernelCall:
        x = self.input(0)
        if x is None or x.dtype != "int16" or x.quant is None or not x.quant.is_quantized:
            raise self.unsupported(f"int16 {self.opcode} needs a quantized int16 input")
        out = self.output()
        if out.quant is None or not out.quant.is_quantized or x.num_elements != out.num_elements:
            raise self.unsupported(f"int16 {self.opcode} needs a quantized int16 output of the input's size")
        mult, shift = int16_lut_input_scaling(self, x, out, self.POT_SHIFTS)
        self.params.update(size=x.num_elements, mult=mult, shift=shift)
        return KernelCall.make(self.KERNEL_S16, status=False, input=TensorRef(self.op.inputs[0], "int16_t"),
                               size=x.num_elements, input_multiplier=mult, input_left_shift=shift,
                               output=out_ref(self.op.outputs[0], "int16_t"))

class Tanh(Logistic):
    """TANH shares LOGISTIC's parameters (TFLM computes them with the same code) and its output is Q0.7."""

    OPS = ("TANH",)
    OUTPUT_ZERO_POINT = 0  # output scale 1/128
    KERNEL = "tanh_s8"
    KERNEL_S16 = "tanh_s16"
    POT_SHIFTS = (0, 1)


class _Typed(_Elementwise):
    """RELU and RELU6: int8, or int16 (edgeq_activations_s16.c) by the output's type."""

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_activations_s16.c",) if act_dtype(self) == "int16" else self.SOURCES


class Relu(_Typed):
    OPS = ("RELU",)

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        x = activation(self, self.input(0), "input", dt)
        out = activation(self, self.output(), "output", dt)
        if dt == "int16":  # activations_common.cc: TF_LITE_ENSURE_EQ(zero_point, 0) for int16
            require_zero_point_0(self, x, "input")
            require_zero_point_0(self, out, "output")
        real = float(np.float32(np.float32(x.scale) / np.float32(out.scale)))
        mult, shift = fp.quantize_multiplier(real)
        s_out = np.float32(out.scale)
        qmin, qmax = QRANGE[dt]
        act_min = max(qmin, out.zero_point + int(round_half_away_from_zero(np.float32(0.0) / s_out)))
        self.params.update(size=x.num_elements, zp_in=x.zero_point, mult=mult, shift=shift, zp_out=out.zero_point,
                           act_min=act_min, act_max=qmax)
        return self._call()

    def _call(self) -> KernelCall:
        p = self.params
        dt = act_dtype(self)
        return KernelCall.make(f"relu_{SUFFIX[dt]}", status=False, input=TensorRef(self.op.inputs[0], CTYPE[dt]),
                               size=p["size"], input_zero_point=p["zp_in"], mult=p["mult"], shift=p["shift"],
                               output_zero_point=p["zp_out"], act_min=p["act_min"], act_max=p["act_max"],
                               output=out_ref(self.op.outputs[0], CTYPE[dt]))

class Relu6(_Typed):
    OPS = ("RELU6",)

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        x = activation(self, self.input(0), "input", dt)
        out = activation(self, self.output(), "output", dt)
        if out.num_elements != x.num_elements:
            raise self.unsupported("input and output sizes differ")
        # FloatToQuantizedType<int8_t / int16_t>(6.0f, scale, zp): round(6.0f / scale) + zp, clamped to the type
        six = int(round_half_away_from_zero(np.float32(6.0) / np.float32(x.scale))) + x.zero_point
        six = min(QRANGE[dt][1], max(QRANGE[dt][0], six))
        self.params.update(size=x.num_elements, lower=x.zero_point, upper=six)
        return self._call()

    def _call(self) -> KernelCall:
        p = self.params
        ct = CTYPE[act_dtype(self)]
        return KernelCall.make(f"relu6_{SUFFIX[act_dtype(self)]}", status=False,
                               input=TensorRef(self.op.inputs[0], ct), size=p["size"], lower=p["lower"],
                               upper=p["upper"], output=out_ref(self.op.outputs[0], ct))
