"""MEAN and SUM (int8, constant axes, up to 4-D) -> edgeq_mean_s8; int16 -> edgeq_mean_s16 (TFLM runs the same
QuantizedMeanOrSum for both types, clamped to the output type; one body in edgeq_reduce.c).

TFLM (reduce_common.cc PrepareMeanOrSumHelper + reference_ops::QuantizedMeanOrSum) computes
QuantizeMultiplier(s_in / s_out) at Prepare and folds 1/num_elements_in_axis into it at Eval:
    shift_n = min(floor(log2(n)), 32, 31 + shift);  multiplier = (multiplier << shift_n) // n;  shift -= shift_n
then output = MultiplyByQuantizedMultiplier(sum - zp_in * n, multiplier, shift) + zp_out. Here both steps run once,
at compile time.
With a TRANSPOSE folded into it (``params["transpose_fold"]``, edgeq.compiler.ops.transpose.transpose_folds) the
kernel reduces the TRANSPOSE's input over the permuted axes.
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.compiler.cparams import Dims, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops._int16 import CTYPE, SUFFIX, act_dtype, activation
from edgeq.compiler.ops.base import Layer, dims4
from edgeq.quant import fixedpoint as fp


def reduced_axes(layer: Layer, x, out) -> tuple[list[int], int]:
    """The axes a reduction op (MEAN, SUM, REDUCE_MAX, REDUCE_MIN) reduces ``x`` over, from its constant int32 axis
    input (negative axes resolved, duplicates dropped as TFLM's ResolveAxis does), and the number of elements
    reduced into each output element; refuses ranks above 4 and an output that does not hold the kept elements."""
    axis_t = layer.require_const(layer.input(1), "axis")
    if axis_t.dtype != "int32":
        raise layer.unsupported(f"axis tensor is {axis_t.dtype}")
    rank = len(x.shape)
    if rank > 4 or rank == 0:
        raise layer.unsupported(f"input rank {rank} (1..4 supported)")
    resolved: list[int] = []
    for a in axis_t.array().reshape(-1).tolist():
        a = a + rank if a < 0 else a
        if not 0 <= a < rank:
            raise layer.unsupported(f"axis {a} out of range for rank {rank}")
        if a not in resolved:
            resolved.append(a)
    n_axis = math.prod(int(x.shape[a]) for a in resolved)
    kept = [int(x.shape[k]) for k in range(rank) if k not in resolved]
    if math.prod(kept) != out.num_elements:
        raise layer.unsupported(f"output {list(out.shape)} does not match {layer.opcode} of {list(x.shape)} over "
                                f"{resolved}")
    return resolved, n_axis


def reduce_flags(rank: int, axes: list[int]) -> tuple[int, int, int, int]:
    """(n, h, w, c) flags of the reduced axes of a rank-``rank`` tensor seen as 4-D (leading 1s)."""
    flags = [0, 0, 0, 0]
    for a in axes:
        flags[a + 4 - rank] = 1
    return tuple(flags)


class Mean(Layer):
    OPS = ("MEAN",)
    SOURCES = ("edgeq_reduce.c",)
    #: SUM: the same arithmetic without the 1/num_elements_in_axis factor (QuantizedMeanOrSum, compute_sum = true)
    COMPUTE_SUM = False

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        x = activation(self, self.input(0), "input", dt)
        out = activation(self, self.output(), "output", dt)
        resolved, n_axis = reduced_axes(self, x, out)
        rank = len(x.shape)
        fold = self.params.get("transpose_fold")
        if fold is not None:  # reduce the TRANSPOSE's input (same scale and zero point) over the permuted axes
            x = self.tensor(fold.source)
            resolved = [fold.perm[a] for a in resolved]
        mult, shift = fp.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(out.scale)))
        if n_axis > 0 and not self.COMPUTE_SUM:
            shift_n = min(n_axis.bit_length() - 1, 32, 31 + shift)
            mult = int((mult << shift_n) // n_axis)  # int64 arithmetic, both positive
            shift = shift - shift_n
        self.params.update(input_dims=dims4(x.shape), reduce=reduce_flags(rank, resolved), zp_in=x.zero_point,
                           zp_out=out.zero_point, n=n_axis, mult=mult, shift=shift)
        return self._call()

    @property
    def data_input(self) -> int:
        """The tensor the kernel reads: input 0, or the input of a TRANSPOSE folded into this layer."""
        fold = self.params.get("transpose_fold")
        return fold.source if fold is not None else self.op.inputs[0]

    def reads(self) -> list[int]:
        return [self.data_input]

    def _call(self) -> KernelCall:
        p = self.params
        ct = CTYPE[act_dtype(self)]
        return KernelCall.make(f"mean_{SUFFIX[act_dtype(self)]}", status=True, input=TensorRef(self.data_input, ct),
                               input_dims=Dims(*p["input_dims"]), reduce=Dims(*p["reduce"]),
                               input_zero_point=p["zp_in"], num_elements_in_axis=p["n"], mult=p["mult"],
                               shift=p["shift"], output_zero_point=p["zp_out"], output=out_ref(self.op.outputs[0], ct))


class Sum(Mean):
    """SUM (int8 / int16): TFLM's EvalSumHelper runs QuantizedMeanOrSum with compute_sum = true, i.e. MEAN's kernel
    with the plain QuantizeMultiplier(s_in / s_out): output = MultiplyByQuantizedMultiplier(sum - zp_in * n,
    multiplier, shift) + zp_out, clamped to the output type."""

    OPS = ("SUM",)
    COMPUTE_SUM = True
