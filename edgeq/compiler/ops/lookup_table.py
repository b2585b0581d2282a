"""Element-wise int8 -> int8 functions as a 256-entry table (``edgeq_lut_s8``), the table computed here by running
TFLM's integer arithmetic for the op on all 256 inputs: exact by construction, one load per element on the device.

LEAKY_RELU (leaky_relu_common.cc, reference_ops::QuantizeLeakyRelu): identity multiplier
``double(float(s_in / s_out))``, alpha multiplier ``double(float(s_in * alpha / s_out))`` (QuantizeMultiplier; a
negative alpha keeps its sign outside the multiplier), ``out = zp_out + MBQM(x - zp_in, ...)``, clamped.
"""

from __future__ import annotations

import numpy as np

from edgeq.compiler.ops.base import Layer, Renderer
from edgeq.quant import fixedpoint as fp

INPUTS = np.arange(-128, 128, dtype=np.int64)


class LookupTable(Layer):
    SOURCES = ("edgeq_activations_s8.c",)

    def table(self, x, out) -> np.ndarray:  # pragma: no cover - abstract
        """The int8 output for each int8 input -128..127."""
        raise NotImplementedError

    def prepare(self) -> None:
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        if x.num_elements != out.num_elements:
            raise self.unsupported("input and output sizes differ")
        lut = np.asarray(self.table(x, out), dtype=np.int64)
        assert lut.shape == (256,) and lut.min() >= -128 and lut.max() <= 127
        self.params.update(size=x.num_elements, lut=self.ctx.add_const(
            f"edgeq_l{self.index}_lut", "int8_t", lut, comment=f"layer {self.index} {self.opcode}: output for "
                                                               f"input -128..127"))

    def inplace_candidates(self) -> list[int]:
        return [self.op.inputs[0]]

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def kernel_name(self) -> str:
        return "lut_s8"

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        return [f"{r.fn('lut_s8')}({r.cptr(self.op.inputs[0])}, {p['size']}, {p['lut']}, "
                f"{r.ptr(self.op.outputs[0])});"]


class LeakyRelu(LookupTable):
    OPS = ("LEAKY_RELU",)

    def table(self, x, out) -> np.ndarray:
        f = np.float32
        alpha = f(self.op.options.get("alpha", 0.0))
        s_in, s_out = f(x.scale), f(out.scale)
        m_id, sh_id = fp.quantize_multiplier(float(f(s_in / s_out)))
        real_alpha = float(f(f(s_in * alpha) / s_out))
        m_a, sh_a = fp.quantize_multiplier(abs(real_alpha))
        v = INPUTS - x.zero_point
        pos = fp.multiply_by_quantized_multiplier(v, m_id, sh_id).astype(np.int64)
        neg = fp.multiply_by_quantized_multiplier(v, m_a, sh_a).astype(np.int64)
        if real_alpha < 0:
            neg = -neg
        y = out.zero_point + np.where(v >= 0, pos, neg)
        return np.clip(y, -128, 127)
