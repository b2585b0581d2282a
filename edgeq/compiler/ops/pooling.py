"""AVERAGE_POOL_2D / MAX_POOL_2D (int8) -> edgeq_avgpool_s8 / edgeq_max_pool_s8 (arm_avgpool_s8 / arm_max_pool_s8);
int16 -> edgeq_avgpool_s16 / edgeq_max_pool_s16 (TFLM's int16 reference_integer_ops::AveragePool / MaxPool: the same
int32 sum and rounding division; never in place), all four from one body in edgeq_pooling.c.
Parameters as TFLM's pooling_common.cc: ComputePaddingHeightWidth (dilation 1), the fused activation clamp; input and
output quantization must be equal (TFLM checks it too). In place through the same delay ring as the convolutions
(a global average pool needs none). A MAX_POOL_2D may have a PAD folded into it where that is exact
(edgeq.compiler.ops.pad.max_pool_exact): it then reads the PAD's input with the PAD's top/left amounts added to its
leading padding, and skips the cells past the input's end."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.cparams import CONTEXT, Activation, Dims, KernelCall, PoolParams, TensorRef, Tile
from edgeq.compiler.cparams import out_ref
from edgeq.compiler.ops._int16 import CTYPE, QRANGE, SUFFIX, act_dtype, activation
from edgeq.compiler.ops.conv import WindowLayer
from edgeq.quant import fixedpoint as fp
from edgeq.quant.reference_ops import compute_out_size, compute_padding


class _Pool(WindowLayer):
    SOURCES = ("edgeq_pooling.c",)  # both pools, int8 and int16 (one body)
    KERNEL = ""

    def prepare(self) -> KernelCall:
        dt = self.params["dtype"] = act_dtype(self)
        fold = self.params.get("fold")  # a PAD folded into a MAX_POOL_2D (edgeq.compiler.ops.pad.max_pool_exact)
        if fold is not None:
            self.params["input_tensor"] = fold.source
        x = activation(self, self.tensor(self.data_input), "input", dt)
        out = activation(self, self.output(), "output", dt)
        self.require_rank(x, (4,), "input")
        self.require_rank(out, (4,), "output")
        if x.zero_point != out.zero_point or abs(x.scale - out.scale) > 1e-6:
            raise self.unsupported("input and output quantization differ (TFLM requires them equal)")
        o = self.op.options
        act = o.get("fused_activation_function", "NONE")
        if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise self.unsupported(f"fused activation {act}")
        padding = o.get("padding", "SAME")
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        fh, fw = int(o.get("filter_height", 1)), int(o.get("filter_width", 1))
        if min(sh, sw, fh, fw) < 1 or padding not in ("SAME", "VALID"):
            raise self.unsupported(f"pool {fh}x{fw} stride {sh}x{sw} padding {padding}")
        n, h, w, c = x.shape
        top, left, bottom, right = (fold.top, fold.left, fold.bottom, fold.right) if fold is not None else (0, 0, 0, 0)
        ph, pw = h + top + bottom, w + left + right  # the shape the op sees (padded when a PAD was folded)
        exp = (n, compute_out_size(padding, ph, fh, sh), compute_out_size(padding, pw, fw, sw), c)
        if tuple(out.shape) != exp:
            raise self.unsupported(f"output shape {list(out.shape)} does not follow from input {list(x.shape)}")
        act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point, *QRANGE[dt])
        self.params.update(input_dims=tuple(x.shape), output_dims=tuple(out.shape), filter=(fh, fw),
                           stride=(sw, sh), padding=(compute_padding(sw, 1, pw, fw, out.shape[2]) + left,
                                                     compute_padding(sh, 1, ph, fh, out.shape[1]) + top),
                           act_min=act_min, act_max=act_max)
        p = self.params
        ct = CTYPE[dt]
        return KernelCall.make(
            f"{self.KERNEL}_{SUFFIX[dt]}", status=True, ctx=CONTEXT,
            pool_params=PoolParams(stride=Tile(*p["stride"]), padding=Tile(*p["padding"]),
                                   activation=Activation(act_min, act_max)),
            input_dims=Dims(*x.shape), input_data=TensorRef(self.data_input, ct),
            filter_dims=Dims(1, fh, fw, c), output_dims=Dims(*out.shape), output_data=out_ref(self.op.outputs[0], ct))

    def inplace_candidates(self) -> list[int]:
        # the delay ring of the in-place window kernels holds int8 elements
        return [] if act_dtype(self) == "int16" else super().inplace_candidates()

    def window_channels(self):
        p = self.params
        c = p["input_dims"][3]
        p.setdefault("filter_dims", (1, p["filter"][0], p["filter"][1], c))  # what window_delay reads
        p.setdefault("dilation", (1, 1))
        return np.zeros(c, dtype=np.int64)  # each output channel reads its own input channel


class AveragePool2D(_Pool):
    OPS = ("AVERAGE_POOL_2D",)
    KERNEL = "avgpool"


class MaxPool2D(_Pool):
    OPS = ("MAX_POOL_2D",)
    KERNEL = "max_pool"
