"""Tiny numpy reference implementations of the int8 FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D kernels.

They compute what TFLM's reference kernels (and CMSIS-NN) compute, bit for bit, and are written to be read, not to
be fast. Every int8 kernel has the same three steps::

    acc  = bias[c] + sum((x - input_zero_point) * w)              int32 accumulator (weights have zero point 0)
    acc  = MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c])          requantize to the output scale
    out  = clamp(acc + output_zero_point, activation_min, activation_max)       int8

The per-channel ``multiplier``/``shift`` come from :mod:`edgeq.quant.fixedpoint` (``conv_multipliers``,
``fully_connected_multipliers``) and ``activation_min``/``activation_max`` from
``calculate_activation_range_quantized``. Layouts are TFLite's: activations NHWC, conv filters OHWI, depthwise
filters 1HWO, fully-connected weights ``[out, in]``.
"""

from __future__ import annotations

import numpy as np

from edgeq.quant.affine import QuantizationError
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier

__all__ = ["compute_out_size", "compute_padding", "padding_for", "fully_connected_int8", "conv2d_int8",
           "depthwise_conv2d_int8"]


def _wrap_int32(v: np.ndarray) -> np.ndarray:
    """The C int32 accumulator wraps on overflow; summing in int64 and wrapping once gives the same bits."""
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def _requantize(acc, multiplier, shift, output_zero_point, activation_min, activation_max, rounding):
    """Shared tail of all kernels; ``acc`` has the channel as its last axis."""
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    scaled = multiply_by_quantized_multiplier(_wrap_int32(acc), multiplier, shift, rounding=rounding)
    out = scaled.astype(np.int64) + int(output_zero_point)
    return np.clip(out, activation_min, activation_max).astype(np.int8)


def _bias(bias, channels: int) -> np.ndarray:
    if bias is None:
        return np.zeros(channels, np.int64)
    bias = np.asarray(bias, dtype=np.int64).reshape(-1)
    if bias.size != channels:
        raise QuantizationError(f"bias has {bias.size} entries for {channels} output channels")
    return bias


def fully_connected_int8(
    x,
    input_zero_point: int,
    weights,
    bias,
    output_multiplier,
    output_shift,
    output_zero_point: int,
    activation_min: int = -128,
    activation_max: int = 127,
    rounding: str = "double",
) -> np.ndarray:
    """FULLY_CONNECTED: ``x`` is ``[batch, in]`` (or anything reshaping to rows of ``in``), ``weights`` ``[out, in]``.

    ``output_multiplier``/``output_shift`` are scalars (per-tensor) or one per output unit (per-channel).
    Returns int8 ``[batch, out]``.
    """
    weights = np.asarray(weights, dtype=np.int64)
    depth = weights.shape[1]
    rows = np.asarray(x, dtype=np.int64).reshape(-1, depth)
    acc = (rows - int(input_zero_point)) @ weights.T + _bias(bias, weights.shape[0])
    return _requantize(acc, output_multiplier, output_shift, output_zero_point, activation_min, activation_max, rounding)


