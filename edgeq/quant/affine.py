"""Affine (scale / zero-point) quantization, exactly as TensorFlow Lite does it.

The whole of INT8 quantization rests on one formula::

    real_value = scale * (quantized_value - zero_point)

``scale`` is a positive real number (TFLite stores it as **float32**), ``zero_point`` an integer of the storage type
(-128..127 for int8). The real value 0.0 must be exactly representable (zero padding, ReLU), so the real range is always
widened to contain 0 and the zero point is an integer.

Quantizing is the inverse, rounded and saturated::

    q = clamp(round(x / scale) + zero_point, qmin, qmax)

where ``round`` is TFLite's ``TfLiteRound`` = C ``std::round``: *round half away from zero* (2.5 -> 3, -2.5 -> -3),
not numpy's round-half-to-even.

This module answers "which scale and zero point does the TFLite converter give a tensor?" bit-exactly. The converter
(TF 2.x, MLIR quantizer) works like this, and every step below is mirrored in :func:`choose_qparams`:

Activations (asymmetric), from calibration statistics ``[rmin, rmax]`` (stored as float32):

1. ``rmin = min(rmin, 0)``, ``rmax = max(rmax, 0)`` (the range must contain 0).
2. If ``rmax - rmin < 1e-6``: widen to ``[rmin - 1e-6, rmax + 1e-6]`` (``TensorRangeSanityCheck``). So an all-zero
   tensor gets scale ``2e-6 / 255`` and zero point 0, not scale 1.0.
3. ``scale = (float32(rmax) - float32(rmin)) / float32(qmax - qmin)``, computed **in float32**
   (``DownCastScale``, the converter's ``legacy_float_scale`` mode, which is what ships).
4. ``zero_point_from_min = float32(qmin - rmin / scale)`` (double arithmetic, stored as float32), clamped to
   ``[qmin, qmax]``, then rounded half away from zero.

Weights (symmetric, narrow range ``[-127, 127]``, zero point 0), per channel or per tensor:

1. ``bound = max(|min|, |max|)`` of the channel.
2. If ``2 * bound <= 1e-6``: ``bound = 5e-7`` (``ExpandVerySmallRange``; an all-zero channel gets scale ``1e-6/254``).
3. ``scale = float32(2 * bound) / 254`` in float32 (the same as ``bound / 127``).
4. The int8 values are ``round(float32(w * inv))`` clamped to ``[-127, 127]`` where the inverse scale ``inv`` is
   ``float32(1.0 / scale)`` per channel, but ``float32(127) / float32(bound)`` for a per-tensor weight (the converter
   uses two different routines; the two inverses differ in the last bit in about 28 % of cases, which changes
   individual weights by 1).

Bias (int32, zero point 0): ``bias_scale = float32(double(input_scale) * double(weight_scale))`` and
``q = round(float32(b * float32(1.0 / bias_scale)))`` clamped to ``[-(2**31 - 1), 2**31 - 1]``. If a bias would
exceed ``(2**31 - 1) // 2`` on that grid, the converter instead sets ``bias_scale = |b| / ((2**31 - 1) // 2)`` and
raises the weight scale to ``bias_scale / input_scale`` (:func:`quantize_weights_and_bias`).

At run time the QUANTIZE op computes ``round(float32(x / scale)) + zero_point`` in float32
(``reference_ops::AffineQuantize``) and DEQUANTIZE computes ``float32(scale * (q - zero_point))``; :func:`quantize` and
:func:`dequantize` do exactly that.

Everything here is plain numpy, written to be read. The floating-point types are spelled out (``np.float32`` /
``np.float64``) wherever the C++ code has them, because one ULP of difference in a scale changes the integer
multiplier the kernels use.
"""

from __future__ import annotations

import dataclasses
import numpy as np

from edgeq.errors import EdgeqError

