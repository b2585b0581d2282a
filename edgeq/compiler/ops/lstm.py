"""UNIDIRECTIONAL_SEQUENCE_LSTM, integer (int8 input / hidden state / output, int8 weights per tensor, int32 biases,
int16 cell state) -> edgeq_lstm_s8: TFLM's EvalLstm<int8_t, int8_t, int16_t, int32_t> (lstm_eval.h).

Inputs (TFLM's kLstm* indices): 0 input, 1-4 input-to-{input, forget, cell, output} weights, 5-8 recurrent-to-...
weights, 12-15 the gate biases, 18 the hidden state (int8, variable), 19 the cell state (int16, variable). Peepholes
(9-11), projection (16-17) and layer norm (20-23) must be absent, and no gate may be missing (CIFG), as TFLM requires.
Both states keep their value from one invoke to the next (reset by ``edgeq_reset()``), as TFLM's variable tensors.

Parameters as TFLM's PrepareGateParametersInteger (lstm_eval_common.cc):
* each gate: two FULLY_CONNECTED multipliers to the Q3.12 gate scale 2^-12 (CalculateOpDataFullyConnected: the
  float32 product of input and weight scales over 2^-12): input x input weights (+ bias), hidden x recurrent weights;
  the two int16 results add with saturation; sigmoid (tanh or sigmoid for the cell gate: the op's activation);
* cell = sat(f * cell) + sat(i * g): CreateInterGateMulParams(2^-15, s_cell, s_cell) and (2^-15, 2^-15, s_cell);
  clipped to ``int16(cell_clip / s_cell)`` when cell_clip > 0;
* hidden = tanh(cell) * o: tanh's input scaling from ``round(log2(s_cell))`` (CreateLstmCellStateInfo), then
  CreateInterGateMulParams(2^-15, 2^-15, s_hidden) plus the hidden zero point, clamped to int8.
Per-channel weights are refused: TFLM's LSTM gate FCs take only the per-tensor multiplier.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import math

import numpy as np

from edgeq.compiler.cparams import CArray, ConstRef, CStruct, KernelCall, TensorRef, out_ref
from edgeq.compiler.ops.base import Layer
from edgeq.quant import fixedpoint as fp

GATE_SCALE = 2.0 ** -12  # Q3.12: the gates' FC output, the sigmoid / tanh input
ACT_SCALE = 2.0 ** -15  # Q0.15: the sigmoid / tanh output
#: gate -> (input weights, recurrent weights, bias) input indices; kernel order forget, input, cell, output
GATES = {"forget": (2, 6, 13), "input": (1, 5, 12), "cell": (3, 7, 14), "output": (4, 8, 15)}
HIDDEN, CELL = 18, 19


def _inter_gate_mul(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    """CreateInterGateMulParams: QuantizeMultiplier(double(s1) * double(s2) / double(s_out))."""
    f32 = np.float32
    return fp.quantize_multiplier(float(f32(s1)) * float(f32(s2)) / float(f32(s_out)))


def _checked_log2(x: float) -> int:
    """tflite::CheckedLog2's rounded result, in float32 as TFLM computes it (TFLM ignores whether x is a power of 2)."""
    f32 = np.float32
    return int(np.round(f32(math.log(f32(x))) * (f32(1.0) / f32(math.log(f32(2.0))))))


@dataclass(frozen=True)
class LstmGateData(CStruct):
    """edgeq_lstm_gate_data (edgeq_nn.h): one gate's weights, bias and FC multipliers to Q3.12."""

    C_TYPE: ClassVar[str] = "lstm_gate_data"
    input_weights: ConstRef
    recurrent_weights: ConstRef
    bias: ConstRef
    input_mult: int
    input_shift: int
    recurrent_mult: int
    recurrent_shift: int


