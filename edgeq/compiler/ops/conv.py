"""CONV_2D (int8, per-channel or per-tensor int8 weights, int32 bias) -> edgeq_convolve_wrapper_s8
(arm_convolve_wrapper_s8). Grouped convolutions (filter input depth < input depth) run on the portable kernel.
int16x8 (int16 activations with zero point 0, int8 weights, int64 or int32 bias) -> edgeq_convolve_wrapper_s16
(arm_convolve_wrapper_s16 where that is bit-exact with TFLM: edgeq.compiler.cmsis_calls).

Parameters as TFLM's conv_common.cc: per-channel multipliers/shifts (PopulateConvolutionQuantizationParams, a
per-tensor scale broadcast over the channels), ComputePaddingHeightWidth, CalculateActivationRangeQuantized.
"""

from __future__ import annotations

import numpy as np

from edgeq.compiler.cparams import (CONTEXT, Activation, BiasData, ConstRef, ConvParams, Dims, DwConvParams,
                                    KernelCall, PerChannelQuantParams, TensorRef, Tile, out_ref)
from edgeq.compiler.ops._int16 import QRANGE
from edgeq.compiler.ops.base import INT32_MAX, Layer, check_accumulator, inplace_delay
from edgeq.errors import ModelError
from edgeq.quant import fixedpoint as fp
from edgeq.quant.reference_ops import compute_out_size, compute_padding


#: TFLM's int64 MultiplyByQuantizedMultiplier asserts |x| < 2^47 (so that x times the 16-bit multiplier fits int64)
S64_ACC_LIMIT = 1 << 47


def check_int16_bias(layer: Layer, bias, dtypes: tuple[str, ...]) -> None:
    """The bias of an int16x8 op: int64 (what the converter writes), or int32 where TFLM also reads that."""
    if bias.dtype not in dtypes:
        raise layer.unsupported(f"bias is {bias.dtype}; int16 {layer.opcode} needs {' or '.join(dtypes)} bias "
                                f"(TFLM reads no other)")


def check_int16_zero_points(layer: Layer, x, out) -> None:
    """TFLM's int16 convolution kernels read no zero point: the converter writes 0 for int16 activations, and a
    model with another one would not mean what TFLM computes."""
    for t, what in ((x, "input"), (out, "output")):
        if t.zero_point != 0:
            raise layer.unsupported(f"int16 {what} '{t.name}' has zero point {t.zero_point}; TFLM's int16 kernels "
                                    f"assume 0 (symmetric int16 activations)")


def check_accumulator_s16(layer: Layer, weight_abs_sums, bias, n_channels: int) -> None:
    """Refuse int16x8 weights/bias whose accumulator leaves the range TFLM's arithmetic is defined in: with an int64
    bias |acc| < 2^47 (edgeq_requantize_s64), with an int32 bias (TFLM sums in int32) |acc| <= INT32_MAX; |x| <= 2^15
    (2^16 with a FULLY_CONNECTED input offset)."""
    sums = np.asarray(weight_abs_sums, dtype=np.int64).reshape(-1)
    bound = sums * (1 << 16 if layer.opcode == "FULLY_CONNECTED" else 1 << 15)
    if bias is not None:
        if bias.num_elements != n_channels:
            raise layer.unsupported(f"bias '{bias.name}' has {bias.num_elements} values for {n_channels} output "
                                    f"channels")
        bound = bound + np.abs(bias.array().astype(np.int64).reshape(-1))
    limit = INT32_MAX if bias is not None and bias.dtype == "int32" else S64_ACC_LIMIT - 1
    worst = int(bound.max()) if bound.size else 0
    if worst > limit:
        c = int(bound.argmax()) if bound.size > 1 else 0
        raise ModelError(f"weights and bias of output channel {c} can overflow the accumulator (|acc| up to "
                         f"{worst:,}, limit {limit:,})", where=layer.where,
                         hint="the weights or bias are damaged; re-export the model")


def check_s64_shifts(layer: Layer, shifts) -> None:
    """edgeq_requantize_s64 (TFLM's int64 MultiplyByQuantizedMultiplier) shifts right by 15 - shift: shift <= 14."""
    bad = [int(v) for v in np.asarray(shifts).reshape(-1) if int(v) > 14]
    if bad:
        raise ModelError(f"quantization scales give a requantization shift of {bad[0]}, above the 14 the int16 "
                         f"kernels can execute", where=layer.where,
                         hint="the input/weight/output scales of this op are not plausible; re-quantize the model")


