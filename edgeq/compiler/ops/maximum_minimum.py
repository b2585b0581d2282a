"""MAXIMUM and MINIMUM (int8) -> edgeq_maximum_s8 / edgeq_minimum_s8: TFLM's maximum_minimum.cc compares the stored
int8 values (no requantization), with 4-D broadcasting; either operand may be a constant. int16 ->
edgeq_maximum_s16 / edgeq_minimum_s16."""

from __future__ import annotations

from edgeq.compiler.cparams import CArray, Dims, KernelCall, out_ref
from edgeq.compiler.ops._int16 import CTYPE, SUFFIX, act_dtype, activation
from edgeq.compiler.ops.base import Layer, dims4
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, operand_ref


class Maximum(Layer):
    OPS = ("MAXIMUM",)
    SOURCES = ("edgeq_activations_s8.c",)
    KERNEL = "maximum"

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_activations_s16.c",) if act_dtype(self) == "int16" else self.SOURCES

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        a = self.tensor(operand(self, 0, "input 1", dt))
        b = self.tensor(operand(self, 1, "input 2", dt))
        out = activation(self, self.output(), "output", dt, per_tensor=False)
        self.params.update(s1=broadcast_strides(self, a.shape, out.shape),
                           s2=broadcast_strides(self, b.shape, out.shape), out_dims=dims4(out.shape))
        return self._call()

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]

    def _call(self) -> KernelCall:
        p = self.params
        dt = act_dtype(self)
        return KernelCall.make(f"{self.KERNEL}_{SUFFIX[dt]}", status=False,
                               input1=operand_ref(self, self.op.inputs[0]),
                               in1_strides=CArray("int32_t", tuple(p["s1"])),
                               input2=operand_ref(self, self.op.inputs[1]),
                               in2_strides=CArray("int32_t", tuple(p["s2"])), output_dims=Dims(*p["out_dims"]),
                               output=out_ref(self.op.outputs[0], CTYPE[dt]))

class Minimum(Maximum):
    OPS = ("MINIMUM",)
    KERNEL = "minimum"
