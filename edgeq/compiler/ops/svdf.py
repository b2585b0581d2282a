"""SVDF (int8 input, int8 feature and time weights, int32 bias, int8 state, int8 output) -> edgeq_svdf_s8.

The state (input 4) is a variable tensor: ``[batches, num_filters * memory_size]``, one row of ``memory_size``
activations per filter, oldest first. It keeps its value from one invoke to the next (the compiler plans it alive
for the whole program; ``edgeq_reset()`` sets it back to its zero point, as TFLM's ResetVariableTensors).

Per invoke, exactly as TFLM's EvalIntegerSvdfReference<int8_t> (svdf_common.cc):
1. the whole state shifts left by one element;
2. feature matmul: for each filter, ``clamp(MultiplyByQuantizedMultiplier(sum(w_f * (x - zp_in)), scale_1),
   -128, 127) + zp_state`` becomes the filter's newest state entry (the clamp comes before the zero point is added,
   and the sum is then stored as int8, as in TFLM);
3. time matmul: each filter's ``sum(w_t * (state - zp_state))``, summed over the ``rank`` filters of a unit, plus
   the bias, rescaled with scale_2, plus zp_out, clamped to int8.

TFLM's integer SVDF ignores the fused activation (it clamps to the int8 range only), and so does this kernel.
Parameters as TFLM's PrepareSvdf: ``scale_1 = double(float(s_in * s_wf) / s_state)`` and ``scale_2 =
double(float(s_state * s_wt) / s_out)`` (the products in float32, as TFLM computes them), each through
QuantizeMultiplier. With int16 time weights and an int16 state (TFLM's EvalInt16SvdfReference) the same steps run
on int16 (the feature result clamped to the int16 range) -> edgeq_svdf_s8_s16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeq.compiler.cparams import ConstRef, CStruct, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp


@dataclass(frozen=True)
class SvdfParams(CStruct):
    """edgeq_svdf_params (edgeq_nn.h)."""

    C_TYPE: ClassVar[str] = "svdf_params"
    batches: int
    input_size: int
    num_filters: int
    rank: int
    memory_size: int
    input_zero_point: int
    state_zero_point: int
    output_zero_point: int
    mult_1: int  # input * feature weights -> state
    shift_1: int
    mult_2: int  # state * time weights -> output
    shift_2: int


class Svdf(Layer):
    OPS = ("SVDF",)
    SOURCES = ("edgeq_svdf_s8.c",)

    def prepare(self) -> KernelCall:
        x = self.require_activation(self.input(0), "input")
        wf = self.require_const(self.require_int8(self.input(1), "feature weights"), "feature weights")
        wt = self.require_const(self.input(2), "time weights")
        state = self.input(4)
        bias = self.input(3)
        if wt.dtype == "int16" and state is not None and state.dtype == "int16":
            for t, what in ((wt, "time weights"), (state, "state")):
                if t.quant is None or not t.quant.is_quantized or t.quant.per_channel:
                    raise self.unsupported(f"{what} '{t.name}' needs per-tensor quantization parameters")
        else:
            wt = self.require_int8(wt, "time weights")
            state = self.require_activation(state, "state")
        out = self.require_activation(self.output(), "output")
        if not state.is_variable:
            raise self.unsupported(f"state '{state.name}' is not a variable tensor")
        for t, what in ((x, "input"), (wf, "feature weights"), (wt, "time weights"), (state, "state"),
                        (out, "output")):
            self.require_rank(t, (2,), what)
        rank = int(self.op.options.get("rank", 0))
        batches, input_size = (int(d) for d in x.shape)
        num_filters, memory_size = (int(d) for d in wt.shape)
        if rank <= 0 or num_filters % rank:
            raise self.unsupported(f"rank {rank} does not divide the {num_filters} filters")
        units = num_filters // rank
        if tuple(wf.shape) != (num_filters, input_size):
            raise self.unsupported(f"feature weights {list(wf.shape)} do not match input {list(x.shape)} and "
                                   f"{num_filters} filters")
        if tuple(state.shape) != (batches, num_filters * memory_size):
            raise self.unsupported(f"state {list(state.shape)} is not [{batches}, {num_filters * memory_size}]")
        if tuple(out.shape) != (batches, units):
            raise self.unsupported(f"output {list(out.shape)} is not [{batches}, {units}]")
        if len(wf.quant.scale) != 1 or len(wt.quant.scale) != 1:
            raise self.unsupported("per-channel SVDF weights (TFLM quantizes SVDF weights per tensor)")
        if bias is None:  # TFLM's PrepareSvdf reads the bias scale unconditionally (TFLM issue #1751)
            raise self.unsupported("SVDF without a bias: TFLM cannot run it either",
                                   hint="give the layer a (zero) bias")
        else:
            self.require_const(bias, "bias")
            if bias.dtype != "int32" or tuple(bias.shape) != (units,):
                raise self.unsupported(f"bias is {bias.dtype} {list(bias.shape)}; expected int32 [{units}]")
        f32 = np.float32
        scale_1 = float(f32(f32(x.scale) * f32(wf.scale)) / f32(state.scale))
        scale_2 = float(f32(f32(state.scale) * f32(wt.scale)) / f32(out.scale))
        m1, s1 = fp.quantize_multiplier(scale_1)
        m2, s2 = fp.quantize_multiplier(scale_2)
        p = self.params
        p.update(batches=batches, input_size=input_size, num_filters=num_filters, rank=rank, memory_size=memory_size,
                 units=units, input_zp=x.zero_point, state_zp=state.zero_point, output_zp=out.zero_point,
                 mult1=m1, shift1=s1, mult2=m2, shift2=s2, state16=state.dtype == "int16")
        p["weights_feature"] = self.ctx.tensor_const(self.op.inputs[1], "int8_t", "weights")
        p["weights_time"] = self.ctx.tensor_const(self.op.inputs[2], "int16_t" if p["state16"] else "int8_t",
                                                  "weights")
        p["bias"] = self.ctx.tensor_const(self.op.inputs[3], "int32_t", "bias")
        return self._call()

    @property
    def state_index(self) -> int:
        return self.op.inputs[4]

    def writes(self) -> list[int]:
        return [*self.op.outputs, self.state_index]

    def _call(self) -> KernelCall:
        p = self.params
        state_type = "int16_t" if p["state16"] else "int8_t"
        return KernelCall.make(
            "svdf_s8_s16" if p["state16"] else "svdf_s8", status=False,
            svdf_params=SvdfParams(batches=p["batches"], input_size=p["input_size"], num_filters=p["num_filters"],
                                   rank=p["rank"], memory_size=p["memory_size"], input_zero_point=p["input_zp"],
                                   state_zero_point=p["state_zp"], output_zero_point=p["output_zp"],
                                   mult_1=p["mult1"], shift_1=p["shift1"], mult_2=p["mult2"], shift_2=p["shift2"]),
            input=TensorRef(self.op.inputs[0]), weights_feature=ConstRef(p["weights_feature"]),
            weights_time=ConstRef(p["weights_time"], state_type), bias=ConstRef(p["bias"], "int32_t"),
            state=out_ref(self.state_index, state_type), output=out_ref(self.op.outputs[0]))