def conv_common(layer: Layer, *, depthwise: bool, weights: bool = True) -> None:
    """Checks and parameters shared by CONV_2D and DEPTHWISE_CONV_2D (stored in ``layer.params``).

    With a folded PAD (``layer.params["fold"]``, see edgeq.compiler.ops.pad.pad_folds) the layer reads the PAD's
    input: the output size follows from the padded shape, the PAD's top/left amounts join the leading padding, and
    its bottom/right amounts are the taps the kernel skips past the input's end (padding with the input zero point
    adds nothing to the sum, exactly like a skipped tap).

    ``weights=False``: the filter and bias arrays are left to the caller (a kernel that stores them differently)."""
    fold = layer.params.get("fold")
    if fold is not None:
        layer.params["input_tensor"] = fold.source
    x = layer.require_activation(layer.tensor(layer.data_input), "input", ("int8", "int16"))
    w = layer.require_int8(layer.input(1), "filter")
    layer.require_const(w, "filter")
    out = layer.require_activation(layer.output(), "output", (x.dtype,))
    bias = layer.input(2)
    for t, what in ((x, "input"), (w, "filter"), (out, "output")):
        layer.require_rank(t, (4,), what)
    if any(z != 0 for z in w.quant.zero_point):
        raise layer.unsupported("filter with a non-zero zero point (asymmetric int8 weights)")
    int16 = x.dtype == "int16"
    layer.params["int16"] = int16
    if bias is not None:
        layer.require_const(bias, "bias")
        if int16:
            check_int16_bias(layer, bias, ("int64",) if depthwise else ("int64", "int32"))
        elif bias.dtype != "int32":
            raise layer.unsupported(f"bias is {bias.dtype}; int8 convolutions need int32 bias")
    if int16:
        check_int16_zero_points(layer, x, out)
    o = layer.op.options
    act = o.get("fused_activation_function", "NONE")
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise layer.unsupported(f"fused activation {act}")
    padding = o.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise layer.unsupported(f"padding {padding}")
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
    if min(sh, sw, dh, dw) < 1:
        raise layer.unsupported(f"stride {sh}x{sw} / dilation {dh}x{dw} must be >= 1")
    n, h, wd, cin = x.shape
    top, left, bottom, right = (fold.top, fold.left, fold.bottom, fold.right) if fold is not None else (0, 0, 0, 0)
    ph, pw = h + top + bottom, wd + left + right  # the shape the op sees (padded when a PAD was folded)
    _, kh, kw, kc = w.shape
    on, oh, ow, cout = out.shape
    exp_h = compute_out_size(padding, ph, kh, sh, dh)
    exp_w = compute_out_size(padding, pw, kw, sw, dw)
    if (on, oh, ow) != (n, exp_h, exp_w):
        raise layer.unsupported(f"output shape {list(out.shape)} does not follow from input {list(x.shape)}, "
                                f"filter {list(w.shape)}, {padding} stride {sh}x{sw} dilation {dh}x{dw}")
    pad_h = compute_padding(sh, dh, ph, kh, oh) + top
    pad_w = compute_padding(sw, dw, pw, kw, ow) + left
    n_channels = cout
    if depthwise:
        if w.shape[0] != 1 or kc != cout:
            raise layer.unsupported(f"depthwise filter {list(w.shape)} does not match output depth {cout}")
        mult = int(o.get("depth_multiplier", 0) or 0)
        ch_mult = cout // cin if cin else 0
        if cin == 0 or cout % cin != 0 or (mult and mult != ch_mult):
            raise layer.unsupported(f"output depth {cout} is not input depth {cin} x depth multiplier {mult}")
        layer.params["ch_mult"] = ch_mult
        scale_axis_len = cout
    else:
        if w.shape[0] != cout or kc <= 0 or cin % kc != 0 or cout % (cin // kc) != 0:
            raise layer.unsupported(f"filter {list(w.shape)} does not match input depth {cin} / output depth "
                                    f"{cout}")
        scale_axis_len = cout
    scales = w.quant.scales()
    if len(scales) not in (1, scale_axis_len):
        raise layer.unsupported(f"{len(scales)} filter scales for {scale_axis_len} output channels")
    if len(scales) > 1 and w.quant.axis != (3 if depthwise else 0):
        raise layer.unsupported(f"filter quantized along axis {w.quant.axis}")
    wabs = np.abs(w.array().astype(np.int64))
    abs_sums = wabs.sum(axis=(0, 1, 2)) if depthwise else wabs.reshape(wabs.shape[0], -1).sum(axis=1)
    if int16:
        check_accumulator_s16(layer, abs_sums, bias, n_channels)
    else:
        check_accumulator(layer, abs_sums, bias, n_channels)
    mults, shifts = fp.conv_multipliers(x.scale, scales, out.scale)
    if len(mults) == 1:  # TFLM broadcasts a per-tensor scale over the output channels
        mults = mults.repeat(n_channels)
        shifts = shifts.repeat(n_channels)
    if int16 and (bias is None or bias.dtype == "int64"):
        check_s64_shifts(layer, shifts)
    act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point,
                                                               *QRANGE[x.dtype])
    p = layer.params
    p.update(input_dims=(n, h, wd, cin), filter_dims=(1 if depthwise else cout, kh, kw, kc),
             output_dims=(on, oh, ow, cout), stride=(sw, sh), padding=(pad_w, pad_h), dilation=(dw, dh),
             input_offset=-x.zero_point, output_offset=out.zero_point, act_min=act_min, act_max=act_max)
    i = layer.index
    p["bias_ctype"] = f"{bias.dtype}_t" if bias is not None else ("int64_t" if int16 else "int32_t")
    if weights:
        p["filter"] = layer.ctx.tensor_const(layer.op.inputs[1], "int8_t", "filter")
        p["bias"] = (layer.ctx.tensor_const(layer.op.inputs[2], p["bias_ctype"], "bias") if bias is not None
                     else None)
    p["mult"] = layer.ctx.add_const("mult", "int32_t", mults, f"layer {i} per-channel multipliers")
    p["shift"] = layer.ctx.add_const("shift", "int32_t", shifts, f"layer {i} per-channel shifts")


