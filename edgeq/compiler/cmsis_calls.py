"""CMSIS-NN calls for the kernels whose CMSIS-NN twin takes other arguments than edgeq's portable kernel.

The convolution, pooling, FC, ADD/MUL and softmax kernels mirror CMSIS-NN's signatures, so the cmsis-nn backend only
swaps their names (:data:`edgeq.compiler.backend_cmsis.CMSIS_FUNCS`). The ops added later have portable kernels with
their own, simpler argument lists; for those this module renders the call TFLM's cmsis_nn kernels make
(tensorflow/lite/micro/kernels/cmsis_nn/*.cc), from the same parameters the layer's ``prepare()`` computed:

========================  ==================  ========================================================================
op                        CMSIS-NN function   when (else edgeq's portable kernel, in the same model)
========================  ==================  ========================================================================
MAXIMUM / MINIMUM         arm_maximum_s8 /    always (<= 4-D, as the layer); TFLM's EvalMaximum/EvalMinimum for int8
                          arm_minimum_s8
TRANSPOSE                 arm_transpose_s8    rank <= 4 (TFLM's TransposeEvalInt8 refuses more; edgeq keeps its
                                              6-D strided copy there)
BATCH_MATMUL              arm_batch_matmul_s8 rank <= 4, no adj_x, and the RHS either given transposed (adj_y) or a
                                              constant, which edgeq transposes at compile time (TFLM transposes it
                                              into a scratch buffer at every invoke); 4*N bytes of scratch on MVE
TRANSPOSE_CONV            arm_transpose_conv  always; its two buffers (the ctx and the reversed filter) in the layer's
                          _wrapper_s8         one scratch block, sized by the mirrored getters of cmsis_nn.py
MAX_POOL_2D int16         arm_max_pool_s16    always (its arguments are edgeq_max_pool_s16's, named src / dst)
PAD, PADV2 int8           arm_pad_s8          not folded into a convolution (edgeq_pad's arguments without the
                                              element size)
CONV_2D int16             arm_convolve_       not grouped, KH x KW x C_IN <= 512 on DSP cores, and no int32
                          wrapper_s16         intermediate of CMSIS-NN's can wrap (see "int16x8 CONV_2D" below)
DEPTHWISE_CONV_2D int16   arm_depthwise_conv  no int32 intermediate can wrap
                          _wrapper_s16
FULLY_CONNECTED int16     arm_fully_connected per-tensor weights, int64 bias, zero points 0, no int32 intermediate
                          _s16                can wrap
========================  ==================  ========================================================================

Each mapping is bit-exact with TFLM: data movement
and comparisons by construction, BATCH_MATMUL because the int32 sums are the same and arm_nn_requantize is TFLM's
double-rounding MultiplyByQuantizedMultiplier (tests/test_compiler_cmsis_nn.py compares with the TFLM interpreter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from edgeq.compiler import cmsis_nn as cn
from edgeq.compiler.cparams import (CONTEXT, Activation, Arg, CArray, CLiteral, ConstRef, Context, CStruct, Dims,
                                    FcParams, KernelCall, PerChannelQuantParams, PerTensorQuantParams, TensorRef, Tile,
                                    out_ref)
from edgeq.compiler.names import layer_c_name
from edgeq.compiler.ops.base import Layer
from edgeq.compiler.ops.elementwise import operand_ref


# ---- CMSIS-NN's own structs (arm_nn_types.h) for these calls ---------------------------------------------------------


@dataclass(frozen=True)
class TransposeParams(CStruct):
    C_TYPE: ClassVar[str] = "transpose_params"
    num_dims: int
    permutations: CLiteral  # a local uint32_t array


@dataclass(frozen=True)
class BmmParams(CStruct):
    C_TYPE: ClassVar[str] = "bmm_params"
    adj_x: bool
    adj_y: bool
    fc_params: FcParams


@dataclass(frozen=True)
class TransposeConvParams(CStruct):
    C_TYPE: ClassVar[str] = "transpose_conv_params"
    input_offset: int
    output_offset: int
    stride: Tile
    padding: Tile
    padding_offsets: Tile
    dilation: Tile
    activation: Activation


# ---- MAXIMUM / MINIMUM -----------------------------------------------------------------------------------------------


def _max_min_ok(layer: Layer, arch: str) -> bool:
    return all(len(layer.tensor(t).shape) <= 4 for t in (*layer.op.inputs, *layer.op.outputs))


def _max_min_call(layer: Layer, arch: str) -> KernelCall:
    a, b = layer.op.inputs[0], layer.op.inputs[1]
    return KernelCall.make(
        "maximum_s8" if layer.opcode == "MAXIMUM" else "minimum_s8", status=True, ctx=CONTEXT,
        input_1_data=operand_ref(layer, a), input_1_dims=Dims.of(layer.tensor(a).shape),
        input_2_data=operand_ref(layer, b), input_2_dims=Dims.of(layer.tensor(b).shape),
        output_data=out_ref(layer.op.outputs[0]), output_dims=Dims.of(layer.output().shape))


# ---- TRANSPOSE -------------------------------------------------------------------------------------------------------


def _perm(layer: Layer) -> list[int]:
    rank = len(layer.input(0).shape)
    perm = [int(v) for v in layer.input(1).array().reshape(-1)]
    return [p + rank if p < 0 else p for p in perm]


def _transpose_ok(layer: Layer, arch: str) -> bool:
    return 1 <= len(layer.input(0).shape) <= 4 and bool(layer.params.get("copies"))


def _transpose_call(layer: Layer, arch: str) -> KernelCall:
    # arm_transpose_s8 reads the shape from the first num_dims fields (TFLM passes DimsData()[0..3])
    shape = [int(d) for d in layer.input(0).shape]
    out = [int(d) for d in layer.output().shape]
    n = len(shape)
    return KernelCall.make(
        "transpose_s8", status=True, locals={"perm": CArray("uint32_t", tuple(_perm(layer)))},
        input_data=operand_ref(layer, layer.op.inputs[0]), output_data=out_ref(layer.op.outputs[0]),
        input_dims=Dims(*(shape + [1] * (4 - n))), output_dims=Dims(*(out + [1] * (4 - n))),
        transpose_params=TransposeParams(num_dims=n, permutations=CLiteral("perm")))


# ---- BATCH_MATMUL ----------------------------------------------------------------------------------------------------


def _bmm_ok(layer: Layer, arch: str) -> bool:
    a, b = layer.input(0), layer.input(1)
    if len(a.shape) > 4 or len(b.shape) > 4 or len(layer.output().shape) > 4:
        return False
    if layer.op.options.get("adj_x"):
        return False
    return bool(layer.op.options.get("adj_y")) or b.is_constant


def _rhs_transposed(layer: Layer) -> str:
    """The constant RHS as [..., N, K] (what arm_batch_matmul_s8 reads), registered once per layer."""
    if "rhs_t" not in layer.params:
        b = layer.input(1)
        arr = b.array()
        if not layer.op.options.get("adj_y"):
            arr = np.swapaxes(arr, -1, -2)
        # read by plain pointer in CMSIS-NN, so RAM-addressable (never AVR flash; CMSIS-NN needs a 32-bit target)
        layer.params["rhs_t"] = layer.ctx.add_const(
            "rhs_t", "int8_t", arr, f"layer {layer.index} BATCH_MATMUL rhs {list(arr.shape)} (transposed for "
                                    f"arm_batch_matmul_s8)", flash=False, owner=layer_c_name(layer.opcode, layer.index))
    return layer.params["rhs_t"]


def _bmm_dims(shape, rows_cols) -> list[int]:
    """A [.., rows, K] operand as cmsis_nn_dims {batch, height, rows, K} (batch dims padded in front)."""
    batch = [int(d) for d in shape[:-2]]
    batch = [1] * (2 - len(batch)) + batch
    return batch + list(rows_cols)


def _bmm_call(layer: Layer, arch: str) -> KernelCall:
    p = layer.params["bmm"]
    a, b, out = layer.input(0), layer.input(1), layer.output()
    m, k, n = p.rows, p.depth, p.cols
    rhs = ConstRef(_rhs_transposed(layer)) if b.is_constant else operand_ref(layer, layer.op.inputs[1])
    out_batch = [int(d) for d in out.shape[:-2]]
    out_batch = [1] * (2 - len(out_batch)) + out_batch
    return KernelCall.make(
        "batch_matmul_s8", status=True, ctx=CONTEXT if arch == "mve" else Context(buf=None, size=0),
        bmm_params=BmmParams(adj_x=bool(layer.op.options.get("adj_x")), adj_y=bool(layer.op.options.get("adj_y")),
                             fc_params=FcParams(input_offset=p.lhs_offset, filter_offset=p.rhs_offset,
                                                output_offset=p.output_offset, activation=Activation(-128, 127))),
        quant_params=PerTensorQuantParams(multiplier=p.mult, shift=p.shift),
        input_lhs_dims=Dims(*_bmm_dims(a.shape, (m, k))), input_lhs=operand_ref(layer, layer.op.inputs[0]),
        input_rhs_dims=Dims(*_bmm_dims(b.shape, (n, k))), input_rhs=rhs,
        output_dims=Dims(*(out_batch + [m, n])), output=out_ref(layer.op.outputs[0]))


def _bmm_setup(layer: Layer) -> None:
    """A constant RHS is read only in its transposed copy: the portable kernel's array of it is released."""
    if layer.input(1).is_constant:
        name = _rhs_transposed(layer)
        idx = layer.op.inputs[1]
        if idx in layer.params.get("const_operands", {}):
            del layer.params["const_operands"][idx]
            layer.ctx.release_tensor_const(idx, "int8_t")
        layer.const_names = tuple(n for n in layer.const_names if n in layer.ctx.consts) + (name,)


