"""Keras / SavedModel / float .tflite -> quantized .tflite (post-training quantization) and evaluation.

``quantize(model, mode, data=None, calibration="minmax", io=None, per_tensor_dense=False) -> QuantizeResult`` and
``evaluate(ref, candidate, data, labels=None) -> EvalReport``. TensorFlow is imported only inside the functions that
convert.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CALIBRATIONS", "MODES", "QuantizeResult", "EvalReport", "quantize", "evaluate", "load_model"]

CALIBRATIONS = ("minmax", "percentile", "mse", "entropy")
MODES = ("int8", "dynamic", "float16", "float32")


def __getattr__(name: str) -> Any:
    if name in ("quantize", "QuantizeResult"):
        from edgeq.convert import ptq

        return getattr(ptq, name)
    if name in ("evaluate", "EvalReport"):
        from edgeq.convert import evaluate as ev

        return getattr(ev, name)
    if name == "load_model":
        from edgeq.convert.load import load_model

        return load_model
    raise AttributeError(f"module 'edgeq.convert' has no attribute {name!r}")
