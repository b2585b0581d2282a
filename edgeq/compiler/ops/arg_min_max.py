"""ARG_MAX and ARG_MIN (int8 input, int32 output) -> edgeq_arg_min_max_s8: the index of the first largest
(smallest) raw value along the constant axis (reference_ops::ArgMinMax with std::greater / std::less). TFLM's kernel
writes int32 only, so an int64 output (tf.math.argmax's default) is refused with the fix."""

from __future__ import annotations

import math

from edgeq.compiler.cparams import KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer
from edgeq.compiler.ops.data_movement import axis_of


class ArgMax(Layer):
    OPS = ("ARG_MAX",)
    SOURCES = ("edgeq_reduce.c",)
    IS_MAX = 1

    def prepare(self) -> KernelCall:
        x = self.require_int8(self.input(0), "input")
        if x.is_constant:
            raise self.unsupported(f"{self.opcode} of a constant tensor")
        out = self.output()
        if out.dtype != "int32":
            raise self.unsupported(f"output '{out.name}' is {out.dtype}; TFLM's {self.opcode} writes int32 only",
                                   hint="convert with tf.math.argmax(..., output_type=tf.int32)")
        axis_t = self.require_const(self.input(1), "axis")
        axis = axis_of(self, int(axis_t.array().reshape(-1)[0]), len(x.shape))
        shape = [int(d) for d in x.shape]
        if out.num_elements != math.prod(shape) // shape[axis]:
            raise self.unsupported(f"output {list(out.shape)} is not the input {shape} without axis {axis}")
        self.params.update(outer=math.prod(shape[:axis]), axis_size=shape[axis], inner=math.prod(shape[axis + 1:]))
        return self._call()

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def _call(self) -> KernelCall:
        p = self.params
        return KernelCall.make("arg_min_max_s8", status=False, input=TensorRef(self.op.inputs[0]), outer=p["outer"],
                               axis_size=p["axis_size"], inner=p["inner"], is_max=self.IS_MAX,
                               output=out_ref(self.op.outputs[0], "int32_t"))

class ArgMin(ArgMax):
    OPS = ("ARG_MIN",)
    IS_MAX = 0
