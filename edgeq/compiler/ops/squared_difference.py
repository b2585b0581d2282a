"""SQUARED_DIFFERENCE (int8) -> edgeq_squared_difference_s8: TFLM's squared_difference.cc (parameters from
edgeq.quant.fixedpoint.squared_difference_params, left shift 7; the squared int32 difference requantized with
MultiplyByQuantizedMultiplier), 4-D broadcasting, either operand may be a constant. int16 (zero points 0) ->
edgeq_squared_difference_s16 with left shift 0, as TFLM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgeq.compiler.cparams import CArray, CStruct, Dims, KernelCall, out_ref
from edgeq.compiler.ops._int16 import CTYPE, SUFFIX, act_dtype, activation, require_zero_point_0
from edgeq.compiler.ops.base import Layer, dims4
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, operand_ref
from edgeq.quant import fixedpoint as fp


@dataclass(frozen=True)
class SquaredDifferenceParams(CStruct):
    """edgeq_squared_difference_params (edgeq_nn.h)."""

    C_TYPE: ClassVar[str] = "squared_difference_params"
    input_1_offset: int
    input_1_mult: int
    input_1_shift: int
    input_2_offset: int
    input_2_mult: int
    input_2_shift: int
    out_offset: int
    out_mult: int
    out_shift: int


class SquaredDifference(Layer):
    OPS = ("SQUARED_DIFFERENCE",)
    SOURCES = ("edgeq_elementwise.c",)

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        a = self.tensor(operand(self, 0, "input 1", dt))
        b = self.tensor(operand(self, 1, "input 2", dt))
        out = activation(self, self.output(), "output", dt)
        if dt == "int16":  # TF_LITE_ENSURE(zero_point == 0) for int16
            for t, what in ((a, "input 1"), (b, "input 2"), (out, "output")):
                require_zero_point_0(self, t, what)
        q = fp.squared_difference_params(a.scale, b.scale, out.scale, left_shift=0 if dt == "int16" else 7)
        self.params.update(s1=broadcast_strides(self, a.shape, out.shape),
                           s2=broadcast_strides(self, b.shape, out.shape), out_dims=dims4(out.shape),
                           q=SquaredDifferenceParams(input_1_offset=-a.zero_point, input_1_mult=q.input1_multiplier,
                                  input_1_shift=q.input1_shift, input_2_offset=-b.zero_point,
                                  input_2_mult=q.input2_multiplier, input_2_shift=q.input2_shift,
                                  out_offset=out.zero_point, out_mult=q.output_multiplier, out_shift=q.output_shift))
        return self._call()

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]

    def _call(self) -> KernelCall:
        p = self.params
        dt = act_dtype(self)
        return KernelCall.make(f"squared_difference_{SUFFIX[dt]}", status=True,
                               input_1=operand_ref(self, self.op.inputs[0]),
                               in1_strides=CArray("int32_t", tuple(p["s1"])),
                               input_2=operand_ref(self, self.op.inputs[1]),
                               in2_strides=CArray("int32_t", tuple(p["s2"])), output_dims=Dims(*p["out_dims"]),
                               sd_params=p["q"], output=out_ref(self.op.outputs[0], CTYPE[dt]))