__all__ = [
    "QuantizationError",
    "QParams",
    "DTYPE_RANGES",
    "qrange",
    "round_half_away_from_zero",
    "choose_qparams",
    "quantize",
    "dequantize",
    "quantize_weights",
    "quantize_weights_per_channel",
    "quantize_bias",
    "quantize_weights_and_bias",
    "BIAS_MAX",
]


class QuantizationError(EdgeqError, ValueError):
    """Quantization parameters that cannot be used (zero or negative scale, a multiplier out of range, ...).

    It is an :class:`~edgeq.errors.EdgeqError` (the CLI prints it as one line) and a :class:`ValueError` (what a
    numeric library raises for a bad argument).
    """


#: ``dtype name -> (qmin, qmax)`` of the storage types TFLite uses for quantized tensors.
DTYPE_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-32768, 32767),
    "int32": (-(2**31), 2**31 - 1),
}

_NUMPY_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32}

# Converter constants (tensorflow/compiler/mlir/quantization/common/quantization_lib/quantization_utils.*).
_NEAR_ZERO_TOLERANCE = 1.0e-6  # kNearZeroTolerance
_SMALLEST_HALF_RANGE = _NEAR_ZERO_TOLERANCE / 2  # kSmallestHalfRange


def qrange(dtype: str = "int8", narrow_range: bool = False) -> tuple[int, int]:
    """``(qmin, qmax)`` of a storage type; ``narrow_range`` drops the lowest value (int8: ``[-127, 127]``)."""
    if dtype not in DTYPE_RANGES:
        raise QuantizationError(f"unknown quantized dtype {dtype!r}", hint=f"use one of {', '.join(DTYPE_RANGES)}")
    qmin, qmax = DTYPE_RANGES[dtype]
    return (qmin + 1 if narrow_range else qmin), qmax


def round_half_away_from_zero(x):
    """``TfLiteRound`` / C ``std::round``: round to nearest, ties away from zero, in ``x``'s own precision.

    Not ``np.round`` (ties to even) and not ``floor(x + 0.5)``: in float32, ``0.49999997 + 0.5`` rounds up to
    ``1.0``, so ``floor(x + 0.5)`` would give 1 where ``std::round`` gives 0. Splitting ``x`` into its integer part and
    its fraction is exact in any floating-point precision, so this matches C for every input.
    """
    x = np.asarray(x)
    whole = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf for infinite x: no fraction, the result stays inf
        fraction = x - whole  # exact: no rounding happens in this subtraction
    return whole + np.where(np.abs(fraction) >= 0.5, np.sign(x), 0).astype(x.dtype)