@dataclass(frozen=True)
class LstmParams(CStruct):
    """edgeq_lstm_params (edgeq_nn.h)."""

    C_TYPE: ClassVar[str] = "lstm_params"
    batches: int
    time_steps: int
    input_size: int
    units: int
    time_major: int
    input_offset: int
    hidden_offset: int
    hidden_zero_point: int
    cell_tanh_mult: int
    cell_tanh_shift: int
    cell_clip: int
    forget_mult: int
    forget_shift: int
    input_mult: int
    input_shift: int
    output_mult: int
    output_shift: int


class UnidirectionalSequenceLstm(Layer):
    OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM",)
    SOURCES = ("edgeq_lstm_s8.c", "edgeq_activations_s16.c")  # the int16 sigmoid / tanh and their table

    def _in(self, k: int):
        return self.input(k)

    def prepare(self) -> KernelCall:
        if len(self.op.inputs) != 24:
            raise self.unsupported(f"{len(self.op.inputs)} inputs; TFLM's LSTM takes 24")
        x = self.require_activation(self._in(0), "input")
        out = self.require_activation(self.output(), "output")
        hidden = self.require_activation(self._in(HIDDEN), "hidden state")
        cell = self._in(CELL)
        if cell is None or cell.dtype != "int16" or cell.quant is None or not cell.quant.is_quantized:
            raise self.unsupported("the cell state must be an int16 quantized tensor (int8 LSTM with int16 cell "
                                   "state is what TFLM runs)")
        for t, what in ((hidden, "hidden state"), (cell, "cell state")):
            if not t.is_variable:
                raise self.unsupported(f"{what} '{t.name}' is not a variable tensor")
        for k, what in ((9, "peephole"), (10, "peephole"), (11, "peephole"), (16, "projection"), (17, "projection"),
                        (20, "layer norm"), (21, "layer norm"), (22, "layer norm"), (23, "layer norm")):
            if self._in(k) is not None:
                raise self.unsupported(f"{what} weights (input {k}): TFLM's LSTM does not run them")
        opts = self.op.options
        if opts.get("asymmetric_quantize_inputs"):
            raise self.unsupported("asymmetric_quantize_inputs (hybrid LSTM)")
        act = opts.get("fused_activation_function", "TANH")
        if act != "TANH":  # the schema cannot say SIGMOID; TFLM asserts on anything but tanh
            raise self.unsupported(f"cell gate activation {act}: TFLM's integer LSTM runs tanh only")
        if float(opts.get("proj_clip", 0.0)) != 0.0 and self._in(16) is not None:  # pragma: no cover - refused above
            raise self.unsupported("projection clip")
        time_major = bool(opts.get("time_major", False))
        self.require_rank(x, (3,), "input")
        d0, d1, input_size = (int(d) for d in x.shape)
        batches, steps = (d1, d0) if time_major else (d0, d1)
        units = int(hidden.shape[-1])
        if hidden.num_elements != batches * units or cell.num_elements != batches * units:
            raise self.unsupported(f"states {list(hidden.shape)} / {list(cell.shape)} do not match {batches} "
                                   f"batches of {units} units")
        if tuple(out.shape) != (d0, d1, units):
            raise self.unsupported(f"output {list(out.shape)} is not [{d0}, {d1}, {units}]")
        if np.float32(out.scale) != np.float32(hidden.scale) or out.zero_point != hidden.zero_point:
            raise self.unsupported("output and hidden state are quantized differently (TFLM copies one to the "
                                   "other)")
        gates = []
        for name, (wi_k, wr_k, b_k) in GATES.items():
            wi = self.require_const(self.require_int8(self._in(wi_k), f"input-to-{name} weights"), "weights")
            wr = self.require_const(self.require_int8(self._in(wr_k), f"recurrent-to-{name} weights"), "weights")
            b = self.require_const(self._in(b_k), f"{name} gate bias")
            if tuple(wi.shape) != (units, input_size) or tuple(wr.shape) != (units, units):
                raise self.unsupported(f"{name} gate weights {list(wi.shape)} / {list(wr.shape)} do not match "
                                       f"{units} units and input size {input_size}")
            if b.dtype != "int32" or tuple(b.shape) != (units,):
                raise self.unsupported(f"{name} gate bias is {b.dtype} {list(b.shape)}; expected int32 [{units}]")
            for w in (wi, wr):
                if len(w.quant.scale) != 1:
                    raise self.unsupported(f"per-channel {name} gate weights: TFLM's LSTM takes per-tensor weights")
                if any(z != 0 for z in w.quant.zero_point):
                    raise self.unsupported(f"{name} gate weights with a non-zero zero point")
            mi, si = fp.fully_connected_multipliers(x.scale, wi.quant.scales(), GATE_SCALE)
            mr, sr = fp.fully_connected_multipliers(hidden.scale, wr.quant.scales(), GATE_SCALE)
            gates.append({
                "input_weights": self.ctx.tensor_const(self.op.inputs[wi_k], "int8_t", f"{name}_input_weights"),
                "recurrent_weights": self.ctx.tensor_const(self.op.inputs[wr_k], "int8_t",
                                                           f"{name}_recurrent_weights"),
                "bias": self.ctx.tensor_const(self.op.inputs[b_k], "int32_t", f"{name}_bias"),
                "input_mult": int(mi[0]), "input_shift": int(si[0]),
                "recurrent_mult": int(mr[0]), "recurrent_shift": int(sr[0]),
            })
        cell_scale = float(np.float32(cell.scale))
        power = _checked_log2(cell_scale)
        left = (15 + power) - 3
        tanh_mult, tanh_shift = (3 << left, 0) if left >= 0 else (3, -left)
        clip = float(np.float32(opts.get("cell_clip", 0.0)))
        qclip = int(min(max(clip / cell_scale, -32768.0), 32767.0)) if clip > 0 else 0  # static_cast truncates
        fm, fs = _inter_gate_mul(ACT_SCALE, cell_scale, cell_scale)
        im, is_ = _inter_gate_mul(ACT_SCALE, ACT_SCALE, cell_scale)
        om, os_ = _inter_gate_mul(ACT_SCALE, ACT_SCALE, hidden.scale)
        self.params.update(
            batches=batches, time_steps=steps, input_size=input_size, units=units, time_major=int(time_major),
            input_offset=-x.zero_point, hidden_offset=-hidden.zero_point, hidden_zero_point=hidden.zero_point,
            cell_tanh_mult=tanh_mult, cell_tanh_shift=tanh_shift,
            cell_clip=qclip, forget_mult=fm, forget_shift=fs, input_mult=im, input_shift=is_, output_mult=om,
            output_shift=os_, gates=gates)
        return self._call()

    def writes(self) -> list[int]:
        return [*self.op.outputs, self.op.inputs[HIDDEN], self.op.inputs[CELL]]

    def _call(self) -> KernelCall:
        p = self.params
        fields = {f.name: p[f.name] for f in dataclasses.fields(LstmParams)}
        gates = tuple(LstmGateData(input_weights=ConstRef(g["input_weights"]),
                                   recurrent_weights=ConstRef(g["recurrent_weights"]),
                                   bias=ConstRef(g["bias"], "int32_t"), input_mult=g["input_mult"],
                                   input_shift=g["input_shift"], recurrent_mult=g["recurrent_mult"],
                                   recurrent_shift=g["recurrent_shift"]) for g in p["gates"])
        return KernelCall.make("lstm_s8", status=False, lstm_params=LstmParams(**fields),
                               gates=CArray(LstmGateData, gates),  # forget, input, cell, output
                               input=TensorRef(self.op.inputs[0]), hidden_state=out_ref(self.op.inputs[HIDDEN]),
                               cell_state=out_ref(self.op.inputs[CELL], "int16_t"), output=out_ref(self.op.outputs[0]))
