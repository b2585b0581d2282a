"""Element-wise int8 -> int8 functions (LEAKY_RELU, HARD_SWISH) as a 256-entry table (``edgeq_lut_s8``), the
table computed here by running TFLM's integer arithmetic for the op on all 256 inputs: exact by construction, one
load per element on the device.

LEAKY_RELU (leaky_relu_common.cc, reference_ops::QuantizeLeakyRelu): identity multiplier
``double(float(s_in / s_out))``, alpha multiplier ``double(float(s_in * alpha / s_out))`` (QuantizeMultiplier; a
negative alpha keeps its sign outside the multiplier), ``out = zp_out + MBQM(x - zp_in, ...)``, clamped.

HARD_SWISH (hard_swish_common.cc, reference_ops::HardSwish<int8_t>): the int16 fixed-point path: input on a
"hires" scale s_in/128, the output and "reluish" (3/32768) multipliers QuantizeMultiplier'd then rounded down to
int16 (DownScaleInt32ToInt16Multiplier), gemmlowp's int16 SaturatingRoundingDoublingHighMul and
RoundingDivideByPOT, TFLM's non-rounding SaturatingDoublingHighMul for the product.
"""

from __future__ import annotations

import numpy as np

from edgeq.compiler.cparams import ConstRef, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops._int16 import act_dtype, activation
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp

INPUTS = np.arange(-128, 128, dtype=np.int64)


class LookupTable(Layer):
    SOURCES = ("edgeq_activations_s8.c",)

    def table(self, x, out) -> np.ndarray:  # pragma: no cover - abstract
        """The int8 output for each int8 input -128..127."""
        raise NotImplementedError

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        if x.num_elements != out.num_elements:
            raise self.unsupported("input and output sizes differ")
        lut = np.asarray(self.table(x, out), dtype=np.int64)
        assert lut.shape == (256,) and lut.min() >= -128 and lut.max() <= 127
        self.params.update(size=x.num_elements, lut=self.ctx.add_const(
            "lut", "int8_t", lut, comment=f"layer {self.index} {self.opcode}: output for "
                                                               f"input -128..127"))
        return self._call()

    def inplace_candidates(self) -> list[int]:
        return [self.op.inputs[0]]

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def _call(self) -> KernelCall:
        return KernelCall.make("lut_s8", status=False, input=TensorRef(self.op.inputs[0]), size=self.params["size"],
                               lut=ConstRef(self.params["lut"]), output=out_ref(self.op.outputs[0]))

class LeakyRelu(LookupTable):
    """int8: a table; int16 (65,536 inputs: too many for a table) -> edgeq_leaky_relu_s16 with the same
    multipliers."""

    OPS = ("LEAKY_RELU",)

    def multipliers(self, x, out) -> tuple[int, int, int, int, bool]:
        """(identity multiplier, shift, |alpha| multiplier, shift, alpha < 0) as leaky_relu_common.cc."""
        f = np.float32
        alpha = f(self.op.options.get("alpha", 0.0))
        s_in, s_out = f(x.scale), f(out.scale)
        m_id, sh_id = fp.quantize_multiplier(float(f(s_in / s_out)))
        real_alpha = float(f(f(s_in * alpha) / s_out))
        m_a, sh_a = fp.quantize_multiplier(abs(real_alpha))
        return m_id, sh_id, m_a, sh_a, real_alpha < 0

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_activations_s16.c",) if act_dtype(self) == "int16" else self.SOURCES

    def prepare(self) -> KernelCall:
        if act_dtype(self) != "int16":
            return super().prepare()
        x = activation(self, self.input(0), "input", "int16")
        out = activation(self, self.output(), "output", "int16")
        if x.num_elements != out.num_elements:
            raise self.unsupported("input and output sizes differ")
        m_id, sh_id, m_a, sh_a, negative = self.multipliers(x, out)
        return KernelCall.make("leaky_relu_s16", status=False, input=TensorRef(self.op.inputs[0], "int16_t"),
                               size=x.num_elements, input_zero_point=x.zero_point,
                               output_zero_point=out.zero_point, mult_identity=m_id, shift_identity=sh_id,
                               mult_alpha=m_a, shift_alpha=sh_a, alpha_negative=int(negative),
                               output=out_ref(self.op.outputs[0], "int16_t"))

    def table(self, x, out) -> np.ndarray:
        m_id, sh_id, m_a, sh_a, negative = self.multipliers(x, out)
        v = INPUTS - x.zero_point
        pos = fp.multiply_by_quantized_multiplier(v, m_id, sh_id).astype(np.int64)
        neg = fp.multiply_by_quantized_multiplier(v, m_a, sh_a).astype(np.int64)
        if negative:
            neg = -neg
        y = out.zero_point + np.where(v >= 0, pos, neg)
        return np.clip(y, -128, 127)


# ---- int16 fixed point, as C does it (int16 storage, int arithmetic) ---------------------------------------------
def _i16(v: int) -> int:
    """static_cast<int16_t> (two's complement wrap)."""
    return (v + (1 << 15)) % (1 << 16) - (1 << 15)


def _div_trunc(n: int, d: int) -> int:
    q = abs(n) // d
    return q if n >= 0 else -q


def _srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul for int16."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _i16(_div_trunc(ab + nudge, 1 << 15))


def _sdhm16(a: int, b: int) -> int:
    """TFLM reference_ops::SaturatingDoublingHighMul (int16, truncating)."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    return _i16(_div_trunc(a * b, 1 << 15))


def _rdbpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _sat_shl16(v: int, amount: int) -> int:
    return max(-(1 << 15), min((1 << 15) - 1, v * (1 << amount)))


def _to_int16_multiplier(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


class HardSwish(LookupTable):
    OPS = ("HARD_SWISH",)

    def table(self, x, out) -> np.ndarray:
        f = np.float32
        s_in, s_out = f(x.scale), f(out.scale)
        hires = f(f(1.0) / f(128.0)) * s_in
        reluish_scale = f(3.0) / f(32768.0)
        m_out, e_out = fp.quantize_multiplier(float(f(hires / s_out)))
        m_rel, e_rel = fp.quantize_multiplier(float(f(hires / reluish_scale)))
        if e_out > 0:
            raise self.unsupported("output scale too small for TFLM's int8 HARD_SWISH (output multiplier >= 1)")
        m_out16, m_rel16 = _to_int16_multiplier(m_out), _to_int16_multiplier(m_rel)
        lut = []
        for q in range(-128, 128):
            v = _i16(q - x.zero_point)
            hi = _i16(v * (1 << 7))
            pre_out = _srdhm16(hi, m_out16)
            rel = hi
            if e_rel > 0:
                rel = _sat_shl16(rel, e_rel - 1)
            rel = _srdhm16(rel, m_rel16)
            if e_rel > 0:
                rel = _sat_shl16(rel, 1)
            if e_rel < 0:
                rel = _rdbpot(rel, -e_rel)
            rel = _i16((rel + (1 << 15)) >> 1)
            y = _rdbpot(_sdhm16(rel, pre_out), -e_out)
            y = _i16(y + out.zero_point)
            lut.append(min(127, max(-128, y)))
        return np.asarray(lut)