# --------------------------------------------------------------------------------------------------------------------
# QParams
# --------------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class QParams:
    """Quantization parameters of one tensor: ``real = scale * (q - zero_point)``.

    ``scale`` is stored as float32, the type a .tflite file stores and the kernels compute with: a 0-d array for a
    per-tensor quantization, a 1-D array (one entry per channel along ``axis``) for a per-channel one.
    ``zero_point`` has the same shape (int64). Both arrays are read-only.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None
    dtype: str = "int8"
    narrow_range: bool = False

    def __post_init__(self):
        scale = np.array(self.scale, dtype=np.float32)
        zero_point = np.array(self.zero_point, dtype=np.int64)
        if self.dtype not in DTYPE_RANGES:
            raise QuantizationError(f"unknown quantized dtype {self.dtype!r}", hint=f"use one of {', '.join(DTYPE_RANGES)}")
        if self.axis is None:
            if scale.size != 1 or zero_point.size != 1:
                raise QuantizationError(
                    f"per-tensor QParams need one scale and one zero point, got {scale.size} and {zero_point.size}",
                    hint="pass axis= for per-channel parameters",
                )
            scale, zero_point = scale.reshape(()), zero_point.reshape(())
        else:
            scale, zero_point = scale.reshape(-1), zero_point.reshape(-1)
            if zero_point.size == 1 and scale.size > 1:
                zero_point = np.repeat(zero_point, scale.size)
            if scale.size != zero_point.size:
                raise QuantizationError(f"{scale.size} scales but {zero_point.size} zero points")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise QuantizationError(f"scale must be finite and > 0, got {scale.tolist()}")
        qmin, qmax = qrange(self.dtype, self.narrow_range)
        if np.any(zero_point < qmin) or np.any(zero_point > qmax):
            raise QuantizationError(f"zero point {zero_point.tolist()} is outside [{qmin}, {qmax}] of {self.dtype}")
        scale.setflags(write=False)
        zero_point.setflags(write=False)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zero_point)

    @property
    def per_channel(self) -> bool:
        """True when there is one scale per channel along :attr:`axis`."""
        return self.axis is not None

    @property
    def qmin(self) -> int:
        return qrange(self.dtype, self.narrow_range)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.dtype, self.narrow_range)[1]

    def __eq__(self, other):
        if not isinstance(other, QParams):
            return NotImplemented
        return (
            self.axis == other.axis
            and self.dtype == other.dtype
            and self.narrow_range == other.narrow_range
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )

    def __hash__(self):
        return hash((self.scale.tobytes(), self.zero_point.tobytes(), self.axis, self.dtype, self.narrow_range))

    def __repr__(self):
        scale = self.scale.item() if self.scale.ndim == 0 else self.scale.tolist()
        zp = self.zero_point.item() if self.zero_point.ndim == 0 else self.zero_point.tolist()
        return (
            f"QParams(scale={scale!r}, zero_point={zp!r}, axis={self.axis}, dtype={self.dtype!r}, "
            f"narrow_range={self.narrow_range})"
        )


# --------------------------------------------------------------------------------------------------------------------
# Choosing scale and zero point
# --------------------------------------------------------------------------------------------------------------------


def _asymmetric_scale_zero_point(rmin: float, rmax: float, qmin: int, qmax: int, narrow_range: bool):
    """One channel of the converter's activation path; ``rmin <= 0 <= rmax`` already (doubles)."""
    # TensorRangeSanityCheck: a (nearly) empty range is widened by 1e-6 on both sides.
    if abs(rmax - rmin) < _NEAR_ZERO_TOLERANCE:
        rmin -= _NEAR_ZERO_TOLERANCE
        rmax += _NEAR_ZERO_TOLERANCE
    # ExpandVerySmallRange (a no-op after the widening above, kept so that both converter steps are visible).
    if not rmax - rmin > _NEAR_ZERO_TOLERANCE:
        rmin, rmax = min(rmin, -_SMALLEST_HALF_RANGE), max(rmax, _SMALLEST_HALF_RANGE)

    # DownCastScale: the scale is computed in float32 from the float32 range ends.
    scale = (np.float32(rmax) - np.float32(rmin)) / np.float32(qmax - qmin)

    if narrow_range and qmax == -qmin:
        # The converter only recomputes the zero point in float32 when qmax != -qmin. With a narrow asymmetric
        # range it keeps the double-precision one from fakeQuantAttrsToType (which picks the endpoint equation with
        # the smaller rounding error). Real models never use this combination for int8 tensors.
        s = (rmax - rmin) / (qmax - qmin)
        from_min, from_max = qmin - rmin / s, qmax - rmax / s
        error_min, error_max = abs(qmin) + abs(rmin / s), abs(qmax) + abs(rmax / s)
        zero_point_real = np.float64(from_min if error_min < error_max else from_max)
    else:
        # The real value rmin maps to qmin:  qmin = rmin / scale + zero_point  =>  zero_point = qmin - rmin / scale.
        zero_point_real = np.float32(qmin - rmin / np.float64(scale))

    # "Nudge" the zero point to an integer inside [qmin, qmax].
    if zero_point_real < qmin:
        zero_point = qmin
    elif zero_point_real > qmax:
        zero_point = qmax
    else:
        zero_point = int(round_half_away_from_zero(zero_point_real))
    return np.float32(scale), zero_point


