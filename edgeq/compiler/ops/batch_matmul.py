"""BATCH_MATMUL (int8, either operand may be a constant) -> edgeq_batch_matmul_s8. TFLM's batch_matmul.cc: the
output multiplier ``double(s_lhs) * double(s_rhs) / double(s_out)``, zero points as offsets, no fused activation;
adj_x / adj_y become strides, up to 3 broadcast batch dimensions. (The multiplier: the tflite_micro interpreter's
outputs follow the double product, not the float32 product of GetQuantizedConvolutionMultipler in tflite-micro's
source, on scales where the two round differently - int8 and int16, tests/test_compiler_elementwise_ops.py and
tests/test_compiler_int16_ops.py.)

int16 (int16x8 models) -> edgeq_batch_matmul_s16: TFLM's BatchMatMul<int16_t, int64_t> - zero points 0 (TFLM's
Prepare checks them), int64 sums and the int64 MultiplyByQuantizedMultiplier (16-bit multiplier, one rounding
shift), clamped to int16, with the same multiplier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeq.compiler.cparams import CStruct, KernelCall, out_ref
from edgeq.compiler.ops._int16 import CTYPE, SUFFIX, act_dtype, activation, require_zero_point_0
from edgeq.compiler.ops.base import Layer
from edgeq.compiler.ops.conv import S64_ACC_LIMIT, check_s64_shifts
from edgeq.compiler.ops.elementwise import operand, operand_ref
from edgeq.quant import fixedpoint as fp


@dataclass(frozen=True)
class BmmParams(CStruct):
    """edgeq_bmm_params (edgeq_nn.h)."""

    C_TYPE: ClassVar[str] = "bmm_params"
    batch: tuple[int, int, int]
    lhs_batch_strides: tuple[int, int, int]
    rhs_batch_strides: tuple[int, int, int]
    rows: int
    cols: int
    depth: int
    lhs_row_stride: int
    lhs_depth_stride: int
    rhs_depth_stride: int
    rhs_col_stride: int
    lhs_offset: int
    rhs_offset: int
    output_offset: int
    mult: int
    shift: int


def _batch_strides(batch: list[int], out_batch: list[int], matrix: int) -> list[int]:
    strides, step = [0, 0, 0], matrix
    for k in (2, 1, 0):
        strides[k] = step if batch[k] == out_batch[k] and batch[k] > 1 else 0
        step *= batch[k]
    return strides


class BatchMatMul(Layer):
    OPS = ("BATCH_MATMUL",)
    SOURCES = ("edgeq_fully_connected_s8.c",)

    @property
    def sources(self) -> tuple[str, ...]:
        return ("edgeq_fully_connected_s16.c",) if act_dtype(self) == "int16" else self.SOURCES

    def prepare(self) -> KernelCall:
        dt = act_dtype(self)
        a = self.tensor(operand(self, 0, "lhs", dt))
        b = self.tensor(operand(self, 1, "rhs", dt))
        out = activation(self, self.output(), "output", dt)
        if dt == "int16":
            for t, what in ((a, "lhs"), (b, "rhs"), (out, "output")):
                require_zero_point_0(self, t, what)
        if a.quant.per_channel or b.quant.per_channel:
            raise self.unsupported("per-channel quantized operands")
        ra, rb = len(a.shape), len(b.shape)
        if not (2 <= ra <= 5 and 2 <= rb <= 5):
            raise self.unsupported(f"operand ranks {ra} and {rb} (2..5 supported)")
        adj_x, adj_y = bool(self.op.options.get("adj_x")), bool(self.op.options.get("adj_y"))
        m, ka = (a.shape[-1], a.shape[-2]) if adj_x else (a.shape[-2], a.shape[-1])
        kb, n = (b.shape[-1], b.shape[-2]) if adj_y else (b.shape[-2], b.shape[-1])
        if ka != kb:
            raise self.unsupported(f"inner dimensions differ: {list(a.shape)} x {list(b.shape)}")
        ba = [1] * (3 - (ra - 2)) + [int(d) for d in a.shape[:-2]]
        bb = [1] * (3 - (rb - 2)) + [int(d) for d in b.shape[:-2]]
        if any(x != y and 1 not in (x, y) for x, y in zip(ba, bb)):
            raise self.unsupported(f"batch dimensions {a.shape[:-2]} and {b.shape[:-2]} do not broadcast")
        batch = [max(x, y) for x, y in zip(ba, bb)]
        if int(np.prod(batch)) * m * n != out.num_elements or list(out.shape[-2:]) != [m, n]:
            raise self.unsupported(f"output {list(out.shape)} is not {list(a.shape)} x {list(b.shape)}")
        f = np.float32  # the scale product in double, as the tflite_micro interpreter computes it (module doc)
        real = float(f(a.scale)) * float(f(b.scale)) / float(f(out.scale))
        mult, shift = fp.quantize_multiplier(real)
        if dt == "int16":
            check_s64_shifts(self, [shift])
            if ka * (1 << 30) >= S64_ACC_LIMIT:  # |lhs * rhs| <= 2^30 per term
                raise self.unsupported(f"inner dimension {ka} can take the int64 sum past 2^47 (TFLM's int64 "
                                       f"requantization); at most {(S64_ACC_LIMIT >> 30) - 1}")
        self.params["bmm"] = BmmParams(
            batch=tuple(batch), lhs_batch_strides=tuple(_batch_strides(ba, batch, m * ka)),
            rhs_batch_strides=tuple(_batch_strides(bb, batch, kb * n)), rows=m, cols=n, depth=ka,
            lhs_row_stride=1 if adj_x else ka, lhs_depth_stride=m if adj_x else 1,
            rhs_depth_stride=1 if adj_y else n, rhs_col_stride=kb if adj_y else 1,
            lhs_offset=-a.zero_point, rhs_offset=-b.zero_point, output_offset=out.zero_point, mult=mult, shift=shift)
        return self._call()

    def _call(self) -> KernelCall:
        dt = act_dtype(self)
        return KernelCall.make(f"batch_matmul_{SUFFIX[dt]}", status=False,
                               lhs=operand_ref(self, self.op.inputs[0]), rhs=operand_ref(self, self.op.inputs[1]),
                               bmm_params=self.params["bmm"], output=out_ref(self.op.outputs[0], CTYPE[dt]))
