"""int16 activations (int16x8 models: int16 activations, int8 weights, as ``edgeq quantize --mode int16x8`` and the TF
converter's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 make them): which element type a layer runs
on, its C type and its kernels' suffix (``_s8`` / ``_s16``), and the check of an int8-or-int16 activation tensor.

A layer that has both kernels picks them by its output's type (:func:`act_dtype`); every activation operand must
then have that type, as TFLM's kernels require (TF_LITE_ENSURE_TYPES_EQ)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from edgeq.compiler.ops.base import Layer
    from edgeq.tflite.graph import Tensor

CTYPE = {"int8": "int8_t", "int16": "int16_t"}
SUFFIX = {"int8": "s8", "int16": "s16"}
#: bytes per element: the ``elem_size`` argument of the data-movement kernels, which serve any element type
ELEM_SIZE = {"int8": 1, "int16": 2}
QRANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


def act_dtype(layer: "Layer", k: int = 0) -> str:
    """The element type layer runs on: "int16" when output ``k`` is int16, else "int8" (any other type is refused by
    :func:`activation` with the int8 message)."""
    return "int16" if layer.output(k).dtype == "int16" else "int8"


def activation(layer: "Layer", t: "Tensor | None", what: str, dtype: str, per_tensor: bool = True) -> "Tensor":
    """``t`` checked as a quantized activation (or constant operand) of type ``dtype`` ("int8" or "int16")."""
    if dtype == "int8":
        return layer.require_activation(t, what) if per_tensor else layer.require_int8(t, what)
    if t is None:
        raise layer.unsupported(f"{what} is missing")
    if t.dtype != "int16":
        raise layer.unsupported(f"{what} '{t.name}' is {t.dtype} where the output is int16 (TFLM needs the same "
                                f"type)")
    if t.quant is None or not t.quant.is_quantized:
        raise layer.unsupported(f"{what} '{t.name}' has no quantization parameters")
    if per_tensor and t.quant.per_channel:
        raise layer.unsupported(f"{what} '{t.name}' is quantized per channel; activations must be per tensor")
    return t


def require_zero_point_0(layer: "Layer", t: "Tensor", what: str) -> None:
    """TFLM's int16 kernels take symmetric tensors only (TF_LITE_ENSURE_EQ(zero_point, 0))."""
    if t.zero_point != 0:
        raise layer.unsupported(f"int16 {what} '{t.name}' has zero point {t.zero_point}; TFLM's int16 kernel needs 0")
