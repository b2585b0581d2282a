"""Integer-only requantization, exactly as TFLite / TFLM / CMSIS-NN compute it.

An int8 kernel accumulates ``acc = sum((x - x_zp) * w) + bias`` in int32. The real value of ``acc`` is
``acc * input_scale * weight_scale``; the output wants units of ``output_scale``, so the accumulator must be multiplied
by the real number ``M = input_scale * weight_scale / output_scale`` (usually well below 1). Microcontrollers do that
without floating point by writing ::

    M = multiplier * 2**(shift - 31)        with  2**30 <= multiplier < 2**31  (a Q0.31 fraction in [0.5, 1))

(:func:`quantize_multiplier`) and computing ``acc * M`` with one 32x32->64-bit multiply and shifts
(:func:`multiply_by_quantized_multiplier`). The sign convention is TFLite's: ``shift > 0`` is a left shift.

Two rounding schemes exist, and they differ by 1 LSB on some inputs:

* **double rounding** (TFLM and CMSIS-NN default, gemmlowp): first ``SaturatingRoundingDoublingHighMul`` rounds
  ``acc * multiplier / 2**31`` to nearest (ties up), then ``RoundingDivideByPOT`` rounds the right shift (ties away
  from zero). This is the golden reference for MCU code.
* **single rounding** (TFLite with ``TFLITE_SINGLE_ROUNDING``, CMSIS-NN with ``CMSIS_NN_USE_SINGLE_ROUNDING``):
  ``(acc * multiplier + 2**(30 - shift)) >> (31 - shift)``, one rounding, ties up. LiteRT's int8 FULLY_CONNECTED
  uses it, which is why LiteRT and TFLM can differ by 1 after FC layers.

All functions here work on numpy int64 arrays internally with explicit int32 saturation / wrapping where the C code
saturates / wraps, and return int32 arrays. The scalar parameter helpers (``*_params``) reproduce the float32 ->
float64 promotions of the TFLM C++ code literally: the model stores scales as float32, TFLM promotes them to double in
a specific order, and one ULP of difference in the real multiplier can change the integer multiplier.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from edgeq.quant.affine import QuantizationError, round_half_away_from_zero

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "quantize_multiplier",
    "quantize_multiplier_smaller_than_one_exp",
    "quantize_multiplier_greater_than_one",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier",
    "preprocess_softmax_scaling",
    "calculate_input_radius",
    "SoftmaxParams",
    "softmax_params",
    "AddParams",
    "add_params",
    "mul_params",
    "conv_multipliers",
    "fully_connected_multipliers",
    "calculate_activation_range_quantized",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def _f32(x) -> float:
    """A scale as TFLM sees it: the float32 stored in the model, promoted to double (a Python float)."""
    return float(np.float32(x))


# --------------------------------------------------------------------------------------------------------------------
# Real multiplier -> (int32 multiplier, shift)
# --------------------------------------------------------------------------------------------------------------------


def quantize_multiplier(real: float, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    ``frexp`` splits ``real = q * 2**shift`` with ``0.5 <= |q| < 1``; ``multiplier = round(q * 2**31)`` (half away
    from zero). If rounding reaches ``2**31`` the fraction is halved and ``shift`` incremented. A real below about
    ``2**-32`` (``shift < -31``) flushes to ``(0, 0)``, and ``real == 0`` gives ``(0, 0)``. With
    ``single_rounding=True`` (``TFLITE_SINGLE_ROUNDING``), a shift above 30 saturates to ``(2**31 - 1, 30)``.
    The float-free ``TFLITE_EMULATE_FLOAT`` variant is not modelled.
    """
    real = float(real)
    if not math.isfinite(real):
        raise QuantizationError(f"cannot quantize the multiplier {real!r}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)  # real = q * 2**shift, 0.5 <= |q| < 1
    q_fixed = int(round_half_away_from_zero(q * float(1 << 31)))  # q * 2**31 is exact (a power-of-two scaling)
    if q_fixed == 1 << 31:  # q rounded up to 1.0: use 0.5 and one more bit of shift
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: flush to zero
        shift = 0
        q_fixed = 0
    if single_rounding and shift > 30:
        shift = 30
        q_fixed = INT32_MAX
    return q_fixed, shift


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: for ``0 < real < 1``; returns ``(multiplier, left_shift <= 0)``."""
    if not 0.0 < real < 1.0:
        raise QuantizationError(f"the multiplier must be in (0, 1), got {real!r}")
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:  # pragma: no cover - impossible for real < 1, kept as TFLite's TFLITE_CHECK_LE
        raise QuantizationError(f"multiplier {real!r} gave a positive shift {shift}")
    return multiplier, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """``QuantizeMultiplierGreaterThanOne``: for ``real > 1``; returns ``(multiplier, left_shift >= 0)``."""
    if not real > 1.0:
        raise QuantizationError(f"the multiplier must be > 1, got {real!r}")
    return quantize_multiplier(real)


# --------------------------------------------------------------------------------------------------------------------
# gemmlowp fixed-point primitives (vectorised)
# --------------------------------------------------------------------------------------------------------------------


def _int32_values(x, name: str) -> np.ndarray:
    """``x`` as an int64 array, checked to hold int32 values (what the C functions take)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.trunc(arr)):
            arr = arr.astype(np.int64)
        else:
            raise QuantizationError(f"{name} must be integers, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < INT32_MIN or arr.max() > INT32_MAX):
        raise QuantizationError(f"{name} must fit in int32")
    return arr


def _wrap_int32(v: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32, what a C cast (or an overflowing int32 multiply) does."""
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def _truncating_divide(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """C integer division: rounds toward zero (numpy's ``//`` rounds toward minus infinity)."""
    return np.sign(numerator) * (np.abs(numerator) // denominator)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul``: ``round(a * b / 2**31)``, saturated.

    This is the ARM ``VQRDMULH`` instruction: the high 32 bits of the doubled 64-bit product, rounded to nearest with
    ties up (the ``nudge`` of ``+2**30`` or ``1 - 2**30`` followed by C's truncating division gives exactly
    ``floor((a*b + 2**30) / 2**31)``). The only overflow is ``INT32_MIN * INT32_MIN`` (= +1.0 in Q0.31), which
    saturates to ``INT32_MAX``. CMSIS-NN's ``arm_nn_doubling_high_mult_no_sat`` computes the same value without that
    saturation check (requantization multipliers are never ``INT32_MIN``).
    """
    a = _int32_values(a, "a")
    b = _int32_values(b, "b")
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b  # |a*b| <= 2**62 fits in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _truncating_divide(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, high).astype(np.int32)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded to nearest, ties away from zero.

    ``exponent`` is 0..31 (a scalar or an array broadcasting with ``x``). The remainder below the shift is compared
    with a threshold of one half (``mask >> 1``), plus one for negative ``x`` so that negative ties also go away from
    zero: ``-5 / 2 -> -3``, ``5 / 2 -> 3``. CMSIS-NN's ``arm_nn_divide_by_power_of_two`` is the same computation.
    """
    x = _int32_values(x, "x")
    exponent = np.asarray(exponent, dtype=np.int64)
    if exponent.size and (exponent.min() < 0 or exponent.max() > 31):
        raise QuantizationError("the exponent of RoundingDivideByPOT must be in 0..31")
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> exponent) + (remainder > threshold)).astype(np.int32)


def multiply_by_quantized_multiplier(x, multiplier, shift, rounding: str = "double") -> np.ndarray:
    """``x * multiplier * 2**(shift - 31)`` rounded back to int32: the requantization step of every int8 kernel.

    ``x`` is an int32 array (accumulators); ``multiplier`` and ``shift`` are scalars or arrays that broadcast with
    ``x`` (per-channel parameters: reshape them along the channel axis).

    * ``rounding="double"`` (TFLM ``MultiplyByQuantizedMultiplier``, CMSIS-NN ``arm_nn_requantize`` default)::

          left_shift  = max(shift, 0);   right_shift = max(-shift, 0)
          RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**left_shift, multiplier), right_shift)

      ``x * 2**left_shift`` is an int32 multiply in C; like the compiled code (two's complement) it wraps here.
      Kernels never overflow it in practice (left shifts appear only for multipliers >= 1).
    * ``rounding="single"`` (TFLite built with ``TFLITE_SINGLE_ROUNDING``; CMSIS-NN with
      ``CMSIS_NN_USE_SINGLE_ROUNDING`` computes the same value as ``((x*m) >> (total_shift - 1)) + 1) >> 1``)::

          total_shift = 31 - shift;   (x * multiplier + 2**(total_shift - 1)) >> total_shift      (int64)

      It needs ``multiplier >= 0`` and ``-31 <= shift <= 30``; the int64 result is cast (wrapped) to int32.
    """
    x = _int32_values(x, "x")
    multiplier = _int32_values(multiplier, "multiplier")
    shift = np.asarray(shift, dtype=np.int64)
    if rounding == "double":
        if shift.size and (shift.min() < -31 or shift.max() > 31):
            raise QuantizationError("shift must be in -31..31")
        left_shift = np.maximum(shift, 0)
        right_shift = np.maximum(-shift, 0)
        shifted = _wrap_int32(x * (np.int64(1) << left_shift))
        return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift)
    if rounding == "single":
        if shift.size and (shift.min() < -31 or shift.max() > 30):
            raise QuantizationError("single rounding needs shift in -31..30")
        if multiplier.size and multiplier.min() < 0:
            raise QuantizationError("single rounding needs a non-negative multiplier")
        total_shift = 31 - shift
        rounding_term = np.int64(1) << (total_shift - 1)
        result = (x * multiplier + rounding_term) >> total_shift  # |x * m| <= 2**62: no int64 overflow
        return _wrap_int32(result).astype(np.int32)
    raise QuantizationError(f"rounding must be 'double' or 'single', got {rounding!r}")


# --------------------------------------------------------------------------------------------------------------------
# Per-op parameter derivation, as TFLM's Prepare() functions do it
# --------------------------------------------------------------------------------------------------------------------


def conv_multipliers(input_scale, filter_scales, output_scale) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multipliers, shifts)`` of CONV_2D / DEPTHWISE_CONV_2D (and per-channel FULLY_CONNECTED).

    ``PopulateConvolutionQuantizationParams`` (kernel_util.cc), for each output channel ``c``::

        effective = double(input_scale) * double(filter_scale[c]) / double(output_scale)
        multiplier[c], shift[c] = QuantizeMultiplier(effective)

    A per-tensor filter (one scale) is broadcast over the channels by TFLM; here the result then has length 1.
    """
    in_s, out_s = _f32(input_scale), _f32(output_scale)
    if not (in_s > 0 and out_s > 0):
        raise QuantizationError(f"input and output scales must be > 0, got {in_s} and {out_s}")
    filter_scales = np.atleast_1d(np.asarray(filter_scales, dtype=np.float32))
    multipliers, shifts = [], []
    for filter_scale in filter_scales.tolist():  # each a float32 value promoted to double
        effective = in_s * filter_scale / out_s  # evaluated left to right, in double, as in C++
        m, s = quantize_multiplier(effective)
        multipliers.append(m)
        shifts.append(s)
    return np.array(multipliers, np.int32), np.array(shifts, np.int32)


def fully_connected_multipliers(input_scale, filter_scales, output_scale) -> tuple[np.ndarray, np.ndarray]:
    """``(multipliers, shifts)`` of FULLY_CONNECTED as TFLM's ``CalculateOpDataFullyConnected`` derives them.

    The per-tensor and per-channel paths round differently, so both are reproduced:

    * one filter scale (per tensor): ``GetQuantizedConvolutionMultipler`` multiplies the scales **in float32**
      first: ``double(float32(input_scale * filter_scale)) / double(output_scale)``;
    * several filter scales (per channel): the double-precision product of :func:`conv_multipliers`.

    Returns arrays of length 1 (per tensor) or one entry per output channel.
    """
    filter_scales = np.atleast_1d(np.asarray(filter_scales, dtype=np.float32))
    if filter_scales.size > 1:
        return conv_multipliers(input_scale, filter_scales, output_scale)
    product = float(np.float32(input_scale) * filter_scales[0])  # float * float = float32, then promoted
    out_s = _f32(output_scale)
    if not (product >= 0 and out_s > 0):
        raise QuantizationError(f"invalid FULLY_CONNECTED scales ({input_scale}, {filter_scales[0]}, {output_scale})")
    m, s = quantize_multiplier(product / out_s)
    return np.array([m], np.int32), np.array([s], np.int32)


def mul_params(input1_scale, input2_scale, output_scale) -> tuple[int, int]:
    """MUL (int8): ``QuantizeMultiplier(double(s1) * double(s2) / double(s_out))`` (mul_common.cc)."""
    real = _f32(input1_scale) * _f32(input2_scale) / _f32(output_scale)
    return quantize_multiplier(real)


class AddParams(NamedTuple):
    """Everything ADD (int8) needs besides the zero points (TFLM ``OpDataAdd``, CMSIS-NN ``arm_elementwise_add_s8``)."""

    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int


def _rescaled_sum_params(op: str, scales, left_shift: int, real_input1: float, real_input2: float,
                         real_output: float) -> AddParams:
    """ADD's and SUB's three QuantizeMultiplierSmallerThanOneExp calls; an unrepresentable multiplier names the op."""
    try:
        m1, sh1 = quantize_multiplier_smaller_than_one_exp(real_input1)
        m2, sh2 = quantize_multiplier_smaller_than_one_exp(real_input2)
        mo, sho = quantize_multiplier_smaller_than_one_exp(real_output)
    except QuantizationError as e:
        s1, s2, s_out = (float(v) for v in scales)
        raise QuantizationError(
            f"{op} with scales ({s1}, {s2}) -> {s_out} cannot be requantized: {e.message}",
            hint="TFLM rejects this op too; the output scale is too small compared with the input scales",
        ) from None
    return AddParams(left_shift, m1, sh1, m2, sh2, mo, sho)


def add_params(input1_scale, input2_scale, output_scale, left_shift: int = 20) -> AddParams:
    """ADD parameters exactly as TFLM's ``CalculateOpDataAdd`` (add_common.cc); ``left_shift`` 20 (int8), 15 (int16).

    Both inputs are first scaled to a common scale, twice the larger input scale, with ``left_shift`` extra bits of
    headroom, added, then rescaled to the output::

        twice_max_input_scale = 2 * double(max(float32 s1, float32 s2))
        real_input_i  = double(s_i) / twice_max_input_scale                                 (<= 0.5)
        real_output   = twice_max_input_scale / ((1 << left_shift) * double(s_out))
        each -> QuantizeMultiplierSmallerThanOneExp
    """
    return _rescaled_sum_params("ADD", (_f32(input1_scale), _f32(input2_scale), _f32(output_scale)), left_shift,
                                *_sum_reals(input1_scale, input2_scale, output_scale, left_shift))


def _sum_reals(input1_scale, input2_scale, output_scale, left_shift: int) -> tuple[float, float, float]:
    """ADD's / SUB's three real multipliers, in double from the float32 scales."""
    s1, s2, s_out = _f32(input1_scale), _f32(input2_scale), _f32(output_scale)
    twice_max_input_scale = 2 * max(s1, s2)  # max of the float32 values, then doubled in double
    real_input1 = s1 / twice_max_input_scale
    real_input2 = s2 / twice_max_input_scale
    real_output = twice_max_input_scale / ((1 << left_shift) * s_out)
    return real_input1, real_input2, real_output


def sub_params(input1_scale, input2_scale, output_scale, left_shift: int = 20) -> AddParams:
    """SUB parameters as the TFLM interpreter computes them (``CalculateOpDataSub``, sub_common.cc): ADD's formulas
    evaluated in double (``add_params``). Some sub_common.cc revisions write them in float32 (a ``float``
    twice_max_input_scale and float divisions); the TFLM that edgeq is checked against does not: on int16x8 SUBs whose
    scales make the two computations differ (a GRU's ``1 - z`` with scales 1/32767 and 2^-15), the float32
    multipliers give outputs 1 off TFLM's and the double ones reproduce it exactly, for int8 as well."""
    return _rescaled_sum_params("SUB", (_f32(input1_scale), _f32(input2_scale), _f32(output_scale)), left_shift,
                                *_sum_reals(input1_scale, input2_scale, output_scale, left_shift))


def squared_difference_params(input1_scale, input2_scale, output_scale, left_shift: int = 7) -> AddParams:
    """SQUARED_DIFFERENCE parameters exactly as TFLM's squared_difference.cc ``PrepareQuantized`` (int8: left shift
    7)::

        twice_max_input_scale = 2.0 * double(max(float s1, float s2))
        real_input_i = double(s_i) / twice_max_input_scale        -> QuantizeMultiplierSmallerThanOneExp
        real_output  = twice_max^2 / double(float((1 << 2 * left_shift) * s_out))   -> QuantizeMultiplier
    """
    f = np.float32
    s1, s2, s_out = f(input1_scale), f(input2_scale), f(output_scale)
    twice = 2.0 * float(max(s1, s2))
    real_input1 = float(s1) / twice
    real_input2 = float(s2) / twice
    real_output = (twice * twice) / float(f(f(1 << (2 * left_shift)) * s_out))
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(real_input1)
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(real_input2)
    mo, sho = quantize_multiplier(real_output)
    return AddParams(left_shift, m1, sh1, m2, sh2, mo, sho)


def preprocess_softmax_scaling(
    beta: float, input_scale: float, input_integer_bits: int = 5, single_rounding: bool = False
) -> tuple[int, int]:
    """``PreprocessSoftmaxScaling``: ``(multiplier, left_shift)`` turning input differences into Q5.26 fixed point.

    ``real = min(beta * input_scale * 2**(31 - input_integer_bits), 2**31 - 1)`` (``2**30 - 1`` with single
    rounding), then ``QuantizeMultiplierGreaterThanOne``. ``beta`` and ``input_scale`` are taken as given (doubles); TFLM
    passes the float32 values promoted to double (see :func:`softmax_params`).
    """
    max_real_multiplier = float((1 << 30) - 1) if single_rounding else float((1 << 31) - 1)
    real = min(float(beta) * float(input_scale) * float(1 << (31 - input_integer_bits)), max_real_multiplier)
    try:
        return quantize_multiplier_greater_than_one(real)
    except QuantizationError:
        raise QuantizationError(
            f"SOFTMAX input scale {input_scale} (beta {beta}) is too small: beta*scale*2**{31 - input_integer_bits} "
            f"= {real} must be > 1",
        ) from None


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """``CalculateInputRadius``: the largest input difference that does not overflow after scaling::

        floor((2**input_integer_bits - 1) * 2**(total_signed_bits - input_integer_bits) / 2**input_left_shift)
    """
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * float(1 << (total_signed_bits - input_integer_bits))
        / float(1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))


