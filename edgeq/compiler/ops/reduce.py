"""REDUCE_MAX and REDUCE_MIN (int8, constant axes, up to 4-D) -> edgeq_reduce_min_max_s8.

TFLM (reduce_common.cc EvalMinMaxHelper -> reference_ops::ReduceGeneric) takes the raw int8 max / min over the
axes, starting from -128 / 127, and requires the input and output to share scale and zero point (its Eval fails
otherwise): edgeq refuses such a model at compile time. The axes are resolved as MEAN's
(:func:`edgeq.compiler.ops.mean.reduced_axes`).
"""

from __future__ import annotations

from edgeq.compiler.cparams import Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer, dims4
from edgeq.compiler.ops.mean import reduce_flags, reduced_axes


class ReduceMax(Layer):
    OPS = ("REDUCE_MAX",)
    SOURCES = ("edgeq_reduce.c",)
    IS_MAX = 1

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(0), "input")
        out = self.require_activation(self.output(), "output")
        axes, _ = reduced_axes(self, x, out)
        if x.zero_point != out.zero_point or float(x.scale) != float(out.scale):
            raise self.unsupported("input and output quantization differ (TFLM's int8 "
                                   f"{self.opcode} requires the same scale and zero point)")
        self.params.update(input_dims=dims4(x.shape), reduce=reduce_flags(len(x.shape), axes))
        return self._call()

    def _call(self) -> KernelCall:
        p = self.params
        return KernelCall.make("reduce_min_max_s8", status=True, input=TensorRef(self.op.inputs[0], "int8_t"),
                               input_dims=Dims(*p["input_dims"]), reduce=Dims(*p["reduce"]), is_max=self.IS_MAX,
                               output=out_ref(self.op.outputs[0], "int8_t"))


class ReduceMin(ReduceMax):
    OPS = ("REDUCE_MIN",)
    IS_MAX = 0
