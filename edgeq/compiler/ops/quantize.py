"""QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32), only at float model inputs / outputs: the only float
code, TFLM's AffineQuantize (float division, roundf) and Dequantize (double multiply).
QUANTIZE int8 -> int8 (the converter's requantization, e.g. before a CONCATENATION of differently scaled inputs) is
integer only: TFLM's Requantize with QuantizeMultiplier(double(s_in) / double(s_out))."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.ops.base import Layer, Renderer
from edgeq.quant import fixedpoint as fp


def _f32_literal(x: float) -> str:
    return f"{float(np.float32(x))!r}f"


class Quantize(Layer):
    OPS = ("QUANTIZE",)
    SOURCES = ("edgeq_quantize.c", "edgeq_activations_s8.c")

    def prepare(self) -> None:
        x = self.input(0)
        out = self.require_activation(self.output(), "output")
        if x is not None and x.dtype == "int8" and not x.is_constant:
            x = self.require_activation(x, "input")
            mult, shift = fp.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(out.scale)))
            self.params.update(requantize=True, size=out.num_elements, zp_in=x.zero_point, mult=mult, shift=shift,
                               zp_out=out.zero_point)
            return
        if x is None or x.dtype != "float32":
            raise self.unsupported(
                f"QUANTIZE from {x.dtype if x else 'nothing'}: only float32 model inputs are quantized",
                hint="requantizing QUANTIZE inside the graph is not supported; re-quantize the model")
        if self.op.inputs[0] not in self.graph.inputs:
            raise self.unsupported("QUANTIZE inside the graph (supported only at float model inputs)")
        self.params.update(requantize=False, size=out.num_elements, scale=float(np.float32(out.scale)),
                           zero_point=out.zero_point)

    def kernel_name(self) -> str:
        return "requantize_s8" if self.params["requantize"] else "quantize_f32_s8"

    def inplace_candidates(self) -> list[int]:
        return [self.op.inputs[0]] if self.params.get("requantize") else []

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        if p["requantize"]:
            return [f"{r.fn('requantize_s8')}({r.cptr(self.op.inputs[0])}, {p['size']}, {p['zp_in']}, {p['mult']}, "
                    f"{p['shift']}, {p['zp_out']}, {r.ptr(self.op.outputs[0])});"]
        return [f"{r.fn('quantize_f32_s8')}({r.cptr(self.op.inputs[0], 'float')}, {p['size']}, "
                f"{_f32_literal(p['scale'])}, {p['zero_point']}, {r.ptr(self.op.outputs[0])});"]


class Dequantize(Layer):
    OPS = ("DEQUANTIZE",)
    SOURCES = ("edgeq_quantize.c",)

    def prepare(self) -> None:
        x = self.require_activation(self.input(0), "input")
        out = self.output()
        if out.dtype != "float32":
            raise self.unsupported(f"DEQUANTIZE to {out.dtype}: only to float32 model outputs")
        if self.op.outputs[0] not in self.graph.outputs:
            raise self.unsupported("DEQUANTIZE inside the graph (supported only at float model outputs)")
        self.params.update(size=x.num_elements, scale=float(np.float32(x.scale)), zero_point=x.zero_point)

    def kernel_name(self) -> str:
        return "dequantize_s8_f32"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        # TFLM keeps the scale as a double promoted from the float32 one
        return [f"{r.fn('dequantize_s8_f32')}({r.cptr(self.op.inputs[0])}, {p['size']}, "
                f"(double){_f32_literal(p['scale'])}, {p['zero_point']}, {r.ptr(self.op.outputs[0], 'float')});"]
