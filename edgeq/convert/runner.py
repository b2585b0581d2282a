"""One small place that runs .tflite models on the host for :mod:`edgeq.convert` and :mod:`edgeq.qat`.

:func:`predict` is the one path every accuracy figure goes through (``edgeq qat``'s summary and ``--report``,
``edgeq evaluate`` with and without ``--no-layers``, the quantization benchmark), so one model on one data set gives
one number:

* an integer model (``int8``, also with float I/O) runs in the TFLM interpreter when ``tflite-micro`` is installed:
  bit-exact with what ``edgeq compile`` generates and what the board computes;
* anything else (float32, float16, dynamic-range), or int8 without ``tflite-micro``, runs in LiteRT's builtin
  kernels **without** the default XNNPACK delegate. XNNPACK's int8 kernels round differently (on a digits CNN 285 of
  1,797 outputs differ from TFLM, and one argmax), so they are never used for accuracy.

:func:`make_interpreter` creates the LiteRT interpreters (runtime from :mod:`edgeq.runtime.loader`: LiteRT, else
tflite-runtime, else tf.lite); with ``preserve_all`` intermediate tensors stay readable (per-layer SQNR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.errors import ModelError, ToolchainError


def _interpreter_class() -> tuple[Any, Any]:
    from edgeq.runtime.loader import get_runtime

    rt = get_runtime("auto")
    return rt.interpreter_cls, rt.op_resolver_type


def make_interpreter(model: bytes, *, preserve_all: bool = False, source: str = "<model>"):
    """An allocated LiteRT interpreter for ``model`` (bytes): builtin kernels, no default delegate (XNNPACK), one
    thread; ``preserve_all`` keeps intermediate tensors readable."""
    cls, resolver = _interpreter_class()
    kwargs: dict[str, Any] = {"model_content": bytes(model), "num_threads": 1}
    if resolver is not None and hasattr(resolver, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if preserve_all:
        kwargs["experimental_preserve_all_tensors"] = True
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


#: engine names in results: the TFLM interpreter, or LiteRT's builtin kernels without XNNPACK
ENGINES = ("tflm", "litert-builtin")


@dataclass
class Prediction:
    """Outputs of a model on N samples: ``outputs[k]`` is output k dequantized, shape (N, elements of output k)."""

    outputs: list[np.ndarray]
    engine: str

    @property
    def scores(self) -> np.ndarray:
        """Output 0, one row per sample."""
        return self.outputs[0]

    def classes(self, threshold: float = 0.5) -> np.ndarray:
        """Predicted class per sample: argmax of output 0 (first index on a tie, as in C), or ``score >
        threshold`` for a single-output model."""
        return predicted_classes(self.scores, threshold)


def predicted_classes(scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    scores = np.asarray(scores).reshape(len(scores), -1)
    if scores.shape[1] == 1:
        return (scores[:, 0] > threshold).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)


def _is_integer_model(tflite: bytes, source: str) -> bool:
    from edgeq.tflite import parse_model  # noqa: PLC0415
    from edgeq.tflite.check import model_kind  # noqa: PLC0415

    return model_kind(parse_model(tflite, source=source)).startswith("int8")


def _tflm_interpreter(tflite: bytes):
    """A TFLM interpreter, or None when tflite-micro is not installed or cannot run this model."""
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: PLC0415
    except Exception:  # not installed (or no wheel for this platform)
        return None
    try:
        return runtime.Interpreter.from_bytes(bytes(tflite), arena_size=max(1 << 20, 10 * len(tflite)))
    except Exception:  # an op TFLM lacks: LiteRT's builtin kernels still give a figure
        return None


def choose_engine(tflite: bytes, engine: str = "auto", *, source: str = "<model>") -> str:
    """The engine :func:`predict` uses for ``tflite`` (see the module doc); ``engine`` forces one."""
    if engine not in ("auto", *ENGINES):
        raise ToolchainError(f"unknown engine {engine!r}", hint="use auto, tflm or litert-builtin")
    if engine != "auto":
        return engine
    if _is_integer_model(tflite, source) and _tflm_interpreter(tflite) is not None:
        return "tflm"
    return "litert-builtin"


def predict(tflite: bytes, x: np.ndarray, *, engine: str = "auto", source: str = "<model>") -> Prediction:
    """Run a single-input .tflite on float samples ``x`` (N, ...), one at a time (batch 1), quantizing each sample
    with the input's scale/zero point; every output dequantized with its own.

    The recurrent state of the model (the variable tensors of a fused LSTM or SVDF, which TFLite keeps from one
    invoke to the next) is reset before every sample, as the Keras model starts every window from a zero state and
    as the device does (``edgeq_reset()``). Without the reset a window began from the previous one's state: an
    8-step LSTM's float .tflite agreed with its Keras model on 64 % of 400 windows."""
    tflite = bytes(tflite)
    engine = choose_engine(tflite, engine, source=source)
    x = np.asarray(x)
    if engine == "tflm":
        it = _tflm_interpreter(tflite)
        if it is None:
            raise ToolchainError("the TFLM interpreter is not available for this model", where=source,
                                 hint="pip install tflite-micro (Linux x86-64), or use engine='litert-builtin'")
        i = _tflm_detail(it.get_input_details(0))
        outs = [_tflm_detail(it.get_output_details(k)) for k in range(_num_outputs(tflite, source))]
        rows: list[list[np.ndarray]] = [[] for _ in outs]
        for s in x:
            it.reset()  # recurrent state (variable tensors) back to zero: every sample is a window of its own
            it.set_input(quantize_input(s[None], i).reshape(i["shape"]), 0)
            it.invoke()
            for k, o in enumerate(outs):
                rows[k].append(dequantize(np.asarray(it.get_output(k)), *o["quantization"]).ravel())
        return Prediction([np.stack(r) for r in rows], "tflm")
    it = make_interpreter(tflite, source=source)
    i, outs = it.get_input_details()[0], it.get_output_details()
    rows = [[] for _ in outs]
    for s in x:
        it.reset_all_variables()
        it.set_tensor(i["index"], quantize_input(s[None], i).reshape(i["shape"]))
        it.invoke()
        for k, o in enumerate(outs):
            rows[k].append(dequantize(it.get_tensor(o["index"]), *o["quantization"]).ravel())
    return Prediction([np.stack(r) for r in rows], "litert-builtin")


def _tflm_detail(d: dict) -> dict:
    """TFLM's tensor details in LiteRT's form (``quantization`` = (scale, zero point))."""
    q = d.get("quantization_parameters") or {}
    scales, zps = q.get("scales", ()), q.get("zero_points", ())
    return {"dtype": d["dtype"], "shape": d["shape"],
            "quantization": (float(scales[0]) if len(scales) else 0.0, int(zps[0]) if len(zps) else 0)}


def _num_outputs(tflite: bytes, source: str) -> int:
    from edgeq.tflite import parse_model  # noqa: PLC0415

    return len(parse_model(tflite, source=source).outputs)


def run_float(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """Dequantized output 0 (one row per sample) of a single-input .tflite on float samples: :func:`predict`."""
    return predict(tflite, x).scores
