"""Shared by ADD and MUL: broadcasting shapes and strides (TFLM's BroadcastBinaryOpSimple semantics, up to 4-D)."""

from __future__ import annotations

from edgeq.compiler.ops.base import Layer, dims4


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