def compute_out_size(padding: str, image_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """TFLite's ``ComputeOutSize``: ``SAME`` -> ``ceil(in / stride)``, ``VALID`` -> ``ceil((in - effective_filter +
    1) / stride)``; 0 for another padding or a zero stride."""
    effective = (filter_size - 1) * dilation + 1
    if stride == 0:
        return 0
    if padding == "SAME":
        return (image_size + stride - 1) // stride
    if padding == "VALID":
        return (image_size + stride - effective) // stride
    return 0


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """TFLite's ``ComputePadding``: the leading padding that gives ``out_size`` (C division truncates toward zero;
    never negative). The trailing padding is the rest of the total, so the odd pixel goes to the bottom/right."""
    effective = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    padding = int(total / 2) if total >= 0 else -int(-total / 2)  # C truncation
    return padding if padding > 0 else 0


def padding_for(in_size: int, filter_size: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """``(out_size, pad_before, pad_after)`` of one spatial dimension for ``SAME`` / ``VALID`` padding
    (``ComputePaddingHeightWidth``)."""
    if padding.upper() not in ("SAME", "VALID"):
        raise QuantizationError(f"padding must be SAME or VALID, got {padding!r}")
    out_size = compute_out_size(padding.upper(), in_size, filter_size, stride, dilation)
    before = compute_padding(stride, dilation, in_size, filter_size, out_size)
    total = max((out_size - 1) * stride + (filter_size - 1) * dilation + 1 - in_size, 0)
    return out_size, before, total - before


def _padded_windows(x, in_zp, kh, kw, stride, dilation, padding):
    """Yield ``(ky, kx, window)`` where ``window[n, oy, ox, c] = x[n, oy*sh + ky*dh - pad_top, ...] - in_zp``.

    Padding pixels are real zeros, i.e. ``input_zero_point`` in the quantized domain, so they add nothing.
    """
    x = np.asarray(x, dtype=np.int64) - int(in_zp)
    _, height, width, _ = x.shape
    sh, sw = stride
    dh, dw = dilation
    out_h, top, bottom = padding_for(height, kh, sh, dh, padding)
    out_w, left, right = padding_for(width, kw, sw, dw, padding)
    xp = np.pad(x, ((0, 0), (top, bottom + sh), (left, right + sw), (0, 0)))  # extra rows/cols never read
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            window = xp[:, y0 : y0 + out_h * sh : sh, x0 : x0 + out_w * sw : sw, :]
            yield ky, kx, window[:, :out_h, :out_w, :]


def conv2d_int8(
    x,
    input_zero_point: int,
    filters,
    bias,
    output_multiplier,
    output_shift,
    output_zero_point: int,
    stride=(1, 1),
    padding: str = "VALID",
    dilation=(1, 1),
    activation_min: int = -128,
    activation_max: int = 127,
    rounding: str = "double",
) -> np.ndarray:
    """CONV_2D: ``x`` NHWC int8, ``filters`` OHWI int8, ``bias`` int32 ``[O]``; returns NHWC int8."""
    filters = np.asarray(filters, dtype=np.int64)
    out_channels, kh, kw, in_channels = filters.shape
    if np.shape(x)[3] != in_channels:
        raise QuantizationError(f"input has {np.shape(x)[3]} channels, filters expect {in_channels}")
    acc = None
    for ky, kx, window in _padded_windows(x, input_zero_point, kh, kw, stride, dilation, padding):
        term = window @ filters[:, ky, kx, :].T  # [N, OH, OW, C_in] @ [C_in, C_out]
        acc = term if acc is None else acc + term
    acc = acc + _bias(bias, out_channels)
    return _requantize(acc, output_multiplier, output_shift, output_zero_point, activation_min, activation_max, rounding)


def depthwise_conv2d_int8(
    x,
    input_zero_point: int,
    filters,
    bias,
    output_multiplier,
    output_shift,
    output_zero_point: int,
    stride=(1, 1),
    padding: str = "VALID",
    dilation=(1, 1),
    depth_multiplier: int = 1,
    activation_min: int = -128,
    activation_max: int = 127,
    rounding: str = "double",
) -> np.ndarray:
    """DEPTHWISE_CONV_2D: ``filters`` 1HWO with ``O = C_in * depth_multiplier``; output channel ``o`` reads input
    channel ``o // depth_multiplier``. Returns NHWC int8."""
    filters = np.asarray(filters, dtype=np.int64)
    _, kh, kw, out_channels = filters.shape
    in_channels = np.shape(x)[3]
    if in_channels * depth_multiplier != out_channels:
        raise QuantizationError(
            f"{in_channels} input channels x depth multiplier {depth_multiplier} != {out_channels} filter channels"
        )
    source_channel = np.arange(out_channels) // depth_multiplier
    acc = None
    for ky, kx, window in _padded_windows(x, input_zero_point, kh, kw, stride, dilation, padding):
        term = window[..., source_channel] * filters[0, ky, kx, :]
        acc = term if acc is None else acc + term
    acc = acc + _bias(bias, out_channels)
    return _requantize(acc, output_multiplier, output_shift, output_zero_point, activation_min, activation_max, rounding)
