"""TRANSPOSE_CONV (int8, per-channel int8 weights [C_OUT, KH, KW, C_IN], optional int32 bias) ->
edgeq_transpose_conv_s8. Parameters as TFLM's transpose_conv.cc: padding from ComputePaddingHeightWidth on the
*output* size (dilation 1), PopulateConvolutionQuantizationParams' per-channel multipliers, the fused activation
range. The kernel gathers, per output element, the input pixels TFLM's reference scatters into it: the same int32
sums without TFLM's int32 scratch of the output's size. int16x8 (int16 activations, zero points 0, int64 bias, or
int16 bias that TFLM widens to int64) -> edgeq_transpose_conv_s16: TFLM's int16 TransposeConv, int64 sums and the
int64 MultiplyByQuantizedMultiplier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeq.compiler.cparams import ConstRef, CStruct, Dims, KernelCall, PerChannelQuantParams, TensorRef, out_ref
from edgeq.compiler.ops._int16 import QRANGE
from edgeq.compiler.ops.base import Layer
from edgeq.compiler.ops.conv import check_accumulator_s16, check_int16_bias, check_int16_zero_points, check_s64_shifts
from edgeq.quant import fixedpoint as fp
from edgeq.quant.reference_ops import compute_out_size, compute_padding


@dataclass(frozen=True)
class TransposeConvParams(CStruct):
    """edgeq_transpose_conv_params (edgeq_nn.h)."""

    C_TYPE: ClassVar[str] = "transpose_conv_params"
    stride_h: int
    stride_w: int
    pad_h: int
    pad_w: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int


class TransposeConv(Layer):
    OPS = ("TRANSPOSE_CONV",)
    SOURCES = ("edgeq_convolve_s8.c",)

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(2), "input", ("int8", "int16"))
        w = self.require_const(self.require_int8(self.input(1), "filter"), "filter")
        out = self.require_activation(self.output(), "output", (x.dtype,))
        bias = self.input(3)
        int16 = self.params["int16"] = x.dtype == "int16"
        for t, what in ((x, "input"), (w, "filter"), (out, "output")):
            self.require_rank(t, (4,), what)
        if any(z != 0 for z in w.quant.zero_point):
            raise self.unsupported("filter with a non-zero zero point")
        if bias is not None:
            self.require_const(bias, "bias")
            if int16:  # TFLM reads int64, or int16 that it widens to int64
                check_int16_bias(self, bias, ("int64", "int16"))
            elif bias.dtype != "int32":
                raise self.unsupported(f"bias is {bias.dtype}; int8 TRANSPOSE_CONV needs int32 bias")
        if int16:
            check_int16_zero_points(self, x, out)
        o = self.op.options
        padding = o.get("padding", "SAME")
        if padding not in ("SAME", "VALID"):
            raise self.unsupported(f"padding {padding}")
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        if min(sh, sw) < 1:
            raise self.unsupported(f"stride {sh}x{sw}")
        n, h, wd, cin = x.shape
        cout, kh, kw, kc = w.shape
        on, oh, ow, oc = out.shape
        if kc != cin or oc != cout or on != n:
            raise self.unsupported(f"filter {list(w.shape)} does not map input {list(x.shape)} to {list(out.shape)}")
        # TFLM: the padding of the convolution this op transposes, computed from the output size
        pad_h = compute_padding(sh, 1, oh, kh, compute_out_size(padding, oh, kh, sh))
        pad_w = compute_padding(sw, 1, ow, kw, compute_out_size(padding, ow, kw, sw))
        scales = w.quant.scales()
        if len(scales) not in (1, cout) or (len(scales) > 1 and w.quant.axis != 0):
            raise self.unsupported(f"filter scales ({len(scales)}, axis {w.quant.axis}) for {cout} output channels")
        mults, shifts = fp.conv_multipliers(x.scale, scales, out.scale)
        if len(mults) == 1:
            mults, shifts = mults.repeat(cout), shifts.repeat(cout)
        act = o.get("fused_activation_function", "NONE")
        if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise self.unsupported(f"fused activation {act}")
        act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point,
                                                                   *QRANGE[x.dtype])
        if int16:
            # an output sums products of a subset of its channel's weights with |x| <= 2^15
            check_accumulator_s16(self, np.abs(w.array().astype(np.int64)).reshape(cout, -1).sum(axis=1), bias, cout)
            check_s64_shifts(self, shifts)
        i = self.index
        self.params.update(
            tc=dict(stride_h=sh, stride_w=sw, pad_h=pad_h, pad_w=pad_w, input_offset=-x.zero_point,
                    output_offset=out.zero_point, act_min=act_min, act_max=act_max),
            input_dims=(n, h, wd, cin), filter_dims=(cout, kh, kw, kc), output_dims=(on, oh, ow, oc),
            filter=self.ctx.tensor_const(self.op.inputs[1], "int8_t", "filter"),
            bias=(self.ctx.tensor_const(self.op.inputs[3], "int64_t" if int16 else "int32_t", "bias")
                  if bias is not None else None),
            mult=self.ctx.add_const("mult", "int32_t", mults, f"layer {i} per-channel multipliers"),
            shift=self.ctx.add_const("shift", "int32_t", shifts, f"layer {i} per-channel shifts"))
        return self._call()

    def reads(self) -> list[int]:
        return [self.op.inputs[2]]

    def _call(self) -> KernelCall:
        p = self.params
        act, bias_t = ("int16_t", "int64_t") if p["int16"] else ("int8_t", "int32_t")
        return KernelCall.make(
            f"transpose_conv_{'s16' if p['int16'] else 's8'}", status=True, tc_params=TransposeConvParams(**p["tc"]),
            quant_params=PerChannelQuantParams(multiplier=ConstRef(p["mult"], "int32_t"),
                                               shift=ConstRef(p["shift"], "int32_t")),
            input_dims=Dims(*p["input_dims"]), input=TensorRef(self.op.inputs[2], act),
            filter_dims=Dims(*p["filter_dims"]), filter=ConstRef(p["filter"]), bias=ConstRef(p["bias"], bias_t),
            output_dims=Dims(*p["output_dims"]), output=out_ref(self.op.outputs[0], act))

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_convolve_s16.c",) if self.params.get("int16") else self.SOURCES
