"""RESHAPE (and SQUEEZE / EXPAND_DIMS): same bytes, new shape. No code: the output is an alias of the input's
memory in the static plan."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer


class Reshape(Layer):
    OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
    is_alias = True

    def prepare(self) -> None:
        x = self.input(0)
        out = self.output()
        if x is None:
            raise self.unsupported("input is missing")
        if x.is_constant:
            raise self.unsupported(f"{self.opcode} of a constant tensor (the converter should have folded it)")
        if x.nbytes != out.nbytes or x.dtype != out.dtype:
            raise self.unsupported(f"input {list(x.shape)} {x.dtype} and output {list(out.shape)} {out.dtype} "
                                   f"differ in size or type")
        if (x.quant and x.quant.is_quantized) and (out.quant and out.quant.is_quantized):
            if (x.zero_point != out.zero_point) or abs(x.scale - out.scale) > 1e-6 * max(abs(x.scale), 1e-30):
                raise self.unsupported(f"{self.opcode} that changes the quantization")

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def describe(self, note: str = "") -> str:
        return super().describe("alias of its input, no code")
