"""Shared by ADD and MUL: the layer itself (operands, activation clamp, in-place, the C call) and broadcasting
shapes and strides (TFLM's BroadcastBinaryOpSimple semantics, up to 4-D)."""

from __future__ import annotations

from edgeq.compiler.cparams import CArray, ConstRef, Dims, KernelCall, TensorRef
from edgeq.compiler.ops._int16 import CTYPE, QRANGE, SUFFIX, act_dtype, activation, require_zero_point_0
from edgeq.compiler.ops.base import Layer, dims4
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


def operand(layer: Layer, k: int, what: str, dtype: str = "int8") -> int:
    """Tensor index of input ``k``, an activation of type ``dtype`` ("int8" or "int16"; a constant operand becomes a
    RAM const array, registered here)."""
    t = activation(layer, layer.input(k), what, dtype)
    idx = layer.op.inputs[k]
    if t.is_constant:
        # read by plain pointer in the kernel, so never in AVR flash
        layer.params.setdefault("const_operands", {})[idx] = layer.ctx.tensor_const(idx, CTYPE[dtype], "operand",
                                                                                    flash=False)
    return idx


def operand_ref(layer: Layer, idx: int, offset: int = 0) -> "TensorRef | ConstRef":
    """Input ``idx`` as a kernel argument (``offset`` elements in): its arena buffer, or the constant array
    :func:`operand` registered."""
    consts = layer.params.get("const_operands", {})
    ct = CTYPE.get(layer.tensor(idx).dtype, "int8_t")
    return ConstRef(consts[idx], ct, offset) if idx in consts else TensorRef(idx, ct, offset=offset)


class BinaryElementwise(Layer):
    """ADD, SUB and MUL: two int8 or two int16 operands (either may be a constant, either may broadcast), a fused
    activation clamp, and the output in place of an input of the same shape. Subclasses give ``KIND`` and their
    quantization parameters."""

    KIND = ""  # "add" | "sub" | "mul": the kernels are edgeq_elementwise_<kind>_s8/_s16, edgeq_broadcast_<kind>_...
    SOURCES = ("edgeq_elementwise.c",)
    #: TFLM's int16 kernel of this op takes zero points 0 only (MUL)
    INT16_ZERO_POINT_0 = False

    @property
    def dtype(self) -> str:
        return act_dtype(self)

    def prepare(self) -> KernelCall:
        dt = self.dtype
        i1 = operand(self, 0, "input 1", dt)
        i2 = operand(self, 1, "input 2", dt)
        a, b = self.tensor(i1), self.tensor(i2)
        out = activation(self, self.output(), "output", dt)
        if dt == "int16" and self.INT16_ZERO_POINT_0:
            for t, what in ((a, "input 1"), (b, "input 2"), (out, "output")):
                require_zero_point_0(self, t, what)
        act = self.op.options.get("fused_activation_function", "NONE")
        if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            raise self.unsupported(f"fused activation {act}")
        act_min, act_max = fp.calculate_activation_range_quantized(act, out.scale, out.zero_point, *QRANGE[dt])
        p = self.params
        p.update(in1_offset=-a.zero_point, in2_offset=-b.zero_point, out_offset=out.zero_point,
                 act_min=act_min, act_max=act_max, size=out.num_elements,
                 broadcast=tuple(a.shape) != tuple(b.shape))
        self.prepare_quantization(a.scale, b.scale, out.scale)
        args = self.kernel_args()
        if p["broadcast"]:
            return KernelCall.make(
                f"broadcast_{self.KIND}_{SUFFIX[dt]}", status=True,
                input_1=operand_ref(self, i1), in1_strides=CArray("int32_t", tuple(broadcast_strides(self, a.shape,
                                                                                                     out.shape))),
                input_2=operand_ref(self, i2), in2_strides=CArray("int32_t", tuple(broadcast_strides(self, b.shape,
                                                                                                     out.shape))),
                output_dims=Dims.of(out.shape), **args)
        if a.num_elements != out.num_elements:
            raise self.unsupported(f"inputs {list(a.shape)} and output {list(out.shape)} differ in size")
        return KernelCall.make(f"elementwise_{self.KIND}_{SUFFIX[dt]}", status=True, input_1_vect=operand_ref(self, i1),
                               input_2_vect=operand_ref(self, i2), **args, block_size=out.num_elements)

    def prepare_quantization(self, s1: float, s2: float, s_out: float) -> None:
        raise NotImplementedError

    def kernel_args(self) -> dict:
        """The kernel's arguments after the operands, in order (the same for the elementwise and the broadcast
        kernel)."""
        raise NotImplementedError

    def inplace_candidates(self) -> list[int]:
        out = self.output()
        return [t for t in self.op.inputs if not self.tensor(t).is_constant
                and tuple(self.tensor(t).shape) == tuple(out.shape)]