def _symmetric_scale(bound: float, qmax: int) -> np.float32:
    """One channel of the converter's weight path: ``bound / qmax`` in float32, tiny ranges widened."""
    # ExpandVerySmallRange on [-bound, bound]: a range of at most 1e-6 becomes [-5e-7, 5e-7].
    if not bound - (-bound) > _NEAR_ZERO_TOLERANCE:
        bound = max(bound, _SMALLEST_HALF_RANGE)
    # DownCastScale: (float32(max) - float32(min)) / (qmax - qmin), with qmin = -qmax.
    return np.float32((np.float32(bound) - np.float32(-bound)) / np.float32(2 * qmax))


def choose_qparams(
    rmin,
    rmax,
    dtype: str = "int8",
    symmetric: bool = False,
    narrow_range: bool = False,
    axis: int | None = None,
) -> QParams:
    """Scale and zero point for the real range ``[rmin, rmax]``, bit-exact with the TFLite converter.

    ``rmin``/``rmax`` are scalars (per tensor) or equal-length 1-D arrays (per channel; then ``axis`` says which tensor
    axis the channels are on, default 0). They are first rounded to float32, because that is how calibration
    statistics are stored in the model.

    * ``symmetric=False``: the activation path (see the module docstring): range widened to include 0 (and to at least
      2e-6 wide), ``scale = (rmax - rmin) / (qmax - qmin)`` in float32, zero point rounded half away from zero and
      clamped. An all-zero range ``[0, 0]`` gives ``scale = 2e-6/255``, zero point 0.
    * ``symmetric=True``: the weight path: ``scale = max(|rmin|, |rmax|) / qmax`` in float32, zero point 0 and always
      a narrow range (int8 ``[-127, 127]``), as the converter requires for symmetric quantization. A range of at most
      ``±5e-7`` gives ``scale = 1e-6 / 254``.
    """
    if dtype not in DTYPE_RANGES:
        raise QuantizationError(f"unknown quantized dtype {dtype!r}", hint=f"use one of {', '.join(DTYPE_RANGES)}")
    mins = np.atleast_1d(np.asarray(rmin, dtype=np.float32)).astype(np.float64)
    maxs = np.atleast_1d(np.asarray(rmax, dtype=np.float32)).astype(np.float64)
    if mins.ndim != 1 or mins.shape != maxs.shape:
        raise QuantizationError(f"rmin and rmax must have the same 1-D shape, got {mins.shape} and {maxs.shape}")
    if not (np.all(np.isfinite(mins)) and np.all(np.isfinite(maxs))):
        raise QuantizationError("the range is not finite", hint="check the calibration data for inf/NaN")
    if np.any(mins > maxs):
        raise QuantizationError(f"rmin > rmax in range [{mins.tolist()}, {maxs.tolist()}]")
    if axis is None and mins.size > 1:
        axis = 0
    if symmetric:
        if DTYPE_RANGES[dtype][0] == 0:
            raise QuantizationError(f"symmetric quantization needs a signed type, not {dtype}")
        narrow_range = True

    qmin, qmax = qrange(dtype, narrow_range)
    scales, zero_points = [], []
    for lo, hi in zip(mins.tolist(), maxs.tolist()):
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # the range must contain 0
        if symmetric:
            scales.append(_symmetric_scale(max(abs(lo), abs(hi)), qmax))
            zero_points.append(0)
        else:
            scale, zero_point = _asymmetric_scale_zero_point(lo, hi, qmin, qmax, narrow_range)
            scales.append(scale)
            zero_points.append(zero_point)
    if axis is None:
        return QParams(scales[0], zero_points[0], None, dtype, narrow_range)
    return QParams(np.array(scales, np.float32), np.array(zero_points, np.int64), axis, dtype, narrow_range)


# --------------------------------------------------------------------------------------------------------------------
# Quantize / dequantize
# --------------------------------------------------------------------------------------------------------------------


