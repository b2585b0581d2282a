"""QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32), at float model inputs / outputs and anywhere inside
the graph (a DEQUANTIZE -> QUANTIZE pair the converter left between two int8 ops, a float tensor that is a model
output and also quantized again): the only float code, TFLM's AffineQuantize (float division, roundf) and Dequantize
(double multiply). A float tensor inside the graph is an arena buffer of float32 like any other activation.
QUANTIZE int8 -> int8 (the converter's requantization, e.g. before a CONCATENATION of differently scaled inputs) is
integer only: TFLM's Requantize with QuantizeMultiplier(double(s_in) / double(s_out)). So are the integer type
changes TFLM's QUANTIZE supports that int16x8 models use at their edges (int16 -> int8, int8 -> int16, int16 -> int32,
int8 -> int32, int16 -> int16): edgeq_requantize_<in>_<out>, the same arithmetic clamped to the output type.
float32 <-> int16 (int16x8 models with float I/O): edgeq_quantize_f32_s16 / edgeq_dequantize_s16_f32, the same
arithmetic as int8 clamped to int16."""

from __future__ import annotations

import numpy as np

from edgeq._templates import c_float
from edgeq.compiler.cparams import CLiteral, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp


_CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t"}
#: (input, output) integer types -> kernel suffix (int8 -> int8 is edgeq_requantize_s8)
_INT_REQUANTIZE = {("int16", "int8"): "s16_s8", ("int8", "int16"): "s8_s16", ("int16", "int32"): "s16_s32",
                   ("int8", "int32"): "s8_s32", ("int16", "int16"): "s16_s16"}


class Quantize(Layer):
    OPS = ("QUANTIZE",)
    SOURCES = ("edgeq_quantize.c", "edgeq_activations_s8.c")

    def prepare(self) -> KernelCall:
        x = self.input(0)
        out = self.output()
        if x is not None and not x.is_constant and (x.dtype, out.dtype) in _INT_REQUANTIZE:
            self._require_quantized(x, "input")
            self._require_quantized(out, "output")
            mult, shift = fp.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(out.scale)))
            self.params.update(requantize=True, size=out.num_elements, zp_in=x.zero_point, mult=mult, shift=shift,
                               zp_out=out.zero_point, types=_INT_REQUANTIZE[(x.dtype, out.dtype)])
            return self._call()
        if out.dtype == "int16" and x is not None and x.dtype == "float32" and not x.is_constant:
            self._require_quantized(out, "output")
            self.params.update(requantize=False, size=out.num_elements, scale=float(np.float32(out.scale)),
                               zero_point=out.zero_point, out16=True)
            return self._call()
        out = self.require_activation(out, "output")
        if x is not None and x.dtype == "int8" and not x.is_constant:
            x = self.require_activation(x, "input")
            mult, shift = fp.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(out.scale)))
            self.params.update(requantize=True, size=out.num_elements, zp_in=x.zero_point, mult=mult, shift=shift,
                               zp_out=out.zero_point, types="s8")
            return self._call()
        if x is None or x.dtype != "float32" or x.is_constant:
            what = "a constant" if x is not None and x.is_constant else (x.dtype if x else "nothing")
            raise self.unsupported(f"QUANTIZE from {what}: only float32 activations (and int8/int16 "
                                   f"requantization) are quantized", hint="re-quantize the model")
        self.params.update(requantize=False, size=out.num_elements, scale=float(np.float32(out.scale)),
                           zero_point=out.zero_point)
        return self._call()

    def _require_quantized(self, t, what: str) -> None:
        if t.quant is None or not t.quant.is_quantized or t.quant.per_channel:
            raise self.unsupported(f"{what} '{t.name}' needs per-tensor quantization parameters")

    @property
    def sources(self) -> tuple[str, ...]:
        if self.params.get("types", "s8") != "s8":
            return ("edgeq_requantize.c",)
        return self.SOURCES

    def inplace_candidates(self) -> list[int]:
        return [self.op.inputs[0]] if self.params.get("types") == "s8" else []

    def _call(self) -> KernelCall:
        p = self.params
        if p["requantize"]:
            return KernelCall.make(
                f"requantize_{p['types']}", status=False,
                input=TensorRef(self.op.inputs[0], _CTYPES[self.input(0).dtype]), size=p["size"],
                input_zero_point=p["zp_in"], mult=p["mult"], shift=p["shift"], output_zero_point=p["zp_out"],
                output=out_ref(self.op.outputs[0], _CTYPES[self.output().dtype]))
        out16 = p.get("out16", False)
        return KernelCall.make("quantize_f32_s16" if out16 else "quantize_f32_s8", status=False,
                               input=TensorRef(self.op.inputs[0], "float"), size=p["size"],
                               scale=CLiteral(c_float(p["scale"])), zero_point=p["zero_point"],
                               output=out_ref(self.op.outputs[0], "int16_t" if out16 else "int8_t"))

class Dequantize(Layer):
    OPS = ("DEQUANTIZE",)
    SOURCES = ("edgeq_quantize.c",)

    def prepare(self) -> KernelCall:
        x = self.input(0)
        if x is not None and x.dtype == "int16" and not x.is_constant:
            if x.quant is None or not x.quant.is_quantized or x.quant.per_channel:
                raise self.unsupported(f"input '{x.name}' needs per-tensor quantization parameters")
        else:
            x = self.require_activation(x, "input")
        out = self.output()
        if out.dtype != "float32":
            raise self.unsupported(f"DEQUANTIZE to {out.dtype}: only int8 / int16 -> float32")
        self.params.update(size=x.num_elements, scale=float(np.float32(x.scale)), zero_point=x.zero_point)
        return self._call()

    def _call(self) -> KernelCall:
        p = self.params
        # TFLM keeps the scale as a double promoted from the float32 one
        in16 = self.input(0).dtype == "int16"
        return KernelCall.make("dequantize_s16_f32" if in16 else "dequantize_s8_f32", status=False,
                               input=TensorRef(self.op.inputs[0], "int16_t" if in16 else "int8_t"), size=p["size"],
                               scale=CLiteral(f"(double){c_float(p['scale'])}"), zero_point=p["zero_point"],
                               output=out_ref(self.op.outputs[0], "float"))
