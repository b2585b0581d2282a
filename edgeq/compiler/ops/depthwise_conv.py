"""DEPTHWISE_CONV_2D (int8, per-channel weights, any depth multiplier, dilation) -> edgeq_depthwise_conv_wrapper_s8
(arm_depthwise_conv_wrapper_s8). Parameters as TFLM's depthwise_conv_common.cc (shared with CONV_2D). int16x8
(int16 activations, int64 bias) -> edgeq_depthwise_conv_wrapper_s16 (TFLM's int16 DepthwiseConvPerChannel).

In place, two ways (the compiler keeps whichever plans less RAM, see edgeq.compiler._plan):

* ``ring``: the general / 3x3 kernel writes in memory order and holds back the last D output bytes in a delay ring
  (kernel scratch) so that nothing is overwritten before it is read. D is exact for the kernel's loop order
  (edgeq.compiler.ops.base.inplace_delay): 0 for stride-2 MobileNet blocks, (W + 1) * C for a 3x3 stride-1 SAME one.
* ``channel`` (TinyEngine's technique): edgeq_depthwise_conv_inplace_s8 copies one input channel into an H x W
  channel plane, then writes that channel's outputs over it; any stride, filter or padding, depth multiplier 1,
  batch 1, no more output pixels than input pixels. Working bytes H * W, against D for the ring.
"""

from __future__ import annotations

import numpy as np

from edgeq.compiler.cparams import KernelCall
from edgeq.compiler.ops.conv import (KXK_WINDOW, MVE_TARGETS, WindowLayer, conv_call, conv_common, fast_ring_bytes,
                                     shallow_call, shallow_constants, target_working_bytes, use_bounded_requantization,
                                     use_shallow, window_constants)


#: bytes edgeq_depthwise_conv_3x3_plane_s8 may read past its plane's last row (EDGEQ_DW3_PLANE_SLACK in edgeq_nn.h)
DW3_PLANE_SLACK = 1
#: the same for edgeq_depthwise_conv_kxk_plane_s8 (EDGEQ_DWK_PLANE_SLACK), and the filter sizes it runs
DWK_PLANE_SIZES, DWK_PLANE_SLACK = (5, 7), 3