def _channel_shape(qp: QParams, ndim: int) -> tuple[int, ...]:
    """Shape that broadcasts per-channel parameters along ``qp.axis`` of an ``ndim``-D array."""
    if qp.axis is None:
        return ()
    axis = qp.axis if qp.axis >= 0 else qp.axis + ndim
    if not 0 <= axis < ndim:
        raise QuantizationError(f"axis {qp.axis} is out of range for a {ndim}-D tensor")
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(shape)


def _check_channels(qp: QParams, shape: tuple[int, ...]) -> tuple[int, ...]:
    bshape = _channel_shape(qp, len(shape))
    if qp.axis is not None and shape[qp.axis] != qp.scale.size:
        raise QuantizationError(
            f"tensor has {shape[qp.axis]} channels on axis {qp.axis} but the parameters have {qp.scale.size}"
        )
    return bshape


def quantize(x, qp: QParams) -> np.ndarray:
    """Real values -> integers, as TFLite's QUANTIZE op: ``clamp(round(float32(x / scale)) + zero_point)``.

    The division is done in float32 (``val / static_cast<float>(scale)`` in ``reference_ops::AffineQuantize`` and
    ``PerChannelQuantize``), rounding is half away from zero, and the result saturates at ``[qp.qmin, qp.qmax]``.
    Returns an array of ``qp.dtype``.
    """
    x = np.asarray(x, dtype=np.float32)
    bshape = _check_channels(qp, x.shape)
    scale = qp.scale.reshape(bshape)
    zero_point = qp.zero_point.reshape(bshape)
    with np.errstate(over="ignore"):  # x / scale may overflow to inf; the clamp below saturates it
        rounded = round_half_away_from_zero(x / scale).astype(np.float64)
    q = np.clip(rounded + zero_point, qp.qmin, qp.qmax)
    return q.astype(_NUMPY_DTYPES[qp.dtype])


def dequantize(q, qp: QParams) -> np.ndarray:
    """Integers -> real values, as TFLite's DEQUANTIZE op: ``float32(scale * (q - zero_point))``."""
    q = np.asarray(q)
    bshape = _check_channels(qp, q.shape)
    scale = qp.scale.reshape(bshape).astype(np.float64)
    zero_point = qp.zero_point.reshape(bshape)
    return (scale * (q.astype(np.int64) - zero_point)).astype(np.float32)


# --------------------------------------------------------------------------------------------------------------------
# Weights and bias, the way the converter quantizes constants
# --------------------------------------------------------------------------------------------------------------------


_WEIGHT_QMAX = 127
#: kBiasMax of the converter: a quantized bias is kept within INT32_MAX / 2 "to make some room for the accumulator".
BIAS_MAX = (2**31 - 1) // 2
_INT32_LIMIT = 2**31 - 1


def _normalize_axis(axis: int | None, ndim: int) -> int | None:
    if axis is None:
        return None
    normalized = axis + ndim if axis < 0 else axis
    if not 0 <= normalized < ndim:
        raise QuantizationError(f"axis {axis} is out of range for a {ndim}-D weight tensor")
    return normalized


def _weight_qparams(w: np.ndarray, axis: int | None) -> QParams:
    """Symmetric int8 parameters from the weights' own range (per tensor, or per channel along ``axis``)."""
    if axis is None:
        bound = float(np.max(np.abs(w))) if w.size else 0.0
        return choose_qparams(-bound, bound, symmetric=True)
    other_axes = tuple(i for i in range(w.ndim) if i != axis)
    bound = np.max(np.abs(w), axis=other_axes) if w.size else np.zeros(w.shape[axis], np.float32)
    return choose_qparams(-bound, bound, symmetric=True, axis=axis)


