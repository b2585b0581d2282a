"""FULLY_CONNECTED (int8 in/out, int8 weights per tensor or per channel, int32 bias) -> edgeq_fully_connected_s8 /
edgeq_fully_connected_per_channel_s8 (arm_fully_connected_s8 / arm_fully_connected_per_channel_s8).

Parameters as TFLM's CalculateOpDataFullyConnected: the multiplier(s) from edgeq.quant.fixedpoint
.fully_connected_multipliers, the clamp from calculate_activation_range_quantized, input_offset = -zp_in,
filter_offset = 0 (symmetric weights), output_offset = zp_out. Dims as TFLM's CMSIS-NN glue: input n = batches,
filter n = accumulation depth, c = output depth.

int16x8 (int16 input/output, int8 weights, int64 or int32 bias) -> edgeq_fully_connected_s16 /
edgeq_fully_connected_per_channel_s16: TFLM's FullyConnected(PerChannel) with an int64 accumulator (int32 with an
int32 bias, as TFLM).
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.compiler.cparams import (CONTEXT, Activation, BiasData, ConstRef, Dims, FcParams, KernelCall,
                                    PerChannelQuantParams, PerTensorQuantParams, TensorRef)
from edgeq.compiler.cparams import out_ref
from edgeq.compiler.ops.base import Layer, check_accumulator
from edgeq.compiler.ops._int16 import QRANGE
from edgeq.compiler.ops.conv import check_accumulator_s16, check_int16_bias, check_s64_shifts
from edgeq.quant import fixedpoint as fp


class FullyConnected(Layer):
    OPS = ("FULLY_CONNECTED",)
    SOURCES = ("edgeq_fully_connected_s8.c",)

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(0), "input", ("int8", "int16"))
        w = self.require_int8(self.input(1), "weights")
        self.require_const(w, "weights")
        out = self.require_activation(self.output(), "output", (x.dtype,))
        bias = self.input(2)
        int16 = x.dtype == "int16"
        if self.op.options.get("weights_format", "DEFAULT") not in ("DEFAULT", 0):
            raise self.unsupported("shuffled FULLY_CONNECTED weights are not supported")
        if len(w.shape) != 2:
            raise self.unsupported(f"weights have shape {list(w.shape)}; expected [out, in]")
        out_depth, accum_depth = w.shape
        if out.shape[-1] != out_depth:
            raise self.unsupported(f"output depth {out.shape[-1]} does not match the weights {list(w.shape)}")
        batches = math.prod(out.shape[:-1]) if len(out.shape) > 1 else 1
        if x.num_elements != batches * accum_depth:
            raise self.unsupported(f"input {list(x.shape)} does not match weights {list(w.shape)}")
        if any(z != 0 for z in w.quant.zero_point):
            raise self.unsupported("weights with a non-zero zero point (asymmetric int8 weights)")
        if bias is not None:
            self.require_const(bias, "bias")
            if int16:
                check_int16_bias(self, bias, ("int64", "int32"))
            elif bias.dtype != "int32":
                raise self.unsupported(f"bias is {bias.dtype}; int8 FULLY_CONNECTED needs int32 bias")
        act = self.op.options.get("fused_activation_function", "NONE")
        if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise self.unsupported(f"fused activation {act}")
        abs_sums = np.abs(w.array().astype(np.int64)).sum(axis=1)
        if int16:
            check_accumulator_s16(self, abs_sums, bias, out_depth)
        else:
            check_accumulator(self, abs_sums, bias, out_depth)
        mults, shifts = fp.fully_connected_multipliers(x.scale, w.quant.scales(), out.scale)
        per_channel = len(w.quant.scale) > 1
        if per_channel and len(mults) != out_depth:
            raise self.unsupported(f"{len(mults)} weight scales for {out_depth} output channels")
        bias32 = bias is not None and bias.dtype == "int32"
        if int16 and not bias32:
            check_s64_shifts(self, shifts)
        act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point,
                                                                   *QRANGE[x.dtype])
        p = self.params
        p.update(batches=batches, accum_depth=accum_depth, out_depth=out_depth, per_channel=per_channel,
                 input_offset=-x.zero_point, output_offset=out.zero_point, act_min=act_min, act_max=act_max,
                 int16=int16)
        bias_ctype = "int64_t" if int16 and not bias32 else "int32_t"
        p["weights"] = self.ctx.tensor_const(self.op.inputs[1], "int8_t", "weights")
        p["bias"] = self.ctx.tensor_const(self.op.inputs[2], bias_ctype, "bias") if bias is not None else None
        if per_channel:
            p["mult"] = self.ctx.add_const("mult", "int32_t", mults,
                                           f"layer {self.index} per-channel multipliers")
            p["shift"] = self.ctx.add_const("shift", "int32_t", shifts,
                                            f"layer {self.index} per-channel shifts")
        else:
            p["mult"], p["shift"] = int(mults[0]), int(shifts[0])
        if per_channel:
            quant = PerChannelQuantParams(multiplier=ConstRef(p["mult"], "int32_t"),
                                          shift=ConstRef(p["shift"], "int32_t"))
        else:
            quant = PerTensorQuantParams(multiplier=p["mult"], shift=p["shift"])
        suffix = "s16" if int16 else "s8"
        act_t = "int16_t" if int16 else "int8_t"
        bias_arg = ConstRef(p["bias"], bias_ctype)
        if int16:  # int64 values, or int32 ones (TFLM then sums in int32, as for int8)
            bias_arg = BiasData(data=bias_arg, is_int32_bias=bias32)
        return KernelCall.make(
            f"fully_connected_per_channel_{suffix}" if per_channel else f"fully_connected_{suffix}", status=True,
            ctx=CONTEXT,
            fc_params=FcParams(input_offset=p["input_offset"], filter_offset=0, output_offset=p["output_offset"],
                               activation=Activation(act_min, act_max)),
            quant_params=quant,
            input_dims=Dims(batches, 1, 1, accum_depth), input_data=TensorRef(self.op.inputs[0], act_t),
            filter_dims=Dims(accum_depth, 1, 1, out_depth), filter_data=ConstRef(p["weights"]),
            bias_dims=Dims(1, 1, 1, out_depth), bias_data=bias_arg,
            output_dims=Dims(batches, 1, 1, out_depth), output_data=out_ref(self.op.outputs[0], act_t))

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_fully_connected_s16.c",) if self.params.get("int16") else self.SOURCES
