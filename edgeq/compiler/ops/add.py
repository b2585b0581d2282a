"""ADD (int8) -> edgeq_elementwise_add_s8 (arm_elementwise_add_s8), or edgeq_broadcast_add_s8 when shapes differ.
Parameters as TFLM's CalculateOpDataAdd (edgeq.quant.fixedpoint.add_params: left shift 20, QuantizeMultiplier-
SmallerThanOneExp for both inputs and the output), the fused activation clamp. In place: the output may take the
memory of an input of the same shape that dies here."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer
from edgeq.compiler.ops.elementwise import broadcast_strides, operand, ptr
from edgeq.quant import fixedpoint as fp


class Add(Layer):
    OPS = ("ADD",)
    SOURCES = ("edgeq_elementwise_s8.c",)

    def prepare(self) -> None:
        i1 = operand(self, 0, "input 1")
        i2 = operand(self, 1, "input 2")
        a, b = self.tensor(i1), self.tensor(i2)
        out = self.require_activation(self.output(), "output")
        act = self.op.options.get("fused_activation_function", "NONE")
        if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise self.unsupported(f"fused activation {act}")
        ap = fp.add_params(a.scale, b.scale, out.scale, left_shift=20)
        act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point)
        p = self.params
        p.update(add=ap, in1_offset=-a.zero_point, in2_offset=-b.zero_point, out_offset=out.zero_point,
                 act_min=act_min, act_max=act_max, size=out.num_elements,
                 broadcast=tuple(a.shape) != tuple(b.shape))
        if p["broadcast"]:
            p["s1"] = broadcast_strides(self, a.shape, out.shape)
            p["s2"] = broadcast_strides(self, b.shape, out.shape)
            p["out_dims"] = tuple(int(d) for d in ((1,) * (4 - len(out.shape)) + tuple(out.shape)))
        elif a.num_elements != out.num_elements:
            raise self.unsupported(f"inputs {list(a.shape)} and output {list(out.shape)} differ in size")

    def kernel_name(self) -> str:
        return "broadcast_add_s8" if self.params["broadcast"] else "elementwise_add_s8"

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        ap = p["add"]
        i1, i2 = self.op.inputs[0], self.op.inputs[1]
        q = (f"{p['in1_offset']}, {ap.input1_multiplier}, {ap.input1_shift}, {p['in2_offset']}, "
             f"{ap.input2_multiplier}, {ap.input2_shift}, {ap.left_shift}, {r.ptr(self.op.outputs[0])}, "
             f"{p['out_offset']}, {ap.output_multiplier}, {ap.output_shift}, {p['act_min']}, {p['act_max']}")
        if not p["broadcast"]:
            return [f"status = {r.fn('elementwise_add_s8')}({ptr(self, r, i1)}, {ptr(self, r, i2)}, {q}, "
                    f"{p['size']});"]
        s1, s2, od = p["s1"], p["s2"], p["out_dims"]
        return [
            f"const int32_t in1_strides[4] = {{{s1[0]}, {s1[1]}, {s1[2]}, {s1[3]}}};",
            f"const int32_t in2_strides[4] = {{{s2[0]}, {s2[1]}, {s2[2]}, {s2[3]}}};",
            f"const {r.ty('dims')} output_dims = {{{od[0]}, {od[1]}, {od[2]}, {od[3]}}};",
            f"status = {r.fn('broadcast_add_s8')}({ptr(self, r, i1)}, in1_strides, {ptr(self, r, i2)}, in2_strides, "
            f"&output_dims, {q});",
        ]