def _bmm_scratch(layer: Layer, arch: str) -> int:
    # MVE: arm_vector_sum_s8 of the RHS into ctx.buf (N int32); the scalar and DSP paths read no buffer
    return 4 * layer.params["bmm"].cols if arch == "mve" else 0


# ---- TRANSPOSE_CONV --------------------------------------------------------------------------------------------------


def _tconv_dims(layer: Layer) -> tuple[cn.Tile, cn.Dims, cn.Dims, cn.Dims]:
    p = layer.params
    return (cn.Tile(p["tc"]["stride_w"], p["tc"]["stride_h"]), cn.Dims(*p["input_dims"]), cn.Dims(*p["filter_dims"]),
            cn.Dims(*p["output_dims"]))


def _tconv_buffers(layer: Layer, arch: str) -> tuple[int, int]:
    """(ctx bytes rounded up to 4, reversed-filter bytes): both in the layer's one scratch block."""
    stride, inp, flt, out = _tconv_dims(layer)
    main = cn.transpose_conv_s8_buffer_size(arch, stride, inp, flt, out)
    return (main + 3) // 4 * 4, cn.transpose_conv_s8_reverse_conv_buffer_size(stride, inp, flt)


def _tconv_ok(layer: Layer, arch: str) -> bool:
    return True