def window_delay(layer: Layer, channel_term) -> int | None:
    """The delay ring for running ``layer`` in place, or None when it would cost more than it can save."""
    p = layer.params
    _, kh, kw, _ = p["filter_dims"]
    d = inplace_delay(p["input_dims"], p["output_dims"], channel_term, kh, kw, p["stride"][1], p["stride"][0],
                      p["dilation"][1], p["dilation"][0], p["padding"][1], p["padding"][0])
    in_bytes = int(np.prod(p["input_dims"]))
    out_bytes = int(np.prod(p["output_dims"]))
    return d if 4 * d <= min(in_bytes, out_bytes) else None


class WindowLayer(Layer):
    """A sliding-window layer (conv, depthwise, pooling) that may overwrite its own input through a delay ring."""

    def window_channels(self):
        """For each output channel, the offset of the input channel it reads (the ``channel_term`` of
        :func:`edgeq.compiler.ops.base.inplace_delay`)."""
        raise NotImplementedError

    def _delay(self) -> int | None:
        if "delay" not in self.params:
            self.params["delay"] = window_delay(self, self.window_channels())
        return self.params["delay"]

    @property
    def data_input(self) -> int:
        """The tensor the kernel reads: input 0, or the input of a PAD folded into this layer."""
        return self.params.get("input_tensor", self.op.inputs[0])

    def reads(self) -> list[int]:
        return [self.data_input]

    def inplace_candidates(self) -> list[int]:
        return [self.data_input] if self.inplace_methods() else []

    def inplace_delay(self) -> int:
        return self._delay() or 0

    def inplace_methods(self) -> dict[str, int]:
        if self.params.get("int16"):
            return {}  # the int16 kernels write straight to the output (the delay ring holds bytes)
        return {"ring": self._delay()} if self._delay() is not None else {}


def conv_call(layer: "WindowLayer", *, depthwise: bool) -> KernelCall:
    """The kernel call of CONV_2D / DEPTHWISE_CONV_2D from the parameters :func:`conv_common` computed
    (arm_convolve_wrapper_s8 / arm_depthwise_conv_wrapper_s8 and edgeq's twins take the same arguments)."""
    p = layer.params
    common = dict(stride=Tile(*p["stride"]), padding=Tile(*p["padding"]), dilation=Tile(*p["dilation"]),
                  activation=Activation(p["act_min"], p["act_max"]))
    suffix = "s16" if p.get("int16") else "s8"
    if depthwise:
        kernel, struct = f"depthwise_conv_wrapper_{suffix}", {"dw_conv_params": DwConvParams(
            input_offset=p["input_offset"], output_offset=p["output_offset"], ch_mult=p["ch_mult"], **common)}
    else:
        kernel, struct = f"convolve_wrapper_{suffix}", {"conv_params": ConvParams(
            input_offset=p["input_offset"], output_offset=p["output_offset"], **common)}
    cout = p["output_dims"][3]
    act = "int16_t" if p.get("int16") else "int8_t"
    bias = ConstRef(p["bias"], p["bias_ctype"])
    if p.get("int16") and not depthwise:  # arm_convolve_wrapper_s16's bias: int64 or int32 values
        bias = BiasData(data=bias, is_int32_bias=p["bias_ctype"] == "int32_t")
    return KernelCall.make(
        kernel, status=True, ctx=CONTEXT, **struct,
        quant_params=PerChannelQuantParams(multiplier=ConstRef(p["mult"], "int32_t"),
                                           shift=ConstRef(p["shift"], "int32_t")),
        input_dims=Dims(*p["input_dims"]), input_data=TensorRef(layer.data_input, act),
        filter_dims=Dims(*p["filter_dims"]), filter_data=ConstRef(p["filter"]),
        bias_dims=Dims(1, 1, 1, cout), bias_data=bias,
        output_dims=Dims(*p["output_dims"]), output_data=out_ref(layer.op.outputs[0], act))


