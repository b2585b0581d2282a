"""DEPTHWISE_CONV_2D (int8, per-channel weights, any depth multiplier, dilation) -> edgeq_depthwise_conv_wrapper_s8
(arm_depthwise_conv_wrapper_s8). Parameters as TFLM's depthwise_conv_common.cc (shared with CONV_2D).

In place: when every output element is written at or before the first input position it or any later element
still reads (stride >= 2 MobileNet blocks, 1x1 windows, ...), the output may take the input's memory; checked exactly
by window_inplace_safe for the kernel's loop order.
"""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer, window_inplace_safe
from edgeq.compiler.ops.conv import conv_common, dims, tile


class DepthwiseConv2D(Layer):
    OPS = ("DEPTHWISE_CONV_2D",)
    SOURCES = ("edgeq_depthwise_conv_s8.c",)

    def prepare(self) -> None:
        conv_common(self, depthwise=True)

    def kernel_name(self) -> str:
        return "depthwise_conv_wrapper_s8"

    def inplace_candidates(self) -> list[int]:
        p = self.params
        _, kh, kw, _ = p["filter_dims"]
        ok = window_inplace_safe(p["input_dims"], p["output_dims"], p["ch_mult"], kh, kw, p["stride"][1],
                                 p["stride"][0], p["dilation"][1], p["dilation"][0], p["padding"][1],
                                 p["padding"][0])
        return [self.op.inputs[0]] if ok else []

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        cout = p["output_dims"][3]
        return [
            f"const {r.ty('context')} ctx = {{NULL, 0}};",
            f"const {r.ty('dw_conv_params')} dw_conv_params = {{{p['input_offset']}, {p['output_offset']}, "
            f"{p['ch_mult']}, {tile(p['stride'])}, {tile(p['padding'])}, {tile(p['dilation'])}, "
            f"{{{p['act_min']}, {p['act_max']}}}}};",
            f"const {r.ty('per_channel_quant_params')} quant_params = {{{p['mult']}, {p['shift']}}};",
            f"const {r.ty('dims')} input_dims = {dims(p['input_dims'])};",
            f"const {r.ty('dims')} filter_dims = {dims(p['filter_dims'])};",
            f"const {r.ty('dims')} bias_dims = {{1, 1, 1, {cout}}};",
            f"const {r.ty('dims')} output_dims = {dims(p['output_dims'])};",
            f"status = {r.fn('depthwise_conv_wrapper_s8')}(&ctx, &dw_conv_params, &quant_params, &input_dims, "
            f"{r.cptr(self.op.inputs[0])}, &filter_dims, {p['filter']}, &bias_dims, {p['bias'] or 'NULL'}, "
            f"&output_dims, {r.ptr(self.op.outputs[0])});",
        ]
