"""One small place that creates host interpreters for :mod:`edgeq.convert` (calibration and evaluation).

Uses :mod:`edgeq.runtime.loader` (LiteRT, else tflite-runtime, else tf.lite) to pick the runtime, then creates the
interpreter with ``experimental_preserve_all_tensors`` (intermediate tensors stay readable) and without the default
XNNPACK delegate (which would hide them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.errors import ModelError, ToolchainError


def _interpreter_class() -> tuple[Any, Any]:
    try:
        from edgeq.runtime.loader import get_runtime  # noqa: PLC0415

        rt = get_runtime("auto")
        return rt.interpreter_cls, rt.op_resolver_type
    except ModuleNotFoundError:
        pass
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

        return Interpreter, OpResolverType
    except ModuleNotFoundError:
        raise ToolchainError("no TFLite interpreter installed", hint='pip install "edgeq[pi]"') from None


def make_interpreter(model: bytes, *, preserve_all: bool = False, source: str = "<model>"):
    """An allocated interpreter for ``model`` (bytes)."""
    cls, resolver = _interpreter_class()
    kwargs: dict[str, Any] = {"model_content": bytes(model), "num_threads": 1}
    if preserve_all:
        kwargs["experimental_preserve_all_tensors"] = True
        if resolver is not None and hasattr(resolver, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        from edgeq.convert._tf import quiet  # noqa: PLC0415

        with quiet() as log:
            interp = cls(**kwargs)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        from edgeq.convert._tf import first_line  # noqa: PLC0415

        detail = first_line(str(exc)) or first_line("".join(log))
        raise ModelError(f"the interpreter cannot load the model: {detail}", where=source) from None
    return interp


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float samples -> the input tensor's dtype (affine quantization for an int8/uint8/int16 input)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zp = detail.get("quantization", (0.0, 0))
    if not scale:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    from edgeq.quant.affine import round_half_away_from_zero  # noqa: PLC0415

    q = round_half_away_from_zero((x / np.float32(scale)).astype(np.float32)) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if values.dtype.kind == "f" or not scale:
        return values.astype(np.float32)
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def run_float(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """Dequantized outputs (one row per sample) of a single-input .tflite on float samples, one sample at a time
    (batch 1), quantizing each for an integer input."""
    it = make_interpreter(tflite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for s in x:
        it.set_tensor(i["index"], quantize_input(s[None], i).reshape(i["shape"]))
        it.invoke()
        out.append(dequantize(it.get_tensor(o["index"]), *o["quantization"]).ravel())
    return np.stack(out)
