"""Keras / SavedModel / float .tflite -> quantized .tflite (post-training quantization) and evaluation.

``quantize(model, mode, data=None, calibration="minmax", io=None, per_tensor_dense=False) -> QuantizeResult`` and
``evaluate(ref, candidate, data, labels=None) -> EvalReport`` (implemented in :mod:`edgeq.convert.ptq` and
:mod:`edgeq.convert.evaluation`; no submodule shares a name with these attributes, so ``edgeq.convert.evaluate`` is
always the function). TensorFlow is imported only inside the functions that convert.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CALIBRATIONS", "MODES", "QuantizeResult", "EvalReport", "quantize", "evaluate", "load_model"]

CALIBRATIONS = ("minmax", "percentile", "mse", "entropy")
MODES = ("int8", "int16x8", "dynamic", "float16", "float32")


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("quantize", "QuantizeResult"):
        return getattr(importlib.import_module("edgeq.convert.ptq"), name)
    if name in ("evaluate", "EvalReport"):
        return getattr(importlib.import_module("edgeq.convert.evaluation"), name)
    if name == "load_model":
        return importlib.import_module("edgeq.convert.load").load_model
    raise AttributeError(f"module 'edgeq.convert' has no attribute {name!r}")
