"""Shared by ADD and MUL: the layer itself (operands, activation clamp, in-place, the C call) and broadcasting
shapes and strides (TFLM's BroadcastBinaryOpSimple semantics, up to 4-D)."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, Renderer, dims4
from edgeq.quant import fixedpoint as fp


def broadcast_strides(layer: Layer, in_shape, out_shape) -> list[int]:
    """Element strides of an input over the 4 output dims (0 where the input is broadcast)."""
    if len(in_shape) > 4 or len(out_shape) > 4:
        raise layer.unsupported(f"broadcasting with more than 4 dimensions ({list(in_shape)} -> {list(out_shape)})")
    ind, outd = dims4(in_shape), dims4(out_shape)
    strides = [0, 0, 0, 0]
    step = 1
    for k in (3, 2, 1, 0):
        if ind[k] == outd[k]:
            strides[k] = step if ind[k] > 1 else 0
        elif ind[k] == 1:
            strides[k] = 0
        else:
            raise layer.unsupported(f"input shape {list(in_shape)} does not broadcast to {list(out_shape)}")
        step *= ind[k]
    return strides


def operand(layer: Layer, k: int, what: str) -> int:
    """Tensor index of input ``k`` (a constant operand becomes a RAM const array, registered here)."""
    t = layer.require_activation(layer.input(k), what)
    idx = layer.op.inputs[k]
    if t.is_constant:
        # read by plain pointer in the kernel, so never in AVR flash
        layer.params.setdefault("const_operands", {})[idx] = layer.ctx.tensor_const(idx, "int8_t", "operand",
                                                                                    flash=False)
    return idx


def ptr(layer: Layer, r, idx: int) -> str:
    consts = layer.params.get("const_operands", {})
    return consts[idx] if idx in consts else r.cptr(idx)


class BinaryElementwise(Layer):
    """ADD and MUL: two int8 operands (either may be a constant, either may broadcast), a fused activation clamp, and
    the output in place of an input of the same shape. Subclasses give ``KIND`` and their quantization parameters."""

    KIND = ""  # "add" | "mul": the kernels are edgeq_elementwise_<kind>_s8 and edgeq_broadcast_<kind>_s8
    SOURCES = ("edgeq_elementwise_s8.c",)

    def prepare(self) -> None:
        i1 = operand(self, 0, "input 1")
        i2 = operand(self, 1, "input 2")
        a, b = self.tensor(i1), self.tensor(i2)
        out = self.require_activation(self.output(), "output")
        act = self.op.options.get("fused_activation_function", "NONE")
        if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise self.unsupported(f"fused activation {act}")
        act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point)
        p = self.params
        p.update(in1_offset=-a.zero_point, in2_offset=-b.zero_point, out_offset=out.zero_point,
                 act_min=act_min, act_max=act_max, size=out.num_elements,
                 broadcast=tuple(a.shape) != tuple(b.shape))
        self.prepare_quantization(a.scale, b.scale, out.scale)
        if p["broadcast"]:
            p["s1"] = broadcast_strides(self, a.shape, out.shape)
            p["s2"] = broadcast_strides(self, b.shape, out.shape)
            p["out_dims"] = tuple(int(d) for d in ((1,) * (4 - len(out.shape)) + tuple(out.shape)))
        elif a.num_elements != out.num_elements:
            raise self.unsupported(f"inputs {list(a.shape)} and output {list(out.shape)} differ in size")

    def prepare_quantization(self, s1: float, s2: float, s_out: float) -> None:
        raise NotImplementedError

    def kernel_args(self, r: Renderer) -> str:
        """The kernel's arguments after the operands (the same for the elementwise and the broadcast kernel)."""
        raise NotImplementedError

    def kernel_name(self) -> str:
        return f"{'broadcast' if self.params['broadcast'] else 'elementwise'}_{self.KIND}_s8"

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]

    def c_call(self, r: Renderer) -> list[str]:
        p = self.params
        a, b = ptr(self, r, self.op.inputs[0]), ptr(self, r, self.op.inputs[1])
        fn, args = r.fn(self.kernel_name()), self.kernel_args(r)
        if not p["broadcast"]:
            return [f"status = {fn}({a}, {b}, {args}, {p['size']});"]
        s1, s2, od = p["s1"], p["s2"], p["out_dims"]
        return [
            f"const int32_t in1_strides[4] = {{{s1[0]}, {s1[1]}, {s1[2]}, {s1[3]}}};",
            f"const int32_t in2_strides[4] = {{{s2[0]}, {s2[1]}, {s2[2]}, {s2[3]}}};",
            f"const {r.ty('dims')} output_dims = {{{od[0]}, {od[1]}, {od[2]}, {od[3]}}};",
            f"status = {fn}({a}, in1_strides, {b}, in2_strides, &output_dims, {args});",
        ]