class DepthwiseConv2D(WindowLayer):
    """DEPTHWISE_CONV_2D. On the portable backend (32-bit targets, optimize "speed"), when its accumulators allow
    edgeq_requantize_bounded: one input channel (a first layer, e.g. person_detect's 1 -> 8) runs as the convolution
    it is on edgeq_convolve_shallow_s8 (DSP cores; edgeq.compiler.ops.conv.use_shallow), else edgeq_convolve_kxk_s8
    (edgeq_convolve_kxk_mve_s8 on Cortex-M55), and a 3x3 filter with depth multiplier
    1 and no dilation edgeq_depthwise_conv_3x3_s8 (nine taps unrolled inside the input, cheaper requantization); on
    Cortex-M55 every other layer with depth multiplier 1 edgeq_depthwise_conv_mve_s8 (Helium, 16 channels per step);
    every other one the general edgeq_depthwise_conv_wrapper_s8."""

    OPS = ("DEPTHWISE_CONV_2D",)
    SOURCES = ("edgeq_depthwise_conv_s8.c",)

    def prepare(self) -> KernelCall:
        conv_common(self, depthwise=True, weights=False)
        p = self.params
        p["dw3x3"] = False
        p["dwk"] = False
        p["as_conv"] = False
        _, kh, kw, cout = p["filter_dims"]
        fast_ok = (not p["int16"] and self.ctx.backend == "portable" and self.ctx.optimize == "speed"
                   and self.ctx.target != "avr")
        if fast_ok and p["input_dims"][3] == 1 and tuple(p["dilation"]) == (1, 1) and kh * kw <= KXK_WINDOW:
            # one input channel: the layer is the convolution with filter [C_OUT, KH, KW, 1] (the same sums)
            w = self.input(1).array().reshape(kh * kw, cout).T.copy()
            bias = self.input(2).array() if self.input(2) is not None else None
            if use_shallow(self, w):  # a first layer: edgeq_convolve_shallow_s8 on the DSP cores
                shallow = shallow_constants(w, bias, p["input_offset"], self.ctx.consts[p["mult"]].values,
                                            self.ctx.consts[p["shift"]].values, kh, kw, 1)
                if shallow is not None:
                    p["as_conv"] = True
                    return shallow_call(self, shallow, (cout, kh, kw, 1))
            mve = self.ctx.target in MVE_TARGETS  # edgeq_convolve_kxk_mve_s8, filter in natural order
            fast = window_constants(w, bias, p["input_offset"], self.ctx.consts[p["mult"]].values,
                                    self.ctx.consts[p["shift"]].values, natural=mve)
            if fast is not None:
                use_bounded_requantization(self, w, bias)
                i = self.index
                p["as_conv"] = True
                kernel = "convolve_kxk_mve_s8" if mve else "convolve_kxk_s8"
                p["filter"] = self.ctx.add_const("filter", "int8_t", fast[0], f"layer {i} {kh}x{kw} filter" if mve
                                                 else f"layer {i} {kh}x{kw} filter in edgeq_{kernel}'s read order")
                p["bias"] = self.ctx.add_const("bias", "int32_t", fast[1],
                                               f"layer {i} bias + input offset x weight sums")
                dw_dims = p["filter_dims"]
                p["filter_dims"] = (cout, kh, kw, 1)
                call = conv_call(self, depthwise=False).replace(kernel=kernel)
                p["filter_dims"] = dw_dims
                return call
        p["filter"] = self.ctx.tensor_const(self.op.inputs[1], "int8_t", "filter")
        p["bias"] = (self.ctx.tensor_const(self.op.inputs[2], p["bias_ctype"], "bias") if self.input(2) is not None
                     else None)
        p["mve"] = fast_ok and self.ctx.target in MVE_TARGETS and p["ch_mult"] == 1
        if p["mve"]:
            return conv_call(self, depthwise=True).replace(kernel="depthwise_conv_mve_s8")
        if fast_ok and p["filter_dims"][1:3] == (3, 3) and p["ch_mult"] == 1 and tuple(p["dilation"]) == (1, 1):
            w = self.input(1).array().reshape(-1, p["output_dims"][3]).T  # [C, taps]
            bias = self.input(2).array() if self.input(2) is not None else None
            p["dw3x3"] = use_bounded_requantization(self, w, bias)
        elif (fast_ok and kh == kw and kh in DWK_PLANE_SIZES and p["ch_mult"] == 1
              and tuple(p["dilation"]) == (1, 1)):
            # 5x5 / 7x7: the general kernel, or edgeq_depthwise_conv_kxk_plane_s8 when planning gives it a plane
            w = self.input(1).array().reshape(-1, p["output_dims"][3]).T  # [C, taps]
            bias = self.input(2).array() if self.input(2) is not None else None
            p["dwk"] = use_bounded_requantization(self, w, bias)
        call = conv_call(self, depthwise=True)
        return call.replace(kernel="depthwise_conv_3x3_s8") if p["dw3x3"] else call

    @property
    def sources(self) -> tuple[str, ...]:
        if self.params.get("int16"):
            return ("edgeq_convolve_s16.c",)
        if self.params.get("inplace_channel"):
            plane = self.params.get("dw3x3") or self.plane_scratch is not None
            return ("edgeq_depthwise_conv_3x3_s8.c" if plane else "edgeq_depthwise_conv_inplace_s8.c",)
        if self.params.get("shallow"):
            return ("edgeq_convolve_shallow_s8.c",)
        if self.params.get("as_conv"):
            return ("edgeq_convolve_kxk_mve_s8.c" if self.ctx.target in MVE_TARGETS else "edgeq_convolve_kxk_s8.c",
                    "edgeq_convolve_1x1_s8.c")
        if self.params.get("mve"):
            return ("edgeq_depthwise_conv_mve_s8.c",)
        return ("edgeq_depthwise_conv_3x3_s8.c",) if self.params.get("dw3x3") else self.SOURCES

    def kernel_name(self) -> str:
        """The general kernel's name even when the 3x3 one runs: what the cmsis-nn backend maps and the cost
        tables of edgeq analyze are keyed by."""
        return "depthwise_conv_wrapper_s16" if self.params.get("int16") else "depthwise_conv_wrapper_s8"

    def window_channels(self):
        oc = np.arange(self.params["output_dims"][3])
        return oc - oc // self.params["ch_mult"]

    def channel_plane_bytes(self) -> int | None:
        """The channel plane edgeq_depthwise_conv_inplace_s8 needs (input H x W bytes), or None when the layer
        cannot run in place one channel at a time."""
        p = self.params
        n, h, w, c = p["input_dims"]
        on, oh, ow, oc = p["output_dims"]
        if p.get("int16") or self.ctx.optimize == "size":
            return None  # int8 only; --optimize size keeps to the general kernels (no extra kernel code)
        if p["ch_mult"] != 1 or n != 1 or on != 1 or oc != c or oh * ow > h * w or p.get("as_conv"):
            return None  # (a layer run as a convolution has that kernel's arguments)
        if p.get("dw3x3"):  # edgeq_depthwise_conv_3x3_plane_s8: the padded plane its windows read, + 1 byte slack
            return ((oh - 1) * p["stride"][1] + 3) * ((ow - 1) * p["stride"][0] + 3) + DW3_PLANE_SLACK
        return h * w

    def working_bytes(self) -> int:
        """The kernel scratch edgeq_convolve_kxk_s8 (or its Helium twin) works in when this layer (one input
        channel) runs as that convolution (edgeq.compiler.ops.conv.target_working_bytes); else 0."""
        p = self.params
        if not p.get("as_conv") or p.get("shallow"):
            return 0
        _, kh, kw, _ = p["filter_dims"]
        return target_working_bytes(self.ctx.target, "kxk", kh, kw, 1, p["output_dims"][3])

    def scratch_bytes(self) -> int:
        return self.working_bytes()

    def inplace_methods(self) -> dict[str, int]:
        methods = super().inplace_methods()
        if "ring" in methods and self.working_bytes() > 0:  # working buffers, stage, ring (edgeq_nn.h)
            methods["ring"] = fast_ring_bytes(self.working_bytes(), self.params["output_dims"][3], methods["ring"])
        plane = self.channel_plane_bytes()
        if plane is not None:
            methods["channel"] = plane
        return methods

    def plane_scratch_bytes(self) -> int | None:
        """The padded channel plane edgeq_depthwise_conv_3x3_plane_s8 needs when the layer does not run in place
        (it is faster than edgeq_depthwise_conv_3x3_s8 there too), or None for a layer it cannot run or would not
        speed up: its per-channel set-up and copy pay off from about 16 output pixels a channel at stride 1, 64 at
        stride 2 (measured on qemu-m4, VWW: 6x6 stride 1 312k -> 219k instructions, 3x3 stride 1 and 6x6 / 3x3
        stride 2 slower); without the DSP extension (Cortex-M0+) from 64 and 256 (there 6x6 stride 1 and 12x12
        stride 2 are 2 % slower by plane)."""
        p = self.params
        _, oh, ow, _ = p["output_dims"]
        if p.get("dwk"):  # 5x5 / 7x7 (edgeq_depthwise_conv_kxk_plane_s8, its plane + 3 bytes slack): faster than the
            # general kernel from about 64 output pixels a channel (qemu-m4, MCUNet-VWW: 10x10 outputs 1.99 M -> 1.69 M
            # and 1.26 M -> 0.98 M instructions; 5x5 and 3x3 outputs slower)
            if oh * ow < 64 or self.channel_plane_bytes() is None:
                return None
            k = p["filter_dims"][1]
            return ((oh - 1) * p["stride"][1] + k) * ((ow - 1) * p["stride"][0] + k) + DWK_PLANE_SLACK
        least = (16, 64) if self.ctx.target != "cortex-m0plus" else (64, 256)
        if not p.get("dw3x3") or oh * ow < least[max(p["stride"]) != 1]:
            return None
        return self.channel_plane_bytes()

    def _plane_kernel(self) -> str:
        return "depthwise_conv_kxk_plane_s8" if self.params.get("dwk") else "depthwise_conv_3x3_plane_s8"

    def use_plane_scratch(self, block: tuple[int, int]) -> None:
        """Run on edgeq_depthwise_conv_3x3_plane_s8 (5x5 / 7x7: edgeq_depthwise_conv_kxk_plane_s8) with the channel
        plane ``block`` (arena offset, bytes) of the kernel scratch, the output in its own buffer (set by the compiler
        after planning)."""
        self.plane_scratch = block
        self.params["inplace_channel"] = True  # (the same kernel and sources as in place by channel plane)
        self.calls = tuple(c.replace(kernel=self._plane_kernel()) for c in self.calls)

    def preferred_inplace_method(self) -> str:
        """A 3x3 layer runs fastest by channel plane (edgeq_depthwise_conv_3x3_plane_s8: SIMD along a plane row, no
        border cases); any other through the delay ring."""
        return "channel" if self.params.get("dw3x3") else "ring"

    def use_channel_kernel(self) -> None:
        """Run in place one channel at a time (set by the compiler after planning): every call becomes
        edgeq_depthwise_conv_3x3_plane_s8 (a 3x3 layer the bounded requantization covers) or
        edgeq_depthwise_conv_inplace_s8 with the same arguments, its context the channel plane."""
        self.params["inplace_channel"] = True
        kernel = "depthwise_conv_3x3_plane_s8" if self.params.get("dw3x3") else "depthwise_conv_inplace_s8"
        self.calls = tuple(c.replace(kernel=kernel) for c in self.calls)