#: what a zero multiplier (a channel whose output is always 0) becomes for edgeq_requantize_bounded, which needs
#: m >= 2^30: m = 2^30 with shift -31 gives round(round(acc / 2) / 2^31) = 0 for every |acc| < 2^31 - 2
ZERO_MULTIPLIER = (1 << 30, -31)


def bounded_requantization(w: np.ndarray, bias: np.ndarray | None, mults, shifts
                           ) -> tuple[np.ndarray, np.ndarray] | None:
    """The per-channel (multipliers, shifts) with which every output channel of ``w`` [C_OUT, taps] can use
    edgeq_requantize_bounded (see edgeq_nn.h), or None when one cannot. A zero multiplier becomes
    :data:`ZERO_MULTIPLIER` (same outputs: 0); every other one must be >= 2^30, as TFLM's QuantizeMultiplier makes them.
    With the accumulator bound B = 255 x sum |w| + |bias| (|x + input_offset| <= 255) and A = B x 2^left_shift:
    A < 2^31 (no wrap) and |high| + 2^(right_shift - 1) < 2^31 - 1, |high| <= A x m / 2^31 + 1."""
    m = np.asarray(mults, np.int64).copy()
    s = np.asarray(shifts, np.int64).copy()
    zero = m == 0
    m[zero], s[zero] = ZERO_MULTIPLIER
    if np.any(m < (1 << 30)):
        return None
    abs_sum = np.abs(w.astype(np.int64)).sum(axis=1)
    b = np.zeros(w.shape[0], np.int64) if bias is None else np.abs(bias.astype(np.int64).reshape(-1))
    left, right = np.maximum(s, 0), np.maximum(-s, 0)
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    a = (255 * abs_sum + b) << left
    high = [(int(x) * int(y) >> 31) + 1 for x, y in zip(a, m)]  # Python ints: A x m needs 62 bits
    if np.any(a >= (1 << 31)) or any(h + int(hf) >= (1 << 31) - 1 for h, hf in zip(high, half)):
        return None
    return m.astype(np.int32), s.astype(np.int32)


def use_bounded_requantization(layer: Layer, w: np.ndarray, bias: np.ndarray | None) -> bool:
    """Switch ``layer``'s own multiplier/shift arrays to :func:`bounded_requantization`'s; False (nothing changed)
    when the layer cannot use it."""
    p = layer.params
    mults, shifts = layer.ctx.consts[p["mult"]].values, layer.ctx.consts[p["shift"]].values
    rq = bounded_requantization(w, bias, mults, shifts)
    if rq is None:
        return False
    mults[:], shifts[:] = rq
    return True


#: targets whose convolutions run the Helium kernels (edgeq_convolve_1x1_mve_s8 / edgeq_convolve_kxk_mve_s8, weights
#: in natural order; edgeq_depthwise_conv_mve_s8)
MVE_TARGETS = ("cortex-m55",)