def _tconv_scratch(layer: Layer, arch: str) -> int:
    main, reverse = _tconv_buffers(layer, arch)
    return max(4, main + reverse)  # the wrapper refuses a NULL ctx.buf


def _tconv_offsets(layer: Layer) -> tuple[int, int]:
    """TFLM's padding_offsets (padding + the odd part of the total padding; ComputePaddingHeightWidth)."""
    from edgeq.quant.reference_ops import compute_out_size

    p, o = layer.params, layer.op.options
    _, oh, ow, _ = p["output_dims"]
    _, kh, kw, _ = p["filter_dims"]
    sh, sw = p["tc"]["stride_h"], p["tc"]["stride_w"]
    padding = o.get("padding", "SAME")
    out = []
    for stride, size, k in ((sh, oh, kh), (sw, ow, kw)):
        total = max(0, (compute_out_size(padding, size, k, stride) - 1) * stride + k - size)
        out.append(total // 2 + total % 2)
    return out[0], out[1]


def _tconv_call(layer: Layer, arch: str) -> KernelCall:
    p, tc = layer.params, layer.params["tc"]
    main, reverse = _tconv_buffers(layer, arch)
    off_h, off_w = _tconv_offsets(layer)
    return KernelCall.make(
        "transpose_conv_wrapper_s8", status=True, ctx=CONTEXT,
        output_ctx=Context(buf=CLiteral(f"(int8_t *)ctx.buf + {main}"), size=reverse),  # the reverse conv's buffer
        transpose_conv_params=TransposeConvParams(
            input_offset=tc["input_offset"], output_offset=tc["output_offset"],
            stride=Tile(tc["stride_w"], tc["stride_h"]), padding=Tile(tc["pad_w"], tc["pad_h"]),
            padding_offsets=Tile(off_w, off_h), dilation=Tile(1, 1),
            activation=Activation(tc["act_min"], tc["act_max"])),
        quant_params=PerChannelQuantParams(multiplier=ConstRef(p["mult"], "int32_t"),
                                           shift=ConstRef(p["shift"], "int32_t")),
        input_dims=Dims(*p["input_dims"]), input_data=TensorRef(layer.op.inputs[2]),
        filter_dims=Dims(*p["filter_dims"]), filter_data=ConstRef(p["filter"]),
        bias_dims=Dims(1, 1, 1, p["output_dims"][3]), bias_data=ConstRef(p["bias"], "int32_t"),
        output_dims=Dims(*p["output_dims"]), output_data=out_ref(layer.op.outputs[0]))


# ---- MAX_POOL_2D int16 ------------------------------------------------------------------------------------------------


def _max_pool_s16_call(layer: Layer, arch: str) -> KernelCall:
    """arm_max_pool_s16 takes edgeq_max_pool_s16's arguments under other names (src / dst)."""
    c = layer.calls[0]
    return KernelCall.make("max_pool_s16", status=True, ctx=CONTEXT, pool_params=c.arg("pool_params"),
                           input_dims=c.arg("input_dims"), src=c.arg("input_data"), filter_dims=c.arg("filter_dims"),
                           output_dims=c.arg("output_dims"), dst=c.arg("output_data"))


# ---- PAD / PADV2 -----------------------------------------------------------------------------------------------------


def _pad_ok(layer: Layer, arch: str) -> bool:
    return layer.params.get("folded_into") is None and layer.calls[0].arg("elem_size") == 1


def _pad_call(layer: Layer, arch: str) -> KernelCall:
    """arm_pad_s8 takes edgeq_pad's arguments but the last (the element size: int8 here)."""
    c = layer.calls[0]
    return c.replace(kernel="pad_s8", args=tuple(a for a in c.args if a.name != "elem_size"))


# ---- int16x8 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED ------------------------------------------------------
#
# CMSIS-NN's int16 kernels sum the products in int32 (SMLAD) before widening to int64, drop the zero points, and
# requantize with arm_nn_requantize_s64: the value shifted right by 14 - shift, truncated to int32, then
# (v + 1) >> 1. TFLM's int64 MultiplyByQuantizedMultiplier adds 2^(14 - shift) and shifts by 15 - shift in int64:
# the same floor((v / 2^(14 - shift) + 1) / 2) while the intermediate fits in int32. So a layer maps only where
# edgeq proves, from its constants, that nothing can wrap: |sum of products| <= 2^15 sum|w| <= INT32_MAX (which also
# covers the scalar leftover-pixel path that sums every column in int32) and
# (|acc| x reduced multiplier) >> (14 - shift) + 1 < 2^31 - 1 for every channel. arm_convolve_s16 also needs a
# plain (not grouped) convolution, and on DSP cores at most MAX_COL_COUNT (512) taps x input channels: past 512 its
# DSP path for an odd last output channel counts num_col_a & 3 extra columns (arm_nn_mat_mult_kernel_s16.c,
# benchmarks/cmsis_s16_mismatch.py); the scalar and MVE paths (arm_nn_mat_mult_nt_t_s16) count right.

CMSIS_MAX_COL_COUNT = 512


def _reduced_multiplier(m: int) -> int:
    """CMSIS-NN's REDUCE_MULTIPLIER (TFLM's int64 MultiplyByQuantizedMultiplier reduces the same way)."""
    return (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF


def _s16_requantization_exact(layer: Layer, abs_sums, bias_abs) -> bool:
    """The int32 partial sums and arm_nn_requantize_s64's int32 intermediate cannot wrap for any int16 input."""
    p = layer.params
    consts = layer.ctx.consts
    mults = [int(m) for m in consts[p["mult"]].values] if isinstance(p["mult"], str) else [int(p["mult"])]
    shifts = [int(s) for s in consts[p["shift"]].values] if isinstance(p["shift"], str) else [int(p["shift"])]
    n = len(abs_sums)
    if len(mults) == 1:
        mults, shifts = mults * n, shifts * n
    for c in range(n):
        products = (1 << 15) * int(abs_sums[c])
        acc = products + int(bias_abs[c])
        if products > (1 << 31) - 1 or shifts[c] > 14:
            return False
        if ((acc * _reduced_multiplier(mults[c])) >> (14 - shifts[c])) + 1 >= (1 << 31) - 1:
            return False
    return True


def _s16_bounds(layer: Layer, depthwise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel: sum |w| and |bias|."""
    w = np.abs(layer.input(1).array().astype(np.int64))
    sums = w.reshape(-1, w.shape[-1]).sum(axis=0) if depthwise else w.reshape(w.shape[0], -1).sum(axis=1)
    bias = layer.input(2)
    b = np.abs(bias.array().astype(np.int64).reshape(-1)) if bias is not None else np.zeros(len(sums), np.int64)
    return sums, b


#: the CMSIS-NN code paths on which the int16 convolutions and FC have been checked against TFLM (host, qemu-m4,
#: qemu-m55)
S16_ARCHES = ("scalar", "dsp", "mve")


def _conv_s16_ok(layer: Layer, arch: str) -> bool:
    p = layer.params
    _, kh, kw, fc = p["filter_dims"]
    if arch not in S16_ARCHES or fc != p["input_dims"][3]:
        return False
    if arch == "dsp" and kh * kw * fc > CMSIS_MAX_COL_COUNT:
        return False  # the DSP path's odd-channel bug past 512 columns (the scalar and MVE paths count right)
    return _s16_requantization_exact(layer, *_s16_bounds(layer, depthwise=False))


def _conv_s16_scratch(layer: Layer, arch: str) -> int:
    # arm_convolve_wrapper_s16_get_buffer_size (scalar and DSP): two im2col columns of int16; MVE: four, each
    # rounded up to 8 values; never 0 (a NULL buffer is refused)
    _, kh, kw, fc = layer.params["filter_dims"]
    if arch == "mve":
        return 4 * ((fc * kw * kh + 7) // 8) * 8 * 2
    return 2 * fc * kw * kh * 2


def _dw_s16_ok(layer: Layer, arch: str) -> bool:
    return arch in S16_ARCHES and _s16_requantization_exact(layer, *_s16_bounds(layer, depthwise=True))


def _dw_s16_scratch(layer: Layer, arch: str) -> int:
    # arm_depthwise_conv_wrapper_s16_get_buffer_size_dsp: the fast path's im2col column (ch_mult 1, no dilation,
    # fewer than 512 taps) on DSP; the scalar path reads none
    p = layer.params
    _, kh, kw, _ = p["filter_dims"]
    fast = p["ch_mult"] == 1 and tuple(p["dilation"]) == (1, 1) and kh * kw < CMSIS_MAX_COL_COUNT
    if not fast or arch == "scalar":
        return 0
    return p["input_dims"][3] * kw * kh * 2 * (4 if arch == "mve" else 1) + (8 if arch == "mve" else 0)


def _fc_s16_ok(layer: Layer, arch: str) -> bool:
    p = layer.params
    bias = layer.input(2)
    if (arch not in S16_ARCHES or p["per_channel"] or p["input_offset"] != 0 or p["output_offset"] != 0
            or (bias is not None and bias.dtype != "int64")):
        return False  # arm_fully_connected_s16: per-tensor quantization, no zero points, int64 bias
    return _s16_requantization_exact(layer, *_s16_bounds(layer, depthwise=False))


def _fc_s16_call(layer: Layer, arch: str) -> KernelCall:
    """arm_fully_connected_s16 takes edgeq_fully_connected_s16's arguments under its own names (one of which is
    ``kernel``, KernelCall.make's own first parameter: the call is built directly)."""
    names = {"input_data": "input", "filter_data": "kernel", "bias_data": "bias", "output_data": "output"}
    c = layer.calls[0]
    args = tuple(Arg(names.get(a.name, a.name), a.value.data if a.name == "bias_data" else a.value) for a in c.args)
    return KernelCall(c.kernel, c.returns_status, args)  # the bias: its int64 array (BiasData.data)


# ---- the table the backend reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CmsisCall:
    """How one edgeq kernel runs on CMSIS-NN: the function, when it applies, the call, the scratch it needs."""

    function: str
    applies: Callable[[Layer, str], bool]
    render: Callable[[Layer, str], KernelCall]
    scratch: Callable[[Layer, str], int] = lambda layer, arch: 0
    #: registers the constant data the call reads (before model_data.c is written), once the layer is mapped
    setup: Callable[[Layer], None] = lambda layer: None


#: edgeq kernel name (Layer.kernel_name()) -> its CMSIS-NN call
CMSIS_CALLS: dict[str, CmsisCall] = {
    "maximum_s8": CmsisCall("arm_maximum_s8", _max_min_ok, _max_min_call),
    "minimum_s8": CmsisCall("arm_minimum_s8", _max_min_ok, _max_min_call),
    "batch_matmul_s8": CmsisCall("arm_batch_matmul_s8", _bmm_ok, _bmm_call, _bmm_scratch, _bmm_setup),
    "transpose_conv_s8": CmsisCall("arm_transpose_conv_wrapper_s8", _tconv_ok, _tconv_call, _tconv_scratch),
    "max_pool_s16": CmsisCall("arm_max_pool_s16", lambda layer, arch: True, _max_pool_s16_call),
    "pad": CmsisCall("arm_pad_s8", _pad_ok, _pad_call),
    "convolve_wrapper_s16": CmsisCall("arm_convolve_wrapper_s16", _conv_s16_ok, lambda layer, arch: layer.calls[0],
                                      _conv_s16_scratch),
    "depthwise_conv_wrapper_s16": CmsisCall("arm_depthwise_conv_wrapper_s16", _dw_s16_ok,
                                            lambda layer, arch: layer.calls[0], _dw_s16_scratch),
    "fully_connected_s16": CmsisCall("arm_fully_connected_s16", _fc_s16_ok, _fc_s16_call),
}


def transpose_call(layer: Layer) -> CmsisCall | None:
    """TRANSPOSE shares edgeq's strided-copy kernel with the other data-movement ops: it is told apart by opcode."""
    if layer.opcode != "TRANSPOSE" or layer.kernel_name() != "strided_copy":
        return None
    if layer.calls[0].arg("elem_size") != 1:  # int16: edgeq's strided copy
        return None
    return CmsisCall("arm_transpose_s8", _transpose_ok, _transpose_call)


def call_for(layer: Layer) -> CmsisCall | None:
    """The CMSIS-NN call for ``layer`` (before checking that it applies), or None."""
    return transpose_call(layer) or CMSIS_CALLS.get(layer.kernel_name())