class SoftmaxParams(NamedTuple):
    """SOFTMAX int8 parameters (``arm_softmax_s8(..., mult, shift, diff_min, ...)``)."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(input_scale, beta: float = 1.0) -> SoftmaxParams:
    """SOFTMAX (int8 in, int8 out) as TFLM's ``CalculateSoftmaxParams``: ``kScaledDiffIntegerBits = 5``,
    ``diff_min = -CalculateInputRadius(5, left_shift)``. ``beta`` is float32 in the model (``TfLiteSoftmaxParams``).
    The output must be quantized with scale 1/256 and zero point -128 (TFLM checks it)."""
    scaled_diff_integer_bits = 5
    multiplier, left_shift = preprocess_softmax_scaling(_f32(beta), _f32(input_scale), scaled_diff_integer_bits)
    diff_min = int(-1.0 * calculate_input_radius(scaled_diff_integer_bits, left_shift))
    return SoftmaxParams(multiplier, left_shift, diff_min)


# --------------------------------------------------------------------------------------------------------------------
# Fused activations
# --------------------------------------------------------------------------------------------------------------------

_FULL_RANGE_ACTIVATIONS = {"NONE", "TANH", "SIGN_BIT", "SIGMOID"}  # TFLite's "else" branch: no clamping


def _quantize_activation_bound(value: float, scale: np.float32, zero_point: int) -> int:
    """kernel_util.cc ``Quantize``: ``zero_point + int(TfLiteRound(float32(value / scale)))`` (float32 arithmetic)."""
    tmp = round_half_away_from_zero(np.float32(value) / scale)
    if not (np.float32(INT32_MIN) <= tmp <= np.float32(INT32_MAX)):
        raise QuantizationError(f"activation bound {value} / scale {scale} overflows int32")
    return int(zero_point) + int(tmp)


def calculate_activation_range_quantized(
    activation: str, out_scale, out_zp: int, qmin: int = -128, qmax: int = 127
) -> tuple[int, int]:
    """``(act_min, act_max)`` clamp of a fused activation in the quantized domain (``CalculateActivationRangeQuantized``).

    ``RELU``: ``[max(qmin, q(0)), qmax]``; ``RELU6``: ``[max(qmin, q(0)), min(qmax, q(6))]``;
    ``RELU_N1_TO_1``: ``[max(qmin, q(-1)), min(qmax, q(1))]``; anything else (``NONE``, ``TANH``...) ``[qmin, qmax]``.
    ``q(f) = out_zp + round(float32(f / out_scale))``. Names are TFLite's ``ActivationFunctionType`` names.
    """
    name = str(activation).upper()
    scale = np.float32(out_scale)
    if name == "RELU":
        return max(qmin, _quantize_activation_bound(0.0, scale, out_zp)), qmax
    if name == "RELU6":
        return (
            max(qmin, _quantize_activation_bound(0.0, scale, out_zp)),
            min(qmax, _quantize_activation_bound(6.0, scale, out_zp)),
        )
    if name in ("RELU_N1_TO_1", "RELU1"):
        return (
            max(qmin, _quantize_activation_bound(-1.0, scale, out_zp)),
            min(qmax, _quantize_activation_bound(1.0, scale, out_zp)),
        )
    if name in _FULL_RANGE_ACTIVATIONS:
        return qmin, qmax
    raise QuantizationError(
        f"unknown fused activation {activation!r}", hint="use NONE, RELU, RELU6, RELU_N1_TO_1, TANH, SIGN_BIT"
    )