def _weight_values(w: np.ndarray, axis: int | None, scales: np.ndarray) -> np.ndarray:
    """The converter's int8 weight values for given (double-precision) scales.

    Per channel (``SymmetricPerChannelQuantizeValues``): ``round(float32(w * float32(1.0 / float32(scale))))``.

    Per tensor (``PortableSymmetricQuantizeFloats``): ``round(float32(w * (127 / bound)))`` with the tensor's own
    ``bound = max|w|``, *unless* that routine's scale ``bound / 127`` differs from the intended scale by more than
    1e-3 (an all-zero tensor, or a scale raised for the bias): then the generic quantizer ``round(w / scale)`` (in
    double) is used. A tensor whose ``bound`` is at most 5e-7 therefore gets full-scale values (up to 127) next to
    the widened scale ``1e-6 / 254``; that is what the converter writes.
    """
    if axis is None:
        scale = float(scales.reshape(()))
        bound = np.float32(np.max(np.abs(w))) if w.size else np.float32(0.0)
        portable_scale = bound / np.float32(_WEIGHT_QMAX) if bound != 0 else np.float32(1.0)
        if abs(float(portable_scale) - scale) > 1e-3:
            values = w.astype(np.float64) / scale
        else:
            values = (w * (np.float32(_WEIGHT_QMAX) / bound)).astype(np.float32)
    else:
        inv_scale = (1.0 / scales.astype(np.float32).astype(np.float64)).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        values = (w * inv_scale.reshape(shape)).astype(np.float32)
    q = np.clip(round_half_away_from_zero(values), -_WEIGHT_QMAX, _WEIGHT_QMAX)
    return q.astype(np.int8)


def quantize_weights(w, axis: int | None = None) -> tuple[np.ndarray, QParams]:
    """Symmetric, narrow-range int8 quantization of a float weight tensor, bit-exact with the TFLite converter.

    ``axis=None`` quantizes per tensor (a Dense layer with per-channel quantization disabled); an ``axis`` quantizes
    per channel along it. Returns ``(q, qparams)`` with ``q`` int8 in ``[-127, 127]``.

    The values are ``round(float32(w * inv_scale))``; the converter takes the inverse scale as
    ``float32(1.0 / scale)`` per channel but as ``float32(127) / bound`` per tensor, and both are reproduced here
    (see ``_weight_values`` for the per-tensor corner cases). This ignores the bias: a layer whose bias would
    overflow gets larger weight scales from the converter, which :func:`quantize_weights_and_bias` reproduces.
    """
    w = np.asarray(w, dtype=np.float32)
    axis = _normalize_axis(axis, w.ndim)
    qp = _weight_qparams(w, axis)
    return _weight_values(w, axis, qp.scale.astype(np.float64)), qp


def quantize_weights_per_channel(w, axis: int) -> tuple[np.ndarray, QParams]:
    """Per-channel int8 weights as the converter makes them: ``axis=0`` for a CONV_2D filter (OHWI),
    ``axis=3`` for a DEPTHWISE_CONV_2D filter (1HWO), ``axis=0`` for a per-channel FULLY_CONNECTED one ([out, in])."""
    return quantize_weights(w, axis=axis)


def _bias_values(b: np.ndarray, bias_scales: np.ndarray) -> np.ndarray:
    """``SymmetricBiasQuantize``: ``round(float32(b * float32(1.0 / scale)))`` saturated to ``+-(2**31 - 1)``."""
    inv_scale = (1.0 / bias_scales.astype(np.float64)).astype(np.float32)
    with np.errstate(over="ignore"):
        rounded = round_half_away_from_zero((b * inv_scale).astype(np.float32)).astype(np.float64)
    return np.clip(rounded, -_INT32_LIMIT, _INT32_LIMIT).astype(np.int32)


