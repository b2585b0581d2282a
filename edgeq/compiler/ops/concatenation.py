"""CONCATENATION (int8 or int16, inputs quantized like the output, as TFLM requires) -> edgeq_concatenation with the
element size: outer blocks, each input contributes dims(axis) * inner elements per block
(reference_ops::Concatenation)."""

from __future__ import annotations

import math

from edgeq.compiler.cparams import CArray, KernelCall, out_ref
from edgeq.compiler.ops._int16 import CTYPE, ELEM_SIZE, act_dtype, activation
from edgeq.compiler.ops.base import Layer
from edgeq.compiler.ops.elementwise import operand, operand_ref


class Concatenation(Layer):
    OPS = ("CONCATENATION",)
    SOURCES = ("edgeq_data_movement.c",)

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        out = activation(self, self.output(), "output", dt)
        if self.op.options.get("fused_activation_function", "NONE") != "NONE":
            raise self.unsupported("fused activation on CONCATENATION (TFLM rejects it too)")
        rank = len(out.shape)
        axis = int(self.op.options.get("axis", 0))
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            raise self.unsupported(f"axis {axis} out of range for rank {rank}")
        ins = []
        total = 0
        for k in range(len(self.op.inputs)):
            idx = operand(self, k, f"input {k}", dt)
            t = self.tensor(idx)
            if len(t.shape) != rank or any(t.shape[j] != out.shape[j] for j in range(rank) if j != axis):
                raise self.unsupported(f"input {k} shape {list(t.shape)} does not match output {list(out.shape)}")
            if t.zero_point != out.zero_point or float(t.scale) != float(out.scale):
                raise self.unsupported(f"input {k} is quantized differently from the output (TFLM requires the "
                                       f"same scale and zero point)")
            total += t.shape[axis]
            ins.append(idx)
        if total != out.shape[axis]:
            raise self.unsupported("input sizes along the axis do not add up to the output")
        outer = math.prod(out.shape[:axis])
        inner = math.prod(out.shape[axis + 1:])
        self.params.update(inputs=ins, outer=outer, copy=[self.tensor(i).shape[axis] * inner for i in ins])
        return self._call()

    def _call(self) -> KernelCall:
        p = self.params
        dt = act_dtype(self)
        return KernelCall.make("concatenation", status=False,
                               inputs=CArray("const void *", tuple(operand_ref(self, i) for i in p["inputs"])),
                               copy_sizes=CArray("int32_t", tuple(p["copy"])), num_inputs=len(p["inputs"]),
                               outer_size=p["outer"], output=out_ref(self.op.outputs[0], CTYPE[dt]),
                               elem_size=ELEM_SIZE[dt])
