"""QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32), only at float model inputs / outputs.
The only float code: TFLM's AffineQuantize (float division, roundf) and Dequantize (double multiply)."""

from __future__ import annotations

import numpy as np

from edgeq.compiler.ops.base import Layer, Renderer


def _f32_literal(x: float) -> str:
    return f"{float(np.float32(x))!r}f"


class Quantize(Layer):
    OPS = ("QUANTIZE",)
    SOURCES = ("edgeq_quantize.c",)

    def prepare(self) -> None:
        x = self.input(0)
        out = self.require_activation(self.output(), "output")
        if x is None or x.dtype != "float32":
            raise self.unsupported(
                f"QUANTIZE from {x.dtype if x else 'nothing'}: only float32 model inputs are quantized",
                hint="requantizing QUANTIZE inside the graph is not supported; re-quantize the model")
        if self.op.inputs[0] not in self.graph.inputs:
            raise self.unsupported("QUANTIZE inside the graph (supported only at float model inputs)")
        self.params.update(size=out.num_elements, scale=float(np.float32(out.scale)), zero_point=out.zero_point)

    def kernel_name(self) -> str:
        return "quantize_f32_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
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