def quantize_bias(b, input_scale, weight_scales) -> tuple[np.ndarray, QParams]:
    """int32 bias with ``scale = input_scale * weight_scale`` (per output channel) and zero point 0.

    As the converter: ``bias_scale = float32(double(input_scale) * double(weight_scale))``, then
    ``round(float32(b * float32(1.0 / bias_scale)))`` saturated to ``[-(2**31 - 1), 2**31 - 1]``
    (``SymmetricBiasQuantize``). ``weight_scales`` is a scalar (per-tensor weights) or one scale per output channel.
    Returns ``(q, qparams)``. (The converter's adjustment for biases too large for these scales is in
    :func:`quantize_weights_and_bias`.)
    """
    b = np.asarray(b, dtype=np.float32)
    weight_scales = np.asarray(weight_scales, dtype=np.float32)
    bias_scale = (np.float64(np.float32(input_scale)) * weight_scales.astype(np.float64)).astype(np.float32)
    if np.any(bias_scale <= 0) or not np.all(np.isfinite(bias_scale)):
        raise QuantizationError(f"bias scale must be > 0, got {bias_scale.tolist()}")
    if bias_scale.size == 1:
        return _bias_values(b, bias_scale.reshape(())), QParams(bias_scale.reshape(()), 0, None, "int32", True)
    if b.ndim != 1 or b.size != bias_scale.size:
        raise QuantizationError(f"bias has shape {b.shape} but there are {bias_scale.size} weight scales")
    return _bias_values(b, bias_scale), QParams(bias_scale, 0, 0, "int32", narrow_range=True)


def quantize_weights_and_bias(w, b, input_scale, axis: int | None = None):
    """Weights and bias of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED layer, exactly as the converter does it.

    Returns ``(q_weights, weight_qparams, q_bias, bias_qparams)`` (the bias entries are ``None`` without a bias).

    Normally this is :func:`quantize_weights` followed by :func:`quantize_bias`. But when a bias is too large for
    ``input_scale * weight_scale`` (``|b| / bias_scale`` above :data:`BIAS_MAX` = ``(2**31 - 1) // 2``; typically a
    channel whose weights are all (nearly) zero while its bias is not, e.g. after batch-norm folding), the
    converter raises the scales instead of saturating (``SetBiasParamsWithAdjustments``)::

        bias_scale   = |b| / BIAS_MAX                (per channel; per tensor with |b| = max |b|)
        weight_scale = bias_scale / input_scale

    so that bias values end near ``+-BIAS_MAX`` and the weights use a coarser grid.
    """
    w = np.asarray(w, dtype=np.float32)
    axis = _normalize_axis(axis, w.ndim)
    weight_qp = _weight_qparams(w, axis)
    if b is None:
        return _weight_values(w, axis, weight_qp.scale.astype(np.float64)), weight_qp, None, None
    b = np.asarray(b, dtype=np.float32)
    in_scale = float(np.float32(input_scale))
    if not in_scale > 0:
        raise QuantizationError(f"input scale must be > 0, got {in_scale}")
    weight_scales = weight_qp.scale.astype(np.float64).reshape(-1)
    # GetUniformQuantizedTypeForBias: input_scale * weight_scale in double, stored as float32 (legacy_float_scale)
    bias_scales = (in_scale * weight_scales).astype(np.float32).astype(np.float64)
    if axis is None:
        half_range = float(np.max(np.abs(b))) if b.size else 0.0
        if not half_range / bias_scales[0] < BIAS_MAX:
            bias_scales = np.array([half_range / BIAS_MAX])
            weight_scales = bias_scales / in_scale
    else:
        if b.ndim != 1 or b.size != weight_scales.size:
            raise QuantizationError(f"bias has shape {b.shape} but the weights have {weight_scales.size} channels")
        too_large = np.abs(b).astype(np.float64) / bias_scales > BIAS_MAX
        bias_scales = np.where(too_large, np.abs(b).astype(np.float64) / BIAS_MAX, bias_scales)
        weight_scales = np.where(too_large, bias_scales / in_scale, weight_scales)

    if axis is None:
        weight_scales, bias_scales = weight_scales.reshape(()), bias_scales.reshape(())
    q_weights = _weight_values(w, axis, weight_scales)
    weight_qp = QParams(weight_scales.astype(np.float32), 0, axis, "int8", narrow_range=True)
    q_bias = _bias_values(b, bias_scales.astype(np.float32))
    bias_qp = QParams(bias_scales.astype(np.float32), 0, None if axis is None else 0, "int32", narrow_range=True)
    return q_weights, weight_qp, q_bias, bias_qp