def window_constants(w: np.ndarray, bias: np.ndarray | None, input_offset: int, mults: np.ndarray,
                     shifts: np.ndarray, natural: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """The filter and bias of edgeq_convolve_1x1_s8 / edgeq_convolve_kxk_s8 (see their sources) for a filter ``w``
    [C_OUT, KH x KW x C_IN] (flattened OHWI; the kxk kernel runs each pixel's window as one vector of that depth), or
    None when its accumulators could leave the range those kernels' arithmetic is exact in.

    - bias + input_offset * (sum of the channel's weights): the input zero point folded in;
    - the weights of channel pairs (c, c + 1) interleaved 4 by 4 along the depth (then the depth % 4 tails of c and
      c + 1), an odd last channel in natural order: the kernels' read order (``natural``: the filter as it is,
      [C_OUT][depth], for edgeq_convolve_1x1_mve_s8). Same bytes, so no flash is added.
    Bounds (|x + input_offset| <= 255, |x| <= 128): the accumulator must be in edgeq_requantize_bounded's domain
    (:func:`bounded_requantization`), and the kernel's partial sums (raw inputs, then the folded bias) within int32;
    weights in [-127, 127] (TFLite's int8 weight range; the kernel's plain-C path packs two per multiply)."""
    cout, depth = w.shape
    w64 = w.astype(np.int64)
    b64 = np.zeros(cout, np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    abs_sum = np.abs(w64).sum(axis=1)
    folded = b64 + input_offset * w64.sum(axis=1)
    if bounded_requantization(w, bias, mults, shifts) is None:
        return None
    if np.any(128 * abs_sum + np.abs(folded) >= (1 << 31)):
        return None
    if np.any(w == -128):  # the plain-C path packs two weights per multiply and needs them in [-127, 127]
        return None
    if natural:
        return np.ascontiguousarray(w).reshape(-1).astype(np.int8), folded.astype(np.int32)
    n4 = depth - depth % 4
    parts = []
    for c in range(0, cout - cout % 2, 2):
        a, b = w[c], w[c + 1]
        blocks = np.stack([a[:n4].reshape(-1, 4), b[:n4].reshape(-1, 4)], axis=1).reshape(-1)
        parts += [blocks, a[n4:], b[n4:]]
    if cout % 2:
        parts.append(w[cout - 1])
    return np.concatenate(parts).astype(np.int8), folded.astype(np.int32)


#: targets whose first layers (1-3 input channels) run edgeq_convolve_shallow_s8 (SMLAD on int16 pairs: the DSP
#: extension); its limits (EDGEQ_SHALLOW_* in edgeq_nn.h): filter rows, window bytes, int16 pairs, output channels
SHALLOW_TARGETS = ("cortex-m4", "cortex-m7")
#: on the Helium targets (:data:`MVE_TARGETS`, which have the DSP extension too) edgeq_convolve_shallow_s8 runs
#: windows of at most this many bytes (two 16-byte vectors); longer ones keep edgeq_convolve_kxk_mve_s8. Measured on
#: qemu-m55 (first layers, instructions kxk_mve -> shallow): VWW 3x3x3 1,447,688 -> 991,219, IC 3x3x3 889,594 ->
#: 765,219, person_detect 3x3x1 1,341,688 -> 734,594, but KWS 10x4x1 (40 bytes) 395,375 -> 405,375
SHALLOW_MVE_MAX_WINDOW = 32
SHALLOW_MAX_CIN, SHALLOW_MAX_ROWS, SHALLOW_MAX_WINDOW, SHALLOW_MAX_PAIRS, SHALLOW_MAX_COUT = 3, 16, 128, 66, 128
#: the window shapes (KH, KW, C_IN) with a specialised instance edgeq_convolve_shallow_<KH>x<KW>x<C_IN>_s8
#: (EDGEQ_SHALLOW_INSTANCES in edgeq_nn.h: every loop unrolled); other shapes run the general one
SHALLOW_SHAPES = ((3, 3, 3), (3, 3, 1), (10, 4, 1), (5, 5, 3), (5, 5, 1), (3, 3, 2))


def shallow_pair_taps(kh: int, kw: int, cin: int) -> list[tuple[int, int | None]]:
    """The window positions (flattened KH x KW x C_IN, OHWI order) of the int16 pairs edgeq_convolve_shallow_s8's
    edgeq_shallow_expand makes, in its order: every row's whole 4-byte words (bytes 0 and 2, then 1 and 3), then the
    rows' last (KW x C_IN) % 4 bytes in order, paired (None: the lane is 0), then a (None, None) pair to an even
    count."""
    row = kw * cin
    words, tail = divmod(row, 4)
    pairs: list[tuple[int | None, int | None]] = []
    for r in range(kh):
        for j in range(words):
            base = r * row + 4 * j
            pairs += [(base, base + 2), (base + 1, base + 3)]
    rest = [r * row + 4 * words + j for r in range(kh) for j in range(tail)]
    pairs += [(rest[j], rest[j + 1] if j + 1 < len(rest) else None) for j in range(0, len(rest), 2)]
    if len(pairs) % 2:
        pairs.append((None, None))
    return pairs


def shallow_constants(w: np.ndarray, bias: np.ndarray | None, input_offset: int, mults, shifts, kh: int, kw: int,
                      cin: int) -> np.ndarray | None:
    """The filter_data of edgeq_convolve_shallow_s8 (see its source) for a filter ``w`` [C_OUT, KH x KW x C_IN]
    (flattened OHWI), or None when the layer is outside the kernel's limits or its accumulators could leave the range
    the kernel is exact in. One int32 stream, per pair of output channels (c, c + 1; an odd count padded with an
    all-zero channel):

    - the two folded biases: bias + input_offset x sum of the channel's weights;
    - per int16 pair k of the window (:func:`shallow_pair_taps`) the word of channel c then that of c + 1, each two
      int16 weights (low half: the first of the pair);
    - per channel edgeq_requantize_bounded's (:func:`bounded_requantization`) 2m mod 2^32 (the SMMLAR operand),
      2^(right shift - 1) or 0, right shift, -1 when right shift > 0 else 0.
    A channel whose shift is a left shift s has weights and bias multiplied by 2^s instead (the same int32 as the
    reference's acc << s). Bounds (|x| <= 128, |x + input_offset| <= 255): the accumulator in
    edgeq_requantize_bounded's domain, every partial sum (folded bias + raw products) inside int32, and the scaled
    weights inside int16."""
    cout, depth = w.shape
    pairs = shallow_pair_taps(kh, kw, cin)
    if (cin > SHALLOW_MAX_CIN or kh > SHALLOW_MAX_ROWS or depth > SHALLOW_MAX_WINDOW or cout > SHALLOW_MAX_COUT
            or len(pairs) > SHALLOW_MAX_PAIRS):
        return None
    rq = bounded_requantization(w, bias, mults, shifts)
    if rq is None:
        return None
    m, s = (np.asarray(a, np.int64) for a in rq)
    left, right = np.maximum(s, 0), np.maximum(-s, 0)
    w64 = w.astype(np.int64) << left[:, None]
    b64 = np.zeros(cout, np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    folded = (b64 << left) + input_offset * w64.sum(axis=1)
    if np.any(128 * np.abs(w64).sum(axis=1) + np.abs(folded) >= (1 << 31)) or np.any(np.abs(w64) > 32767):
        return None
    cpad = cout + cout % 2
    wp = np.zeros((cpad, len(pairs), 2), np.int64)
    for k, (lo, hi) in enumerate(pairs):
        if lo is not None:
            wp[:cout, k, 0] = w64[:, lo]
        if hi is not None:
            wp[:cout, k, 1] = w64[:, hi]
    words = ((wp[..., 0] & 0xFFFF) | ((wp[..., 1] & 0xFFFF) << 16)).reshape(cpad // 2, 2, len(pairs))
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    chans = np.zeros((cpad, 5), np.int64)
    chans[:cout] = np.stack([folded, (m << 1) & 0xFFFFFFFF, half, right, np.where(right > 0, -1, 0)], axis=1)
    chans = chans.reshape(cpad // 2, 2, 5)
    stream = np.concatenate([chans[:, :, 0], words.transpose(0, 2, 1).reshape(cpad // 2, -1),
                             chans[:, :, 1:].reshape(cpad // 2, -1)], axis=1).reshape(-1)
    return ((stream + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)  # two's complement int32


def shallow_call(layer: "WindowLayer", stream: np.ndarray, filter_dims: tuple[int, int, int, int]) -> KernelCall:
    """Register ``layer``'s :func:`shallow_constants` and return its edgeq_convolve_shallow_s8 call (``filter_dims``:
    the convolution's [C_OUT, KH, KW, C_IN], also for a depthwise layer with one input channel); a specialised
    instance for the window shapes of :data:`SHALLOW_SHAPES`."""
    p = layer.params
    kh, kw = filter_dims[1:3]
    p["shallow"] = True
    p["filter"] = layer.ctx.add_const("filter", "int32_t", stream,
                                      f"layer {layer.index} {kh}x{kw} filter as int16 pairs, folded biases and "
                                      f"requantization in edgeq_convolve_shallow_s8's read order")
    shape = tuple(filter_dims[1:])
    kernel = f"convolve_shallow_{'x'.join(map(str, shape))}_s8" if shape in SHALLOW_SHAPES else "convolve_shallow_s8"
    return KernelCall.make(
        kernel, status=True, ctx=CONTEXT,
        conv_params=ConvParams(input_offset=p["input_offset"], output_offset=p["output_offset"],
                               stride=Tile(*p["stride"]), padding=Tile(*p["padding"]),
                               dilation=Tile(*p["dilation"]), activation=Activation(p["act_min"], p["act_max"])),
        input_dims=Dims(*p["input_dims"]), input_data=TensorRef(layer.data_input),
        filter_dims=Dims(*filter_dims), filter_data=ConstRef(p["filter"], "int32_t"),
        output_dims=Dims(*p["output_dims"]), output_data=out_ref(layer.op.outputs[0]))


def use_shallow(layer: Layer, w: np.ndarray) -> bool:
    """Whether ``layer`` (a convolution [C_OUT, KH x KW x C_IN] of weights ``w`` on 1-3 input channels, int8, no
    groups) could run edgeq_convolve_shallow_s8: portable backend, --optimize speed, a target with the DSP extension
    (on a Helium target only a window of at most :data:`SHALLOW_MVE_MAX_WINDOW` bytes), no dilation."""
    p = layer.params
    target = layer.ctx.target
    return (not p["int16"] and layer.ctx.backend == "portable" and layer.ctx.optimize == "speed"
            and (target in SHALLOW_TARGETS or (target in MVE_TARGETS and w.shape[1] <= SHALLOW_MVE_MAX_WINDOW))
            and p["input_dims"][3] <= SHALLOW_MAX_CIN and tuple(p["dilation"]) == (1, 1)
            and w.shape[0] <= SHALLOW_MAX_COUT)


#: the largest KH x KW x C_IN of edgeq_convolve_kxk_s8 (EDGEQ_KXK_WINDOW in edgeq_nn.h)
KXK_WINDOW = 576
#: edgeq_nn.h's EDGEQ_1X1_LANES (the deepest input of the 1x1 lane core), EDGEQ_LANES_CHUNK (output channels whose
#: accumulators the lane core holds) and EDGEQ_CONV_STAGE (output channels staged per pixel through a delay ring)
LANES_1X1 = 256
LANES_CHUNK = 64
CONV_STAGE = 128
#: targets whose build has the DSP extension (EDGEQ_USE_DSP) / has not; any other (generic) may be either. host builds
#: define EDGEQ_NO_DSP (their Makefiles), so a 32-bit Arm computer (a Raspberry Pi's armhf userland) runs the plain C
DSP_TARGETS = ("cortex-m4", "cortex-m7", "cortex-m55")
NO_DSP_TARGETS = ("host", "cortex-m0plus", "avr")


def _align4(n: int) -> int:
    return (n + 3) & ~3


def conv_working_bytes(kind: str, kh: int, kw: int, cin: int, cout: int, *, dsp: bool, mve: bool) -> int:
    """Bytes of kernel scratch (ctx->buf) edgeq_convolve_{kind}_s8 (``kind`` "1x1" / "kxk"; the ``_mve_`` kernel
    when ``mve``) works in - the Python twin of edgeq_convolve_1x1_s8_buffer_size / edgeq_convolve_kxk_s8_buffer_size
    / edgeq_convolve_kxk_mve_s8_buffer_size in edgeq_nn.h, for a build with (``dsp``) or without the DSP extension:
    the two pixels' int16 lanes (4 bytes per value of depth) and the lane core's accumulators (8 bytes per output
    channel, at most :data:`LANES_CHUNK` of them) or the two byte windows (each 4-aligned), nothing for the 1x1
    kernel's byte cores."""
    depth = kh * kw * cin
    acc = 8 * min(cout, LANES_CHUNK)
    if kind == "1x1":
        return 4 * cin + acc if dsp and not mve and cin <= LANES_1X1 else 0
    if dsp and not mve and cin % 4 == 0:
        return 4 * depth + acc
    return 2 * _align4(depth)


def target_working_bytes(target: str, kind: str, kh: int, kw: int, cin: int, cout: int) -> int:
    """:func:`conv_working_bytes` for ``target``'s build; for a target whose build may or may not have the DSP
    extension (generic), the larger of the two."""
    builds = [True] if target in DSP_TARGETS else [False] if target in NO_DSP_TARGETS else [True, False]
    return max(conv_working_bytes(kind, kh, kw, cin, cout, dsp=d, mve=target in MVE_TARGETS) for d in builds)


def fast_ring_bytes(work: int, cout: int, delay: int) -> int:
    """The in-place block of edgeq_convolve_1x1_s8 / edgeq_convolve_kxk_s8 (edgeq_nn.h): the working buffers, then -
    when there is a delay ring - the output stage and the ring."""
    return work + (conv_stage_bytes(cout) + delay if delay > 0 else 0)


def conv_stage_bytes(cout: int) -> int:
    """EDGEQ_CONV_STAGE_BYTES: the output stage of a 1x1 / KxK convolution that writes through a delay ring."""
    return 2 * cout if cout <= CONV_STAGE else CONV_STAGE


class Conv2D(WindowLayer):
    """CONV_2D. On the portable backend (32-bit targets, optimize "speed"): on 1-3 input channels and a core with the
    DSP extension edgeq_convolve_shallow_s8 (:func:`use_shallow`, constants from :func:`shallow_constants`); else,
    with its constants prepared here (:func:`window_constants`), a 1x1 convolution without padding or groups runs edgeq_convolve_1x1_s8
    (edgeq_convolve_1x1_mve_s8 on Cortex-M55) and a larger
    filter without groups or dilation (KH x KW x C_IN <= :data:`KXK_WINDOW`) edgeq_convolve_kxk_s8
    (edgeq_convolve_kxk_mve_s8 on Cortex-M55; both Helium kernels read the filter in natural order); every other one
    (or one whose accumulators leave those kernels' exact range) the general edgeq_convolve_wrapper_s8
    (arm_convolve_wrapper_s8 on the cmsis-nn backend)."""

    OPS = ("CONV_2D",)
    SOURCES = ("edgeq_convolve_s8.c",)

    def prepare(self) -> KernelCall:
        conv_common(self, depthwise=False, weights=False)
        p = self.params
        cout, kh, kw, fc = p["filter_dims"]
        p["shallow"] = False
        if fc == p["input_dims"][3] and use_shallow(self, self.input(1).array().reshape(cout, -1)):
            w = self.input(1).array().reshape(cout, -1)
            bias = self.input(2).array() if self.input(2) is not None else None
            shallow = shallow_constants(w, bias, p["input_offset"], self.ctx.consts[p["mult"]].values,
                                        self.ctx.consts[p["shift"]].values, kh, kw, fc)
            if shallow is not None:
                p["fast_kernel"] = None
                return shallow_call(self, shallow, p["filter_dims"])
        fast = None
        kind = None
        if (not p["int16"] and self.ctx.backend == "portable" and self.ctx.optimize == "speed"
                and self.ctx.target != "avr" and fc == p["input_dims"][3]):
            if (kh, kw) == (1, 1) and tuple(p["padding"]) == (0, 0) and p.get("fold") is None:
                kind = "1x1"
            elif (kh, kw) != (1, 1) and tuple(p["dilation"]) == (1, 1) and kh * kw * fc <= KXK_WINDOW:
                kind = "kxk"
        if kind is not None:
            w = self.input(1).array().reshape(cout, -1)
            bias = self.input(2).array() if self.input(2) is not None else None
            mve = self.ctx.target in MVE_TARGETS
            fast = window_constants(w, bias, p["input_offset"], self.ctx.consts[p["mult"]].values,
                                    self.ctx.consts[p["shift"]].values, natural=mve)
            if fast is not None:
                use_bounded_requantization(self, w, bias)
        p["fast_kernel"] = kind if fast is not None else None
        if fast is None:
            p["filter"] = self.ctx.tensor_const(self.op.inputs[1], "int8_t", "filter")
            p["bias"] = (self.ctx.tensor_const(self.op.inputs[2], p["bias_ctype"], "bias")
                         if self.input(2) is not None else None)
            return conv_call(self, depthwise=False)
        i = self.index
        kernel = f"convolve_{kind}_mve_s8" if mve else f"convolve_{kind}_s8"
        size = "1x1" if kind == "1x1" else f"{kh}x{kw}"
        p["filter"] = self.ctx.add_const("filter", "int8_t", fast[0], f"layer {i} {size} filter" if mve
                                         else f"layer {i} {size} filter in edgeq_{kernel}'s read order")
        p["bias"] = self.ctx.add_const("bias", "int32_t", fast[1], f"layer {i} bias + input offset x weight sums")
        return conv_call(self, depthwise=False).replace(kernel=kernel)

    @property
    def sources(self) -> tuple[str, ...]:
        if self.params.get("int16"):
            return ("edgeq_convolve_s16.c",)
        if self.params.get("shallow"):
            return ("edgeq_convolve_shallow_s8.c",)
        kind = self.params.get("fast_kernel")
        if kind == "kxk":
            return ("edgeq_convolve_kxk_mve_s8.c" if self.ctx.target in MVE_TARGETS else "edgeq_convolve_kxk_s8.c",
                    "edgeq_convolve_1x1_s8.c")
        return ("edgeq_convolve_1x1_s8.c",) if kind == "1x1" else self.SOURCES

    def kernel_name(self) -> str:
        """The general kernel's name even when the 1x1 one runs: what the cmsis-nn backend maps and the cost
        tables of edgeq analyze are keyed by."""
        return "convolve_wrapper_s16" if self.params.get("int16") else "convolve_wrapper_s8"

    def working_bytes(self) -> int:
        """The kernel scratch edgeq_convolve_1x1_s8 / edgeq_convolve_kxk_s8 (or their Helium twins) work in:
        :func:`conv_working_bytes` for this target's build; for a target whose build may or may not have the DSP
        extension (generic), the larger of the two. 0 for every other kernel."""
        kind = self.params.get("fast_kernel")
        if kind is None or self.params.get("shallow"):
            return 0
        cout, kh, kw, cin = self.params["filter_dims"]
        return target_working_bytes(self.ctx.target, kind, kh, kw, cin, cout)

    def scratch_bytes(self) -> int:
        return self.working_bytes()

    def inplace_methods(self) -> dict[str, int]:
        """The delay ring of the 1x1 / KxK kernels sits in ctx->buf after their working buffers and the output stage
        (edgeq_nn.h), so the block they need in place is all three."""
        methods = super().inplace_methods()
        kind = self.params.get("fast_kernel")
        if "ring" in methods and kind and not self.params.get("shallow"):
            delay = methods["ring"]
            cout, _, _, cin = self.params["filter_dims"]
            if (kind == "1x1" and self.ctx.target in DSP_TARGETS and self.ctx.target not in MVE_TARGETS
                    and cin <= LANES_1X1 and cout <= cin):
                delay = 0  # the lane core writes straight over its input (edgeq_convolve_1x1_s8.c): no stage, no ring
            methods["ring"] = fast_ring_bytes(self.working_bytes(), cout, delay)
        return methods

    def window_channels(self):
        cout = self.params["output_dims"][3]
        fc = self.params["filter_dims"][3]
        groups = self.params["input_dims"][3] // fc
        co = np.arange(cout)
        return co - (co // (cout // groups)) * fc
